"""Start the console and broker: the ASGI app under daphne plus the background log cleaner."""

import logging  # noqa: E402

import daphne.server  # noqa: F401  (installs Twisted's asyncio reactor; must come first)
from django.core.management.base import BaseCommand  # noqa: E402

logger = logging.getLogger("brokercore.serve")


class Command(BaseCommand):
    help = "Run the web console and broker (daphne) with the background group sweeper and log cleaner."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-maintenance", action="store_true",
            help="Do not run the group sweeper, lag sampler and log cleaner in this process.",
        )

    def handle(self, *args, host, port, no_maintenance, **options):
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from brokercore.maintenance import MaintenanceThread
        from console.asgi import application

        maintenance = None
        if not no_maintenance:
            maintenance = MaintenanceThread(host=host, port=port)
            maintenance.start()

        def ready():
            import asyncio

            from brokercore import events

            events.server_loop_set(asyncio.get_event_loop())
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
