"""The catalog route: `GET /catalog`, what a signed-in user may pick when creating a
store, straight from the settings: the engines (`STOREFLEET_ENGINES`) with the versions
each offers (their charts' versions.yaml), the plans
(`STOREFLEET_PLANS`, in the catalog's order) and the defaults the create form preselects."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from services.gateway.context import SETTINGS_KEY, VERSIONS_KEY
from services.gateway.errors import json_reply
from services.gateway.settings import GatewaySettings
from services.gateway.views import API, Catalog
from shared.engine_versions import EngineVersions

routes = web.RouteTableDef()

# How the engines the gateway knows read in a picker; any other engine shows its key.
ENGINE_LABELS = {"woocommerce": "WooCommerce", "medusa": "Medusa"}


def catalog_view(settings: GatewaySettings, versions: Mapping[str, EngineVersions]) -> Catalog:
    return {
        "engines": [
            {
                "key": key,
                "label": ENGINE_LABELS.get(key, key),
                "versions": list(versions[key].versions),
                "default_version": versions[key].default,
            }
            for key in settings.engines
        ],
        "plans": [
            {
                "key": key,
                "label": f"{key}: {plan.description}" if plan.description else key,
                "description": plan.description,
            }
            for key, plan in settings.plans.items()
        ],
        "default_engine": settings.default_engine,
        "default_plan": settings.default_plan,
    }


@routes.get(f"{API}/catalog")
async def catalog(request: web.Request) -> web.Response:
    return json_reply(catalog_view(request.app[SETTINGS_KEY], request.app[VERSIONS_KEY]))
