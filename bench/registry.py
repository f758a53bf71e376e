"""The known benchmarks, in the order `python -m bench` runs them.

Add a module here (consumer groups, REST, Kafka protocol, ...) and it gets its own section in
docs/BENCHMARKS.md.
"""

import importlib

BENCHMARKS = {
    "log": "bench.log",
    "groups": "bench.groups",
    "console": "bench.console",
    "rest": "bench.rest",
    "kafka": "bench.kafka",
    "browser": "bench.browser",
    "groupcommit": "bench.groupcommit",
    "peer": "bench.peer",
    "pipeline": "bench.pipeline",
    "wide": "bench.wide",
}


def load(name: str):
    return importlib.import_module(BENCHMARKS[name])
