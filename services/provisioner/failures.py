"""What a Kubernetes error means for a store: worth retrying, or a failure to report,
with a code for machines and the raw text for operators. `OWNER_REASONS` holds what a
store owner reads for each code whose raw text comes from the API server, helm or a pod
(that text can name cluster internals, so it goes to the operator's log only).

Temporary: the API server unreachable, 5xx and 429, timeouts, conflicts, a namespace
whose quota status is not computed yet or whose `default` ServiceAccount does not exist
yet, a namespace still being created or removed. Permanent: the API server refused the
object (400/422), an exceeded quota, and other refusals (403). One 500 is permanent too:
server-side apply answers an object it cannot decode (a malformed quantity, say) with
"failed to convert new object", and no retry changes that.

Pure: no I/O. Called by the handler, which also takes its redelivery delays from
`RETRY`.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.backoff import Backoff
from shared.kube_errors import Forbidden, Invalid, KubeError, NotFound

# Admission messages that clear up by themselves within moments in a fresh namespace.
_SETTLING = {
    "status unknown for quota": "quota_pending",
    'serviceaccount "default" not found': "default_service_account",
    "error looking up service account": "default_service_account",
    "because it is being terminated": "namespace_terminating",
}


@dataclass(frozen=True)
class Failure:
    code: str
    reason: str
    temporary: bool


_UNDECODABLE = ("failed to convert new object", "unable to convert unstructured object")


def classify(exc: KubeError) -> Failure:
    text = str(exc)
    if any(marker in text for marker in _UNDECODABLE):
        return Failure("apply_refused", f"the cluster refused the store: {text}", False)
    if exc.temporary:
        return Failure("kubernetes_unavailable", text, True)
    for marker, code in _SETTLING.items():
        if marker in text:
            return Failure(code, text, True)
    if isinstance(exc, NotFound):
        # The namespace vanished under us: deleted, or not there yet after an outage.
        return Failure("not_found", text, True)
    if isinstance(exc, Invalid):
        return Failure("apply_refused", f"the cluster refused the store: {text}", False)
    if isinstance(exc, Forbidden):
        if "exceeded quota" in text:
            return Failure("quota_exceeded", f"the store does not fit its plan: {text}", False)
        return Failure("forbidden", f"the cluster refused the store: {text}", False)
    return Failure("kubernetes_error", text, False)


# What `store.failed` tells the owner, per code, instead of the raw text.
OWNER_REASONS = {
    "render_failed": "the store's engine could not be prepared",
    "apply_refused": "the cluster refused the store's configuration",
    "quota_exceeded": "the store does not fit its plan",
    "forbidden": "the cluster refused to create the store",
    "kubernetes_error": "the cluster could not create the store",
    "retries_exhausted": "the cluster stayed unavailable; gave up after several attempts",
    "workload_failed": "a part of the store failed to start",
    "not_ready_in_time": "the store was not ready in time",
}
OPERATOR_HINT = "; an operator can see the details"


def owner_reason(code: str) -> str:
    """The short, stable reason an owner reads for `code`."""
    return OWNER_REASONS.get(code, "the store could not be created") + OPERATOR_HINT


# Delay before redelivery `attempt` + 1: 5 s, 10 s, 20 s, ... up to two minutes.
RETRY = Backoff(base=5.0, cap=120.0)
