"""`python -m services.gateway` runs the server; `python -m services.gateway users ...`
and `... openapi` are the operators' commands (see `services.gateway.cli`)."""

import sys

from services.gateway.settings import GatewaySettings
from shared.db import DatabaseUnavailable, SchemaBehind
from shared.service import EXIT_STARTUP, run_service, settings_or_exit

settings = settings_or_exit("gateway", GatewaySettings)
if len(sys.argv) > 1:
    from services.gateway.cli import run

    try:
        raise SystemExit(run(settings, sys.argv[1:]))
    except (DatabaseUnavailable, SchemaBehind) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_STARTUP) from None
else:
    from services.gateway.app import main

    run_service("gateway", settings, lambda runtime: main(settings, runtime))
