"""kcat (Debian's, librdkafka) -L, -P and -C against the listener."""

import subprocess

import pytest

from brokercore.log.read import records_fetch
from brokercore.topics.service import topic_create

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args, stdin=None):
    return subprocess.run(args, input=stdin, capture_output=True, timeout=30, check=True).stdout.decode()


def test_kcat_list_produce_consume(kcat, kafka_bootstrap):
    topic_create(name="kc", partitions=2)
    listing = run(kcat, "-b", kafka_bootstrap, "-L", "-t", "kc")
    assert "topic \"kc\" with 2 partitions" in listing and "leader 1" in listing
    run(kcat, "-b", kafka_bootstrap, "-P", "-t", "kc", "-p", "1", "-K", ":", stdin=b"k1:hello\nk2:world\n")
    assert [(r.key, r.value) for r in records_fetch(topic="kc", partition=1, offset=0).records] == [
        (b"k1", b"hello"), (b"k2", b"world")
    ]
    out = run(kcat, "-b", kafka_bootstrap, "-C", "-t", "kc", "-p", "1", "-o", "beginning", "-e", "-f", "%k=%s@%o\n")
    assert out.splitlines() == ["k1=hello@0", "k2=world@1"]
