"""The node's firewall on the host: the nftables ruleset as text (part of
`devtools.hostnet.snapshot()`), and removing the chains and rules kube-proxy, kube-router,
the kubelet and CNI added (part of `devtools.hostnet.restore()`), leaving anyone else's.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from devtools.node_host import BRIDGE, POD_CIDR

# Firewall chains, ipsets and rules of kube-proxy, kube-router, the kubelet and CNI.
FIREWALL_MARKS = ("KUBE-", "CNI-", "kube-router", BRIDGE, POD_CIDR.rsplit(".", 2)[0] + ".")


def nft_text() -> str:
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout


def remove_firewall(baseline_text: str) -> list[str]:
    """Remove the node's chains and the rules that reach them, then the tables it created
    that are left empty. Rules and chains of anyone else stay as they are."""
    ruleset = json.loads(
        subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True,
                       check=True).stdout or '{"nftables": []}'
    )["nftables"]  # fmt: skip
    tables, chains, rules = _nft_objects(ruleset)
    ours = [c for c in chains if _marked(c["name"])]
    script = [f"flush chain {c['family']} {c['table']} {c['name']}" for c in ours]
    script += [f"delete rule {r['family']} {r['table']} {r['chain']} handle {r['handle']}"
               for r in rules if not _marked(r["chain"]) and _marked(json.dumps(r))]  # fmt: skip
    script += [f"delete chain {c['family']} {c['table']} {c['name']}" for c in ours]
    if script:
        _nft_batch(script)
    done = [f"nft: {line}" for line in script if not line.startswith("flush")]
    done += _remove_empty_tables(tables, baseline_text)
    return done


def _nft_objects(
    ruleset: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    def of(kind: str) -> list[dict[str, Any]]:
        return [item[kind] for item in ruleset if kind in item]

    return of("table"), of("chain"), of("rule")


def _marked(text: str) -> bool:
    return any(mark in text for mark in FIREWALL_MARKS)


def _remove_empty_tables(tables: list[dict[str, Any]], baseline_text: str) -> list[str]:
    done = []
    for table in tables:
        family, name = table["family"], table["name"]
        if f"table {family} {name} " in baseline_text:
            continue
        listing = subprocess.run(["nft", "-j", "list", "table", family, name],
                                 capture_output=True, text=True).stdout  # fmt: skip
        if listing and not any("rule" in item for item in json.loads(listing)["nftables"]):
            _nft_batch([f"delete table {family} {name}"])
            done.append(f"nft: delete table {family} {name}")
    return done


def _nft_batch(lines: list[str]) -> None:
    subprocess.run(["nft", "-f", "-"], input="\n".join(lines) + "\n", text=True, check=True,
                   capture_output=True)  # fmt: skip
