"""Run the Kafka protocol listener on its own (no web console), as one broker node."""

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brokercore.errors import BrokerError
from brokercore.kafka.node import kafka_arguments, listener_start, listener_stop


class Command(BaseCommand):
    help = "Run the Kafka protocol listener alone (the web console's `serve` also runs one)."

    def add_arguments(self, parser: CommandParser) -> None:
        kafka_arguments(parser)
        parser.add_argument("--no-maintenance", action="store_true",
                            help="Do not run the node heartbeat, group sweeper and log cleaner in this process.")

    def handle(self, *args: str, **options: Any) -> None:
        from brokercore.kafka.server import ListenerConfigError

        try:
            asyncio.run(self._run(options))
        except (BrokerError, ListenerConfigError) as e:  # another live process holds this node id, a bad certificate
            raise CommandError(str(e)) from None
        except OSError as e:
            raise CommandError(f"Cannot listen on {options['kafka_host']}:{options['kafka_port']}: {e}") from None

    async def _run(self, options: dict[str, Any]) -> None:
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
