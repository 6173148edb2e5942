"""`GET /catalog`: the engines and plans the settings offer, in their order, and the
defaults, for anyone signed in; 401 without a credential."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.gateway.settings import REPO, GatewaySettings, engine_versions
from shared.plans import Plan
from shared.settings import SettingsError
from tests.gateway.conftest import RELAXED, Harness, MakeGateway

API = "/api/v1"
CHARTS = REPO / "charts" / "engines"
SHOPWARE = """default: "6.7.1"
versions:
  "6.6.10": {values: {}, upgrades_from: []}
  "6.7.1": {values: {images: {shopware: "shopware:6.7.1"}}, upgrades_from: ["6.6.10"]}
"""


def charts_with_shopware(tmp_path: Path) -> Path:
    charts = tmp_path / "engines"
    for chart in ("woocommerce", "medusa"):
        (charts / chart).mkdir(parents=True)
        shutil.copy(CHARTS / chart / "versions.yaml", charts / chart)
    (charts / "shopware").mkdir()
    (charts / "shopware" / "versions.yaml").write_text(SHOPWARE)
    return charts


async def test_the_catalog_lists_the_configured_engines_plans_and_defaults(
    make_gateway: MakeGateway, tmp_path: Path
) -> None:
    charts = charts_with_shopware(tmp_path)
    shipped = {chart: engine_versions(GatewaySettings(charts_dir=charts))[chart]
               for chart in ("woocommerce", "medusa")}  # fmt: skip
    gateway = await make_gateway(
        **RELAXED,
        charts_dir=str(charts),
        engines=["woocommerce", "medusa", "shopware"],
        default_engine="medusa",
        plans={
            "tiny": Plan(description="for trying things"),
            "big": Plan(description=""),
        },
        default_plan="big",
    )
    user = await gateway.add_user()

    async with gateway.client(user).get(f"{API}/catalog") as resp:
        assert resp.status == 200
        body = await resp.json()

    assert body == {
        "engines": [
            {
                "key": "woocommerce",
                "label": "WooCommerce",
                "versions": list(shipped["woocommerce"].versions),
                "default_version": shipped["woocommerce"].default,
            },
            {
                "key": "medusa",
                "label": "Medusa",
                "versions": list(shipped["medusa"].versions),
                "default_version": shipped["medusa"].default,
            },
            {
                "key": "shopware",
                "label": "shopware",
                "versions": ["6.6.10", "6.7.1"],
                "default_version": "6.7.1",
            },
        ],
        "plans": [
            {
                "key": "tiny",
                "label": "tiny: for trying things",
                "description": "for trying things",
            },
            {"key": "big", "label": "big", "description": ""},
        ],
        "default_engine": "medusa",
        "default_plan": "big",
    }


async def test_the_default_catalog_offers_what_the_settings_default_to(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()

    async with gateway.client(user).get(f"{API}/catalog") as resp:
        assert resp.status == 200
        body = await resp.json()

    settings = gateway.settings
    assert [e["key"] for e in body["engines"]] == settings.engines
    medusa = next(e for e in body["engines"] if e["key"] == "medusa")
    assert (medusa["versions"], medusa["default_version"]) == (["0.1.0", "0.0.9"], "0.1.0")
    assert [p["key"] for p in body["plans"]] == list(settings.plans)
    assert [p["description"] for p in body["plans"]] == [
        plan.description for plan in settings.plans.values()
    ]
    assert (body["default_engine"], body["default_plan"]) == (
        settings.default_engine,
        settings.default_plan,
    )


async def test_the_catalog_needs_a_credential(gateway: Harness) -> None:
    async with gateway.client().get(f"{API}/catalog") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthenticated"


def test_an_engine_without_a_versions_file_stops_the_gateway(tmp_path: Path) -> None:
    settings = GatewaySettings(
        charts_dir=charts_with_shopware(tmp_path), engines=["magento"], default_engine="magento"
    )
    with pytest.raises(SettingsError, match="magento"):
        engine_versions(settings)
