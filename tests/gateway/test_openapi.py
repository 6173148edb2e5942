"""The OpenAPI document is the truth about the API: the file in the repo is what the
code builds, the app serves that file, and the app's routes and the document's
operations are the same set."""

from __future__ import annotations

import json

from services.gateway.openapi import DOCUMENT_PATH, build_document, render
from tests.gateway.conftest import Harness

PREFIX = "/api/v1"


async def test_the_served_document_is_the_file_in_the_repo(gateway: Harness) -> None:
    async with gateway.client().get(f"{PREFIX}/openapi.json") as resp:
        assert resp.status == 200
        served = await resp.json()

    assert served == json.loads(DOCUMENT_PATH.read_text())


def test_the_file_in_the_repo_is_what_the_code_builds() -> None:
    # Regenerate with: python -m services.gateway openapi > services/gateway/openapi.json
    assert DOCUMENT_PATH.read_text() == render(build_document())


async def test_every_api_route_is_documented_and_every_documented_route_exists(
    gateway: Harness,
) -> None:
    document = json.loads(DOCUMENT_PATH.read_text())
    documented = {
        (method.upper(), f"{PREFIX}{path}")
        for path, operations in document["paths"].items()
        for method in operations
    }

    assert gateway.api_routes == documented
