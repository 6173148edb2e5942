"""The webhooks process at the edges of its life: a wrong allowed network ends it with
one line naming the setting, and SIGTERM stops it cleanly (exit 0)."""

from __future__ import annotations

from tests.test_service_startup import run_to_exit
from tests.webhooks.conftest import StartService


async def test_a_wrong_allowed_network_exits_with_one_line_naming_it() -> None:
    code, lines = await run_to_exit(
        "webhooks", {"STOREFLEET_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8, intranet"}
    )

    assert code == 2
    assert lines == [
        "webhooks: invalid setting STOREFLEET_WEBHOOK_ALLOWED_NETWORKS: Value error,"
        " 'intranet' is not a CIDR such as 10.0.0.0/8"
    ]


async def test_sigterm_stops_the_service_cleanly(start_webhooks: StartService) -> None:
    service = await start_webhooks()

    service.stop()

    assert service.proc is not None and service.proc.returncode == 0
