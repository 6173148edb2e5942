"""A forged `store.requested` cannot aim the provisioner at a namespace that is not the
store's own: the provisioner derives the name from the store's slug and id
(`shared.namespaces.namespace_for`), fails a request that names another one with
`namespace_mismatch`, and writes nothing, neither there nor anywhere else."""

from __future__ import annotations

import contextlib
import uuid

from kubernetes_asyncio.client import (
    ApiClient,
    CoreV1Api,
    NetworkingV1Api,
    V1Namespace,
    V1ObjectMeta,
)
from kubernetes_asyncio.client.exceptions import ApiException

from shared.events import new_event
from shared.jetstream import publish_event
from shared.namespaces import namespace_for, store_labels, store_selector
from tests.provisioner.harness import Harness


async def _forge(harness: Harness, store_id: str, slug: str, namespace: str) -> None:
    """Publish a request as an attacker on NATS would; not one of the harness's stores,
    so the harness never cleans up (deletes) the namespace it names."""
    data = {"name": "Forged", "slug": slug, "engine": "woocommerce", "plan": "small",
            "owner": "user-1", "namespace": namespace}  # fmt: skip
    event = new_event("requested", store_id, data, actor="user-1", correlation_id="forged")
    await publish_event(harness.js, event, stream=harness.stream)


async def _made_for(kube: ApiClient, namespace: str, store_id: str) -> list[str]:
    """Objects in `namespace` labelled for the store."""
    core, net, selector = CoreV1Api(kube), NetworkingV1Api(kube), store_selector(store_id)
    lists = [
        await core.list_namespaced_resource_quota(namespace, label_selector=selector),
        await core.list_namespaced_limit_range(namespace, label_selector=selector),
        await core.list_namespaced_secret(namespace, label_selector=selector),
        await core.list_namespaced_config_map(namespace, label_selector=selector),
        await net.list_namespaced_network_policy(namespace, label_selector=selector),
    ]
    return [item.metadata.name for found in lists for item in found.items]


async def _attack(harness: Harness, kube: ApiClient, target: str) -> None:
    store_id = str(uuid.uuid4())
    slug = f"forged-{store_id[:8]}"
    before = await CoreV1Api(kube).read_namespace(target)
    async with harness.running(workers=2):
        await _forge(harness, store_id, slug, target)
        outcome = await harness.events.outcome(store_id, within=60)
    after = await CoreV1Api(kube).read_namespace(target)

    assert (outcome.type, outcome.data.code) == ("failed", "namespace_mismatch")  # type: ignore[attr-defined]
    assert target not in outcome.data.reason  # type: ignore[attr-defined]
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.metadata.labels == before.metadata.labels
    assert await _made_for(kube, target, store_id) == []
    assert not await harness.namespace_exists(namespace_for(slug, store_id))
    assert harness.events.types(store_id) == ["requested", "failed"]
    await harness.consumer_settled()


async def test_a_forged_request_naming_kube_system_leaves_it_untouched(
    harness: Harness, kube_api: ApiClient
) -> None:
    await _attack(harness, kube_api, "kube-system")


async def test_a_forged_request_naming_another_stores_namespace_leaves_it_untouched(
    harness: Harness, kube_api: ApiClient
) -> None:
    victim_id = str(uuid.uuid4())
    victim = namespace_for(f"victim-{victim_id[:8]}", victim_id)
    meta = V1ObjectMeta(name=victim, labels=store_labels(victim_id, "woocommerce"))
    await CoreV1Api(kube_api).create_namespace(V1Namespace(metadata=meta))
    try:
        await _attack(harness, kube_api, victim)
    finally:
        with contextlib.suppress(ApiException):
            await CoreV1Api(kube_api).delete_namespace(victim)
