"""Throwaway PKI for the local control plane: a CA, the API server's serving certificate,
an admin client certificate in system:masters, and the service-account signing key.
`devtools.cluster` calls `write_pki` once per cluster directory; nothing here is meant to
outlive that directory."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# 10.0.0.1 is the first address of the service range the cluster is started with: the
# `kubernetes` Service that in-cluster clients dial.
SERVING_SANS: tuple[str, ...] = (
    "127.0.0.1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "10.0.0.1",
)
VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files one cluster needs."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path

    @classmethod
    def in_dir(cls, directory: Path) -> Pki:
        names = ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key",
                 "admin.crt", "admin.key", "sa.key", "sa.pub")  # fmt: skip
        return cls(*(directory / name for name in names))


def write_pki(directory: Path, extra_sans: tuple[str, ...] = ()) -> Pki:
    """Generate every key and certificate into `directory` and return their paths.
    `extra_sans` are more names the API server answers to (a real node's address)."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki.in_dir(directory)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue(_name("storefleet-local-ca"), ca_key.public_key(), ca_key, None, ca=True)
    serving_key = ec.generate_private_key(ec.SECP256R1())
    serving = _issue(
        _name("kube-apiserver"), serving_key.public_key(), ca_key, ca_cert,
        usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=SERVING_SANS + extra_sans,
    )  # fmt: skip
    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _issue(
        _name("admin", "system:masters"), admin_key.public_key(), ca_key, ca_cert,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )  # fmt: skip
    # Service-account tokens are signed with RS256 by default, hence RSA here.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_cert(pki.ca_cert, ca_cert)
    _write_key(pki.ca_key, ca_key)
    _write_cert(pki.serving_cert, serving)
    _write_key(pki.serving_key, serving_key)
    _write_cert(pki.admin_cert, admin)
    _write_key(pki.admin_key, admin_key)
    _write_key(pki.sa_key, sa_key)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _issue(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    *,
    ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    sans: tuple[str, ...] = (),
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_key_usage(ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(_sans(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _key_usage(ca: bool) -> x509.KeyUsage:
    # Strict verifiers (OpenSSL's X509_STRICT, Python 3.13's default) insist on these.
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _sans(names: tuple[str, ...]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


@dataclass(frozen=True)
class NodePki:
    """The certificates a real node's agents present, signed by the cluster's CA."""

    kubelet_cert: Path
    kubelet_key: Path
    kubelet_serving_cert: Path
    kubelet_serving_key: Path
    proxy_cert: Path
    proxy_key: Path
    apiserver_kubelet_cert: Path
    apiserver_kubelet_key: Path

    @classmethod
    def in_dir(cls, directory: Path) -> NodePki:
        stems = ("kubelet", "kubelet-serving", "kube-proxy", "apiserver-kubelet-client")
        return cls(*(directory / f"{stem}.{ext}" for stem in stems for ext in ("crt", "key")))


def write_node_pki(cluster: Pki, directory: Path, node_name: str, node_ip: str) -> NodePki:
    """Issue, with the cluster's CA, what one kubelet and kube-proxy need: the kubelet's
    client certificate (the Node authorizer knows it by `system:node:<name>`), its serving
    certificate for the node's address, kube-proxy's client certificate (bound to
    `system:node-proxier` by the default RBAC), and the API server's client certificate
    for calls to the kubelet (logs, exec, port-forward)."""
    directory.mkdir(parents=True, exist_ok=True)
    node = NodePki.in_dir(directory)
    ca_cert = x509.load_pem_x509_certificate(cluster.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(cluster.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    client = ExtendedKeyUsageOID.CLIENT_AUTH
    issued = (
        (node.kubelet_cert, node.kubelet_key, _name(f"system:node:{node_name}", "system:nodes"),
         client, ()),
        (node.kubelet_serving_cert, node.kubelet_serving_key, _name(node_name),
         ExtendedKeyUsageOID.SERVER_AUTH, (node_ip, node_name)),
        (node.proxy_cert, node.proxy_key, _name("system:kube-proxy"), client, ()),
        (node.apiserver_kubelet_cert, node.apiserver_kubelet_key,
         _name("kube-apiserver-kubelet-client", "system:masters"), client, ()),
    )  # fmt: skip
    for cert_path, key_path, subject, usage, sans in issued:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(subject, key.public_key(), ca_key, ca_cert, usage=usage, sans=sans)
        _write_cert(cert_path, cert)
        _write_key(key_path, key)
    return node


def kubeconfig(server: str, ca_cert: Path, cert: Path, key: Path, user: str) -> str:
    """A kubeconfig with the certificates embedded (JSON, which every reader accepts)."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "storefleet", "cluster": {
            "server": server, "certificate-authority-data": b64(ca_cert)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
        "contexts": [{"name": "storefleet", "context": {"cluster": "storefleet", "user": user}}],
        "current-context": "storefleet",
    }  # fmt: skip
    return json.dumps(config, indent=2)
