"""Run the Kafka protocol listener on its own (no web console), as one broker node."""

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from brokercore.errors import BrokerError


def kafka_arguments(parser, *, prefix: str = "") -> None:
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


async def listener_start(options: dict, *, web_host: str = "", web_port: int | None = None):
    """Start a listener on the running loop and register this process as its broker node."""
    from brokercore.kafka.server import KafkaListener
    from brokercore.services.nodes import node_register

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


async def listener_stop(listener) -> None:
    """A clean stop: deregister the node first, so its partitions get other leaders at once."""
    from brokercore.services.nodes import node_deregister

    try:
        await asyncio.get_running_loop().run_in_executor(None, lambda: _in_thread(node_deregister, listener.node.node_id))
    finally:
        await listener.stop()


def _in_thread(fn, *args, **kwargs):
    from django.db import connection

    try:
        return fn(*args, **kwargs)
    finally:
        connection.close()  # a short-lived executor thread: do not leave its connection open


class Command(BaseCommand):
    help = "Run the Kafka protocol listener alone (the web console's `serve` also runs one)."

    def add_arguments(self, parser):
        kafka_arguments(parser)
        parser.add_argument("--no-maintenance", action="store_true",
                            help="Do not run the node heartbeat, group sweeper and log cleaner in this process.")

    def handle(self, *args, **options):
        from brokercore.kafka.server import ListenerConfigError

        try:
            asyncio.run(self._run(options))
        except (BrokerError, ListenerConfigError) as e:  # another live process holds this node id, a bad certificate
            raise CommandError(str(e)) from None
        except OSError as e:
            raise CommandError(f"Cannot listen on {options['kafka_host']}:{options['kafka_port']}: {e}") from None

    async def _run(self, options) -> None:
        from brokercore import events
        from brokercore.maintenance import MaintenanceThread

        loop = asyncio.get_running_loop()
        events.server_loop_set(loop)
        listener = await listener_start(options)
        maintenance = None if options["no_maintenance"] else MaintenanceThread()
        if maintenance:
            maintenance.start()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        self.stdout.write(
            f"Kafka listener is up: bootstrap.servers={listener.bootstrap} {listener.client_settings}  "
            f"(node {listener.node_id}; Ctrl-C to stop)"
        )
        try:
            await stopping.wait()
        finally:
            await listener_stop(listener)
            if maintenance:
                maintenance.stop()
            events.server_loop_set(None)
