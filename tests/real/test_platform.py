"""The platform chart on real pods, as an operator installs and upgrades it: every pod
Ready under Pod Security `restricted` with a read-only root and an API token only where
the service talks to Kubernetes; the dashboard and API through the ingress controller at
the dashboard's host; `users add` through `kubectl exec`; `helm upgrade` and `helm
rollback` with the platform running and its data kept."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp

from tests.node.conftest import Kubectl
from tests.real import platform
from tests.real.conftest import Target
from tests.real.platform import NAMESPACE, Gateway, GatewayError

SERVICES = ("gateway", "provisioner", "reaper", "auditor", "webhooks")
WORKLOADS = [f"deployment/storefleet-{name}" for name in SERVICES] + [
    "statefulset/storefleet-nats",
    "statefulset/storefleet-postgres",
]
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
# Only these two call the Kubernetes API.
WITH_TOKEN = {"provisioner", "reaper"}


def _pod(kubectl: Kubectl, workload: str) -> dict[str, object]:
    selector = kubectl.get(workload, "-n", NAMESPACE)["spec"]["selector"]["matchLabels"]
    labels = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = [p for p in kubectl.get("pods", "-n", NAMESPACE, "-l", labels)["items"]
            if not p["metadata"].get("deletionTimestamp")]  # fmt: skip
    assert len(pods) == 1, f"{workload}: {[p['metadata']['name'] for p in pods]}"
    return dict(pods[0])


def _component(workload: str) -> str:
    return workload.split("/storefleet-")[1]


def test_every_platform_pod_runs_ready_under_restricted_with_a_read_only_root(
    installed: None, kubectl: Kubectl
) -> None:
    labels = kubectl.get("namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"

    for workload in WORKLOADS:
        pod = _pod(kubectl, workload)
        name = pod["metadata"]["name"]  # type: ignore[index]
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}  # type: ignore[index]
        assert ready["Ready"] == "True", name
        for container in pod["status"]["containerStatuses"]:  # type: ignore[index]
            assert container["containerID"].startswith("containerd://"), name
        for container in pod["spec"]["containers"]:  # type: ignore[index]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        volumes = pod["spec"].get("volumes", [])  # type: ignore[index]
        projected = [s for v in volumes for s in v.get("projected", {}).get("sources", [])]
        has_token = any("serviceAccountToken" in source for source in projected)
        assert has_token == (_component(workload) in WITH_TOKEN), f"{name}: token {has_token}"
        if _component(workload) == "nats":
            continue  # nats-server alone in its image: nothing to run a check with
        written = kubectl.exec(NAMESPACE, name, "touch", "/probe")
        assert "Read-only file system" in written.stderr, written
        token = kubectl.exec(NAMESPACE, name, "test", "-e", TOKEN).returncode == 0
        assert token == has_token, f"{name}: token file {token}"


async def test_the_dashboard_and_the_api_answer_through_the_ingress_at_the_dashboard_host(
    target: Target, owner: Gateway, kubectl: Kubectl
) -> None:
    dashboard = {"Host": "storefleet.localhost"}
    async with aiohttp.ClientSession() as http:
        async with http.get(target.ingress_url + "/", headers=dashboard) as r:
            page = await r.text()
            assert r.status == 200 and r.content_type == "text/html"
            assert '<div id="root">' in page
        # Readiness and metrics are on the gateway's health port, never through the ingress.
        for path in ("/readyz", "/metrics"):
            async with http.get(target.ingress_url + path, headers=dashboard) as r:
                assert r.status == 404, path
        readyz = f"/api/v1/namespaces/{NAMESPACE}/services/storefleet-gateway:metrics/proxy/readyz"
        assert json.loads(kubectl("get", "--raw", readyz))["checks"] == {
            "postgres": True,
            "nats": True,
        }
        async with http.get(target.ingress_url + "/", headers={"Host": "elsewhere.localhost"}) as r:
            assert r.status == 404  # the ingress routes by host, and this one is nobody's

    me = await owner.call("GET", "/me")
    assert me["user"]["username"] == "shopowner"
    assert me["quota"]["max_stores"] == 20


async def test_users_added_through_kubectl_exec_sign_in_and_a_second_add_is_refused(
    target: Target, kubectl: Kubectl, http: aiohttp.ClientSession
) -> None:
    password = platform.add_user(kubectl, "second-owner")
    second = await Gateway.sign_in(http, target.ingress_url, "second-owner", password)
    assert (await second.call("GET", "/me"))["user"]["role"] == "user"

    again = kubectl("exec", "-n", NAMESPACE, "deploy/storefleet-gateway", "--", "python", "-m",
                    "services.gateway", "users", "add", "second-owner", check=False)  # fmt: skip
    assert "already exists" in again
    try:
        await Gateway.sign_in(http, target.ingress_url, "second-owner", "not-" + password)
    except GatewayError as refused:
        assert refused.status == 401
    else:
        raise AssertionError("a wrong password signed in")


async def test_helm_upgrade_and_rollback_roll_the_running_pods_and_keep_the_data(
    target: Target, kubectl: Kubectl, owner: Gateway
) -> None:
    secret = kubectl.get("secret", "storefleet-secrets", "-n", NAMESPACE)["data"]
    before = _pod(kubectl, "deployment/storefleet-gateway")["metadata"]["name"]  # type: ignore[index]

    def log_level() -> str:
        pod = _pod(kubectl, "deployment/storefleet-gateway")
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}  # type: ignore[index]
        return str(env["STOREFLEET_LOG_LEVEL"])

    def helm(*args: str) -> None:
        platform.helm(target.kubeconfig, *args, "-n", NAMESPACE, "--wait", "--timeout=5m")

    assert log_level() == "debug"  # values-local.yaml
    async with _asking(owner) as answers:
        await asyncio.to_thread(helm, "upgrade", platform.RELEASE, str(platform.CHART), "-f",
                                str(platform.VALUES_LOCAL), "--set", "logLevel=info")  # fmt: skip
        upgraded = _pod(kubectl, "deployment/storefleet-gateway")["metadata"]["name"]  # type: ignore[index]
        assert upgraded != before and log_level() == "info"
        await asyncio.to_thread(helm, "rollback", platform.RELEASE, "1")
        assert log_level() == "debug"
        await asyncio.sleep(8)  # past the old pod's preStop: it has gone from the ingress
    # Every request during both rollouts was answered, by whichever gateway pod.
    assert set(answers) == {200}, answers

    history = json.loads(platform.helm(target.kubeconfig, "history", platform.RELEASE, "-n",
                                       NAMESPACE, "-o", "json"))  # fmt: skip
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"), (2, "superseded"), (3, "deployed")]  # fmt: skip
    for workload in WORKLOADS:
        kubectl("rollout", "status", "-n", NAMESPACE, workload, "--timeout=120s")
    # The same token still works: users, sessions and tokens live in Postgres's volume.
    assert (await owner.call("GET", "/me"))["user"]["username"] == "shopowner"
    assert kubectl.get("secret", "storefleet-secrets", "-n", NAMESPACE)["data"] == secret


@contextlib.asynccontextmanager
async def _asking(owner: Gateway) -> AsyncIterator[Counter[int]]:
    """`GET /api/v1/me` through the ingress five times a second until the block ends;
    how many answers of each status (0: no answer)."""
    answers: Counter[int] = Counter()

    async def ask() -> None:
        while True:
            try:
                await owner.call("GET", "/me")
                answers[200] += 1
            except GatewayError as error:
                answers[error.status] += 1
            except aiohttp.ClientError:
                answers[0] += 1
            await asyncio.sleep(0.2)

    task = asyncio.create_task(ask())
    try:
        yield answers
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
