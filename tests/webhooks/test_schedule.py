"""The retry schedule and the signature, as values: the default schedule spans about a
day, only 2xx counts as delivered, the last failure gives up; the signature is the one
the Standard Webhooks specification's own example gives."""

from __future__ import annotations

import base64

from services.webhooks.app import policy_of
from services.webhooks.schedule import Result, after_attempt
from services.webhooks.settings import WebhooksSettings
from shared.webhook_signing import signature


def test_the_default_schedule_retries_for_about_a_day() -> None:
    policy = policy_of(WebhooksSettings())

    assert 20 * 3600 <= policy.total_seconds() <= 26 * 3600
    delays = [after_attempt(n, 500, "", policy).delay for n in range(1, policy.max_attempts)]
    assert 18 <= delays[0] <= 20
    assert delays == sorted(delays)  # jitter takes at most 10 % off a doubled delay


def test_only_a_2xx_answer_delivers_and_the_last_failure_gives_up() -> None:
    policy = policy_of(WebhooksSettings(webhook_max_attempts=3))

    assert after_attempt(1, 204, "", policy).result is Result.DELIVERED
    assert after_attempt(1, 302, "", policy).result is Result.RETRY
    assert after_attempt(2, None, "timed out", policy).result is Result.RETRY
    last = after_attempt(3, None, "timed out", policy)
    assert last.result is Result.GIVEN_UP
    assert last.reason == "3 attempts failed, the last: timed out"


def test_a_failing_endpoint_gets_one_attempt_per_delivery_until_one_succeeds() -> None:
    policy = policy_of(WebhooksSettings())

    assert after_attempt(1, 500, "", policy, failing=True).result is Result.GIVEN_UP
    assert after_attempt(1, 200, "", policy, failing=True).result is Result.DELIVERED


def test_the_signature_matches_the_specification_s_example() -> None:
    # From the Standard Webhooks specification (github.com/standard-webhooks).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    key = base64.b64decode(secret.removeprefix("whsec_"))
    assert signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
