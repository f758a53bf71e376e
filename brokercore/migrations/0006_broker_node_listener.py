# Broker nodes gain the Kafka listener's advertised address, the identity of the process holding
# the node id, and a "down" mark; the old host/port (the web server's) become web_host/web_port.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('brokercore', '0005_cluster'),
    ]

    operations = [
        migrations.RenameField(model_name='brokernode', old_name='host', new_name='web_host'),
        migrations.RenameField(model_name='brokernode', old_name='port', new_name='web_port'),
        migrations.AlterField(
            model_name='brokernode',
            name='web_host',
            field=models.CharField(blank=True, default='', max_length=255),
        ),
        migrations.AlterField(
            model_name='brokernode',
            name='web_port',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='brokernode',
            name='kafka_host',
            field=models.CharField(blank=True, default='', max_length=255),
        ),
        migrations.AddField(
            model_name='brokernode',
            name='kafka_port',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='brokernode',
            name='process',
            field=models.CharField(blank=True, default='', max_length=255),
        ),
        migrations.AddField(
            model_name='brokernode',
            name='down_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='brokernode',
            name='down_reason',
            field=models.CharField(blank=True, choices=[('stopped', 'stopped cleanly'), ('expired', 'no heartbeat within the session timeout')], default='', max_length=8),
        ),
    ]
