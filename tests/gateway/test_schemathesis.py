"""Schemathesis against the OpenAPI document: generated requests to every operation
(bounded examples, fixed seed) find no 5xx, and every answer matches the document:
status, content type, headers and body schema. `/stream` never ends, so it is left to
tests/gateway/test_stream.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from nats.aio.msg import Msg
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.gateway.openapi import DOCUMENT_PATH, OPERATIONS
from shared.subjects import CREDENTIALS_SUBJECT
from tests.gateway.conftest import Harness

EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SKIPPED = {"/stream"}


def run_schemathesis(base_url: str, headers: dict[str, str]) -> list[str]:
    """Exercise every operation; the labels of those exercised."""
    schema = schemathesis.openapi.from_path(DOCUMENT_PATH)
    exercised = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIPPED:
            continue

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=10)

        check()
        exercised.append(operation.label)
    return exercised


async def test_generated_requests_find_no_5xx_and_no_answer_off_the_document(
    gateway: Harness,
) -> None:
    user = await gateway.add_user(max_stores=10_000)

    # A provisioner stand-in, so the credentials route has someone to ask.
    async def answer(msg: Msg) -> None:
        login = {"username": "admin", "password": "pw", "url": "https://shop.example"}
        await msg.respond(json.dumps(login).encode())

    sub = await gateway.nc.subscribe(CREDENTIALS_SUBJECT, cb=answer)
    try:
        exercised = await asyncio.to_thread(run_schemathesis, f"{gateway.url}/api/v1", user.auth)
    finally:
        await sub.unsubscribe()

    assert len(exercised) == len([op for op in OPERATIONS if op.path not in SKIPPED])
