"""A Job's first connections may be refused until the node's network policy agent has
seen its new pod: the program waits for its database and object store to answer before
it starts, and gives up with a reason naming the peer (never a URL) when one never does."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
from types import ModuleType

import pytest

from tests.backup_tool.conftest import TOOL


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sfbackup", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sfbackup"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_it_waits_for_a_peer_that_starts_answering_late() -> None:
    tool, port = _tool(), _free_port()
    listener = socket.socket()

    def listen_later() -> None:
        time.sleep(2)
        listener.bind(("127.0.0.1", port))
        listener.listen()

    threading.Thread(target=listen_later, daemon=True).start()
    started = time.monotonic()
    try:
        tool.wait_for_network([("127.0.0.1", port)], timeout=20)
    finally:
        listener.close()
    assert 1.5 < time.monotonic() - started < 20


def test_a_peer_that_never_answers_fails_with_its_name_and_port() -> None:
    tool, port = _tool(), _free_port()
    with pytest.raises(tool.BackupError) as failed:
        tool.wait_for_network([("127.0.0.1", port)], timeout=2)
    assert str(failed.value).startswith(f"cannot reach 127.0.0.1 port {port}: ")


def test_the_peers_are_the_database_and_the_hosts_of_the_urls() -> None:
    tool = _tool()
    database = tool.Database("postgres", "postgres", 5432, "medusa", "medusa", "pw")
    objects = {
        "database": {"part_urls": ["http://store.svc:7070/b/k?X-Amz-Signature=s"]},
        "files": {"get_url": "https://s3.example.com/b/f?X-Amz-Signature=s"},
    }
    plan = tool.Plan("medusa", database, {}, objects)
    assert tool.storage_peers(plan) == [("s3.example.com", 443), ("store.svc", 7070)]
    assert tool.database_peer(plan) == [("postgres", 5432)]
