"""What the gateway serves besides the API: health, readiness and metrics (the last two on
its health port), the SPA's files when they are built, and JSON error bodies for unknown
paths and methods."""

from __future__ import annotations

from pathlib import Path

from tests.gateway.conftest import MakeGateway


async def test_health_readiness_and_metrics_answer(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway()
    http = gateway.client()
    async with http.get("/healthz") as resp:
        assert resp.status == 200
    http = gateway.ops_client()
    async with http.get("/readyz") as resp:
        assert resp.status == 200, await resp.text()
    async with http.get("/metrics") as resp:
        assert "storefleet_gateway_request_seconds" in await resp.text()


async def test_the_built_spa_is_served_at_the_root_with_its_routes(
    make_gateway: MakeGateway, tmp_path: Path
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<html>storefleet</html>")
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    gateway = await make_gateway(web_dist=tmp_path)
    http = gateway.client()
    for path, text in [
        ("/", "storefleet"),
        ("/stores/abc", "storefleet"),
        ("/assets/app.js", "console.log(1)"),
        ("/../../etc/passwd", "storefleet"),
    ]:
        async with http.get(path) as resp:
            assert resp.status == 200
            assert text in await resp.text()


async def test_unknown_api_paths_and_methods_get_json_errors(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway()
    user = await gateway.add_user()
    async with gateway.client(user).get("/api/v1/nope") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    async with gateway.client(user).put("/api/v1/stores") as resp:
        assert resp.status == 405
        assert (await resp.json())["error"]["code"] == "method_not_allowed"
