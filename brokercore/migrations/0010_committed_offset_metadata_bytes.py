"""Committed offsets keep their metadata as UTF-8 bytes instead of text: Kafka accepts any
string, and PostgreSQL's text columns refuse NUL (a commit carrying one closed the client's
connection). Every stored string is kept. Reversible: going back decodes the bytes to text,
dropping only NULs, which text cannot hold.
"""

from django.db import migrations, models

_CHUNK = 2000


def _copy(apps, source: str, target: str, convert) -> None:
    CommittedOffset = apps.get_model("brokercore", "CommittedOffset")
    last = 0
    while True:
        rows = list(CommittedOffset.objects.filter(pk__gt=last).order_by("pk").only("pk", source)[:_CHUNK])
        if not rows:
            return
        for row in rows:
            setattr(row, target, convert(getattr(row, source)))
        CommittedOffset.objects.bulk_update(rows, [target])
        last = rows[-1].pk


def forward(apps, schema_editor) -> None:
    _copy(apps, "metadata", "metadata_bytes", lambda text: (text or "").encode())


def backward(apps, schema_editor) -> None:
    _copy(apps, "metadata_bytes", "metadata", lambda data: bytes(data or b"").decode().replace("\x00", ""))


class Migration(migrations.Migration):
    dependencies = [
        ("brokercore", "0009_record_batches"),
    ]

    operations = [
        # A bytes column beside the text one, filled from it, then put in its place. Going back,
        # the text column comes back empty and is filled from the bytes before they go.
        migrations.AddField(
            model_name="committedoffset", name="metadata_bytes", field=models.BinaryField(blank=True, default=b""),
        ),
        migrations.RunPython(forward, backward),
        migrations.RemoveField(model_name="committedoffset", name="metadata"),
        migrations.RenameField(model_name="committedoffset", old_name="metadata_bytes", new_name="metadata"),
    ]
