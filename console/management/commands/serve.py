"""Start the console and broker: the ASGI app under daphne, the Kafka listener in the same event
loop, and the background maintenance (node heartbeat, group sweeper, log cleaner, and the console's
own job: expiring idle REST consumer instances).

The composition root: the one module that wires brokercore and console together, so brokercore
never imports the console."""

import logging  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import daphne.server  # noqa: E402, I001  (installs Twisted's asyncio reactor; must come first)
from django.conf import settings  # noqa: E402
from django.core.management.base import BaseCommand, CommandParser  # noqa: E402

from brokercore.kafka.node import kafka_arguments, listener_start, listener_stop  # noqa: E402

logger = logging.getLogger("brokercore.serve")


def console_jobs() -> list[tuple[str, float, Callable[[], object]]]:
    """The console's periodic jobs, run by the broker's maintenance thread beside its own."""
    from console.api.rest_consumers import instances_expire

    return [("REST consumer expiry", settings.BROKER["GROUP_SWEEP_INTERVAL_S"], instances_expire)]


class Command(BaseCommand):
    help = "Run the web console and broker (daphne and the Kafka listener) with the background group sweeper and log cleaner."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-maintenance", action="store_true",
            help="Do not run the group sweeper, lag sampler and log cleaner in this process.",
        )
        kafka_arguments(parser, prefix="kafka-")
        parser.add_argument("--no-kafka", action="store_true", help="Do not run the Kafka protocol listener.")

    def handle(
        self, *args: str, host: str, port: int, no_maintenance: bool, no_kafka: bool, **options: Any
    ) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from twisted.internet import defer, reactor

        from brokercore.maintenance import MaintenanceThread
        from console.asgi import application
        from console.http_server import LimitedHTTPFactory

        # Server.run builds its factory from this name, with no other way in: bodies are then
        # limited before daphne reads them (console/http_server.py).
        daphne.server.HTTPFactory = LimitedHTTPFactory

        maintenance = None
        if not no_maintenance:
            maintenance = MaintenanceThread(extra_jobs=console_jobs())
            maintenance.start()
        kafka = {}

        async def kafka_start() -> None:
            try:
                kafka["listener"] = await listener_start(options, web_host=host, web_port=port)
            except Exception as e:
                # Like a web port that cannot be bound: the server does not run half a broker.
                logger.critical("Kafka listener could not start on %s:%s: %s", options["kafka_host"], options["kafka_port"], e)
                reactor.stop()
                return
            listener = kafka["listener"]
            self.stdout.write(f"Kafka listener is up: bootstrap.servers={listener.bootstrap} {listener.client_settings}")

        def kafka_stop() -> defer.Deferred | None:
            import asyncio

            if "listener" in kafka:
                return defer.Deferred.fromFuture(asyncio.ensure_future(listener_stop(kafka.pop("listener"))))
            return None

        def ready() -> None:
            import asyncio

            from brokercore import events

            events.server_loop_set(asyncio.get_event_loop())
            if not no_kafka:
                asyncio.ensure_future(kafka_start())
                reactor.addSystemEventTrigger("before", "shutdown", kafka_stop)
            self.stdout.write(f"kconsole is up: http://{host}:{port}/  (Ctrl-C to stop)")

        try:
            Server(
                application=application,
                endpoints=build_endpoint_description_strings(host=host, port=port),
                ready_callable=ready,
                verbosity=options.get("verbosity", 1),
            ).run()
        finally:
            if maintenance:
                maintenance.stop()
            # Lab consumers leave their groups instead of waiting out their sessions.
            from console.lab import runner

            runner.shutdown()
