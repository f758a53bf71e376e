"""A Kafka listener as one broker node: its command-line options, a start that registers the node
and a stop that deregisters it. The `kafka` command and console's `serve` both run one."""

import argparse
import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from django.conf import settings

if TYPE_CHECKING:  # imported lazily in listener_start; here for the annotations only
    from brokercore.kafka.server import KafkaListener

P = ParamSpec("P")
T = TypeVar("T")


def kafka_arguments(parser: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """The listener's options; `serve` takes the same ones as --kafka-host, --kafka-port, ..."""
    b = settings.BROKER
    parser.add_argument(f"--{prefix}host", dest="kafka_host", default=b["KAFKA_HOST"],
                        help="Interface the Kafka listener binds (BROKER_KAFKA_HOST; 0.0.0.0 for all).")
    parser.add_argument(f"--{prefix}port", dest="kafka_port", type=int, default=b["KAFKA_PORT"],
                        help="Kafka listener port (BROKER_KAFKA_PORT, default 9092).")
    parser.add_argument(f"--{prefix}advertised-host", dest="kafka_advertised_host", default=b["KAFKA_ADVERTISED_HOST"] or None,
                        help="Host clients are told to connect to (Kafka's advertised.listeners).")
    parser.add_argument(f"--{prefix}advertised-port", dest="kafka_advertised_port", type=int,
                        default=b["KAFKA_ADVERTISED_PORT"] or None, help="Port clients are told to connect to.")


async def listener_start(
    options: dict[str, Any], *, web_host: str = "", web_port: int | None = None
) -> "KafkaListener":
    """Start a listener on the running loop and register this process as its broker node."""
    from brokercore.cluster.nodes import node_register
    from brokercore.kafka.server import KafkaListener

    listener = KafkaListener(
        host=options["kafka_host"],
        port=options["kafka_port"],
        advertised_host=options["kafka_advertised_host"],
        advertised_port=options["kafka_advertised_port"],
    )
    await listener.start()
    node = listener.node
    try:
        await asyncio.get_running_loop().run_in_executor(None, lambda: _in_thread(
            node_register, kafka_host=node.host, kafka_port=node.port, web_host=web_host, web_port=web_port,
            rack=node.rack or "", node_id=node.node_id,
        ))
    except BaseException:
        await listener.stop()
        raise
    return listener


async def listener_stop(listener: "KafkaListener") -> None:
    """A clean stop: deregister the node first, so its partitions get other leaders at once."""
    from brokercore.cluster.nodes import node_deregister

    try:
        await asyncio.get_running_loop().run_in_executor(None, lambda: _in_thread(node_deregister, listener.node.node_id))
    finally:
        await listener.stop()


def _in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    from django.db import connection

    try:
        return fn(*args, **kwargs)
    finally:
        connection.close()  # a short-lived executor thread: do not leave its connection open
