"""The chart's NATS users, permissions and TLS (issue 19), proven on the real nats-server
binary running the very nats.conf the chart renders: the password of each user comes
from the environment as in the pod, and the permissions are those of
`shared.nats_access`, which tests/security/test_nats_permissions.py attacks in depth.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest
from nats.errors import TimeoutError as NatsTimeout

from devtools.nats import nats_server_binary
from devtools.procs import free_port, start, stop, wait_for_port
from scripts.generate_schemas import NATS_PERMISSIONS, nats_permissions
from shared.jetstream import NatsUnavailable, connect, ensure_stream
from shared.nats_access import SERVICES
from shared.settings import CommonSettings
from shared.subjects import stores_stream, subject_for
from tests.chart.certs import write_certificates
from tests.chart.helm import Manifest, env_of, named, of_kind, render

PASSWORDS = {service: f"pw-{service}-{os.urandom(6).hex()}" for service in SERVICES}


def _conf(manifests: list[Manifest]) -> str:
    return named(manifests, "ConfigMap", "storefleet-nats")["data"]["nats.conf"]  # type: ignore[no-any-return]


class ChartNats:
    """nats-server with the chart's rendered nats.conf, ports and paths moved to `workdir`."""

    def __init__(self, conf: str, workdir: Path) -> None:
        self.port = free_port()
        conf = conf.replace("port: 4222", f"port: {self.port}").replace("http_port: 8222", "")
        conf = conf.replace("/var/run/nats", str(workdir)).replace("/data", str(workdir / "js"))
        conf = conf.replace("/etc/nats-tls", str(workdir))
        self.path = workdir / "nats.conf"
        self.path.write_text(conf)
        env = {f"NATS_PASSWORD_{s.upper()}": p for s, p in PASSWORDS.items()}
        self.env = {**os.environ, "POD_NAME": "storefleet-nats-0", **env}
        self.log = workdir / "nats.log"

    def __enter__(self) -> ChartNats:
        self.proc = start([nats_server_binary(), "-c", str(self.path)], self.log, env=self.env)
        wait_for_port(self.port, 20, proc=self.proc, log=self.log)
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self.proc)

    def settings(self, service: str, scheme: str = "nats", **more: str) -> CommonSettings:
        return CommonSettings(
            nats_url=f"{scheme}://localhost:{self.port}",
            nats_user=service,
            nats_password=PASSWORDS[service],
            **more,
        )


def test_the_charts_permissions_file_is_generated_from_shared_nats_access() -> None:
    assert NATS_PERMISSIONS.read_text() == nats_permissions(), "run `just schemas`"


@pytest.mark.parametrize("values_file", ["values.yaml", "values-local.yaml", "values-prod.yaml"])
def test_each_service_connects_as_its_own_user_with_a_password_from_the_secret(
    helm_path: Path, values_file: str
) -> None:
    manifests = render(helm_path, values_file)
    for service in SERVICES:
        deployment = named(manifests, "Deployment", f"storefleet-{service}")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env_of(container)["STOREFLEET_NATS_USER"] == service
        ref = env["STOREFLEET_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref["key"] == f"nats-{service}-password"
    # No password is written into the server's configuration, only references to them.
    assert re.findall(r"password: (\S+),", _conf(manifests)) == [
        f"$NATS_PASSWORD_{s.upper()}" for s in sorted(SERVICES)
    ]


def test_the_generated_secret_holds_a_long_random_password_per_service(helm_path: Path) -> None:
    (secret,) = [s for s in of_kind(render(helm_path), "Secret") if "database-url" in s["data"]]
    passwords = [base64.b64decode(secret["data"][f"nats-{s}-password"]) for s in SERVICES]
    assert all(len(p) >= 40 for p in passwords)
    assert len(set(passwords)) == len(SERVICES)


async def test_the_rendered_server_refuses_strangers_and_forged_events(
    helm_path: Path, tmp_path: Path
) -> None:
    with ChartNats(_conf(render(helm_path, "values-local.yaml")), tmp_path) as server:
        with pytest.raises(NatsUnavailable):
            await connect(f"nats://localhost:{server.port}", "stranger", connect_timeout=2.0)
        gateway = await connect(server.settings("gateway"), "gateway")
        try:
            js = gateway.jetstream(timeout=1.0)
            await ensure_stream(js, stores_stream())
            await js.publish(subject_for("requested", "s1"), b"{}")
            with pytest.raises(NatsTimeout):
                await js.publish(subject_for("ready", "s1"), b"{}")
            assert (await js.stream_info("STORES")).state.messages == 1
        finally:
            await gateway.close()


async def test_with_tls_a_service_trusting_the_ca_connects_and_no_one_else(
    helm_path: Path, tmp_path: Path
) -> None:
    certificates = write_certificates(tmp_path)
    manifests = render(helm_path, sets=["nats.tls.enabled=true", "nats.tls.secretName=nats-tls"])
    with ChartNats(_conf(manifests), certificates) as server:
        ca = str(certificates / "ca.crt")
        trusted = await connect(server.settings("auditor", "tls", nats_ca_file=ca), "auditor")
        assert trusted.is_connected
        await trusted.close()
        # Without the CA (the system's roots): the server's certificate is not trusted.
        with pytest.raises(NatsUnavailable):
            await connect(server.settings("auditor", "tls"), "auditor", connect_timeout=3.0)


def test_production_serves_nats_over_tls_from_a_release_ca(helm_path: Path) -> None:
    manifests = render(helm_path, "values-prod.yaml")
    certificates = {c["metadata"]["name"]: c["spec"] for c in of_kind(manifests, "Certificate")}
    server = certificates["storefleet-nats-tls"]

    assert "tls {" in _conf(manifests)
    assert "storefleet-nats.storefleet.svc" in server["dnsNames"]
    assert server["issuerRef"] == {"name": "storefleet-nats-ca", "kind": "Issuer"}
    assert certificates["storefleet-nats-ca"]["isCA"] is True
    for service in SERVICES:
        deployment = named(manifests, "Deployment", f"storefleet-{service}")
        pod = deployment["spec"]["template"]["spec"]
        env = env_of(pod["containers"][0])
        assert env["STOREFLEET_NATS_URL"].startswith("tls://")
        assert env["STOREFLEET_NATS_CA_FILE"] == "/etc/storefleet/nats-ca/ca.crt"
        (ca,) = [v for v in pod["volumes"] if v["name"] == "nats-ca"]
        assert ca["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]  # never the key
    assert json.loads(NATS_PERMISSIONS.read_text()).keys() == set(SERVICES)
