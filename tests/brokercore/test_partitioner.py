import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as reference_murmur2

from brokercore.partitioner import RoundRobin, murmur2, murmur2_c, murmur2_python, partition_for_key, to_positive

IMPLEMENTATIONS = [murmur2_python, murmur2_c]


@pytest.mark.parametrize(
    "key, expected",
    [
        # The vectors of Kafka's own UtilsTest.testMurmur2.
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_murmur2_matches_kafka_vectors(impl, key, expected):
    assert impl(key) == expected


@given(st.binary(max_size=300))
def test_murmur2_matches_kafka_python_reference(data):
    # kafka-python returns the same 32 bits unsigned.
    assert murmur2_python(data) & 0xFFFFFFFF == reference_murmur2(data)
    assert murmur2_c(data) == murmur2_python(data)
    assert murmur2_c(bytearray(data)) == murmur2_python(data)


def test_the_append_path_uses_the_compiled_hash():
    # requirements.txt installs murmurhash2; without it the append path would silently be slower.
    assert murmur2 is murmur2_c


@given(st.binary(min_size=0, max_size=64), st.integers(min_value=1, max_value=10_000))
def test_partition_is_to_positive_hash_mod_count(key, n):
    p = partition_for_key(key, n)
    assert 0 <= p < n
    assert p == (murmur2(key) & 0x7FFFFFFF) % n


def test_to_positive_is_not_abs():
    # Java's Integer.MIN_VALUE: abs() would overflow, toPositive clears the sign bit.
    assert to_positive(-(2**31)) == 0
    assert to_positive(-1) == 2**31 - 1


def test_round_robin_spreads_evenly_per_topic():
    rr = RoundRobin()
    picks = [rr.next("t", 3) for _ in range(9)]
    assert picks == [0, 1, 2] * 3
    assert rr.next("other", 3) == 0
