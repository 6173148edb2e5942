"""`python -m services.auditor` runs the auditor; `python -m services.auditor rebuild
[--in-place]` replays the stream into empty audit tables and exits."""

import argparse

from services.auditor.app import main, rebuild_main
from services.auditor.rebuild import RebuildRefused
from services.auditor.settings import AuditorSettings
from shared.service import EXIT_STARTUP, run_service, settings_or_exit

parser = argparse.ArgumentParser(prog="python -m services.auditor")
commands = parser.add_subparsers(dest="command")
replay = commands.add_parser("rebuild", help="replay the stream into empty audit tables")
replay.add_argument(
    "--in-place",
    action="store_true",
    help="empty store_events and refold the existing stores rows (as the migration owner:"
    " the auditor's own role may not empty the audit log)",
)
args = parser.parse_args()

settings = settings_or_exit("auditor", AuditorSettings)
if args.command == "rebuild":
    try:
        run_service(
            "auditor-rebuild",
            settings,
            lambda runtime: rebuild_main(settings, runtime, args.in_place),
            serve_health=False,
        )
    except RebuildRefused as exc:
        print(f"auditor rebuild: {exc}")
        raise SystemExit(EXIT_STARTUP) from None
else:
    run_service("auditor", settings, lambda runtime: main(settings, runtime))
