"""The reaper's domain adapter on a real API server: each call carries only its own
client's headers. (kubernetes_asyncio merges a client's default headers into the header
dict a call passes; a dict shared between calls once carried one client's
`Impersonate-User` into every later client's reads and deletes.)"""

from __future__ import annotations

import uuid

import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import new_client_from_config

from services.reaper.domain_certs import DomainKube
from shared.kube_errors import Forbidden
from tests.fixtures.cluster import KubeCluster
from tests.reaper.conftest import MakeNamespace, namespace_name

pytestmark = pytest.mark.cluster

NOBODY = "system:serviceaccount:default:nobody"  # no role grants it anything


async def test_one_clients_identity_never_reaches_another_clients_calls(
    kube_cluster: KubeCluster, kube_api: ApiClient, make_namespace: MakeNamespace
) -> None:
    namespace = await make_namespace(namespace_name())
    domain_id = str(uuid.uuid4())
    nobody = await new_client_from_config(
        config_file=str(kube_cluster.kubeconfig), persist_config=False
    )
    nobody.set_default_header("Impersonate-User", NOBODY)
    try:
        with pytest.raises(Forbidden):
            await DomainKube(nobody).certificate(namespace, domain_id)
        with pytest.raises(Forbidden):
            await DomainKube(nobody).remove(namespace, domain_id)
    finally:
        await nobody.close()

    # The admin's adapter reads and deletes as the admin: nothing there, nothing refused.
    admin = DomainKube(kube_api)
    await admin.remove(namespace, domain_id)
    assert await admin.certificate(namespace, domain_id) is None
