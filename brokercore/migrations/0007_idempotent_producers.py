# Idempotent Kafka producers: producer ids and per-partition producer state.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("brokercore", "0006_broker_node_listener"),
    ]

    operations = [
        migrations.CreateModel(
            name="KafkaProducer",
            fields=[
                ("producer_id", models.BigAutoField(primary_key=True, serialize=False)),
                ("client_id", models.CharField(blank=True, default="", max_length=255)),
                ("client_host", models.CharField(blank=True, default="", max_length=255)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.CreateModel(
            name="ProducerState",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("producer_id", models.BigIntegerField()),
                ("producer_epoch", models.SmallIntegerField()),
                ("batches", models.JSONField(default=list)),
                ("updated_ms", models.BigIntegerField(db_index=True)),
                (
                    "partition",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="brokercore.partition"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("partition", "producer_id"), name="producerstate_partition_producer_unique"
                    )
                ],
            },
        ),
    ]
