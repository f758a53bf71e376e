# Kafka-protocol consumer groups: KIP-394 pending member ids and members awaiting SyncGroup.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("brokercore", "0007_idempotent_producers"),
    ]

    operations = [
        migrations.AddField(
            model_name="consumergroup",
            name="pending_members",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="groupmember",
            name="awaiting_sync",
            field=models.BooleanField(default=False),
        ),
    ]
