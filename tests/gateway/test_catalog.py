"""`GET /catalog`: the engines and plans the settings offer, in their order, and the
defaults, for anyone signed in; 401 without a credential."""

from __future__ import annotations

from shared.plans import Plan
from tests.gateway.conftest import RELAXED, Harness, MakeGateway

API = "/api/v1"


async def test_the_catalog_lists_the_configured_engines_plans_and_defaults(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway(
        **RELAXED,
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
            {"key": "woocommerce", "label": "WooCommerce"},
            {"key": "medusa", "label": "Medusa"},
            {"key": "shopware", "label": "shopware"},
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
