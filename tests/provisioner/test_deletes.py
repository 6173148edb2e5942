"""A store whose deletion was asked for, before a worker takes it or while it is being
provisioned, never becomes ready and leaves no namespace behind. The provisioner stops;
the reaper (run beside it when a namespace was made) removes the namespace."""

from __future__ import annotations

import pytest

from devtools.volumes import VolumeBinder
from tests.provisioner.harness import Harness, eventually

pytestmark = pytest.mark.cluster


async def test_a_store_deleted_before_a_worker_takes_it_never_gets_a_namespace(
    harness: Harness,
) -> None:
    store = await harness.request()
    await harness.delete(store)

    async with harness.running(workers=2):
        await harness.consumer_settled()

    assert harness.events.types(store.id) == ["requested", "delete"]
    assert not await harness.namespace_exists(store.namespace)


async def test_a_store_deleted_during_provisioning_never_becomes_ready_and_leaves_no_namespace(
    harness: Harness, volume_binder: VolumeBinder, migrated_database_url: str
) -> None:
    ids = harness.new_store()
    volume_binder.hold(ids[2])  # its database volume stays unbound: it cannot get ready
    try:
        async with harness.running(workers=2), harness.reaping(migrated_database_url):
            store = await harness.request(ids=ids)
            await harness.events.first(store.id, ("progress",), within=60)
            assert await harness.namespace_exists(store.namespace)

            await harness.delete(store)

            async def gone() -> bool:
                return not await harness.namespace_exists(store.namespace)

            await eventually(gone, within=90, what=f"namespace {store.namespace} to go")
            await harness.consumer_settled()

            def reported() -> bool:  # the user's delete, the provisioner's, the reaper's report
                types = harness.events.types(store.id)
                return types.count("delete") == 2 and "deleted" in types

            await harness.events.until(reported, within=30, what="the deletion's events")
    finally:
        await volume_binder.release(ids[2], provision=False)

    types = harness.events.types(store.id)
    assert "ready" not in types
    assert "failed" not in types
    # A wave already under way may still report; nothing after it starts.
    assert types.count("progress") <= 2
    # Stopped, the provisioner handed the store to the reaper (which reported it deleted).
    requested_by = [e.data.requested_by for e in harness.events.of_type(store.id, "delete")]
    assert requested_by == ["user-1", "provisioner"]
