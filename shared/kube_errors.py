"""The project's own Kubernetes errors, and which one an API server's answer means.

`KubeError` subclasses say whether a retry can help (`temporary`). `from_response` picks
the kind for an error answer by its HTTP status and reads the message and reason from its
`Status` body; `from_transport` covers a request that got no answer at all.

Pure: no I/O imports. `shared.kube` raises these from the API client; the provisioner and
the reaper handle them, and `shared.service` counts `KubeError` as a start-up failure.
"""

from __future__ import annotations

import json


class KubeError(Exception):
    """An API call failed. `temporary` says whether retrying after a delay may succeed."""

    temporary = False

    def __init__(self, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeUnavailable(KubeError):
    temporary = True


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    temporary = True


class Forbidden(KubeError):
    """403: RBAC refusal, admission refusal or an exceeded quota."""


class Invalid(KubeError):
    """422 or 400: the API server refused the object itself."""


# Any other status (429 and 5xx) is worth retrying: KubeUnavailable.
_KINDS: dict[int, type[KubeError]] = {
    400: Invalid,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Conflict,
    422: Invalid,
}


def _message_and_reason(body: str | bytes | None, fallback: str) -> tuple[str, str]:
    try:
        status = json.loads(body) if body else {}
    except (TypeError, ValueError):
        status = {}
    if not isinstance(status, dict):
        status = {}
    return str(status.get("message") or fallback), str(status.get("reason") or "")


def from_response(
    doing: str, status: int | None, body: str | bytes | None, reason: str | None
) -> KubeError:
    """The error for the API server's answer `status` with `body` while `doing` something."""
    message, kind_reason = _message_and_reason(body, reason or "")
    code = status or 0
    text = f"could not {doing}: {message or code}"
    return _KINDS.get(code, KubeUnavailable)(text, code, kind_reason)


def from_transport(doing: str, exc: BaseException) -> KubeUnavailable:
    """The error for a request that got no answer (connection refused, reset, timed out)."""
    return KubeUnavailable(f"could not {doing}: {type(exc).__name__}: {exc}")
