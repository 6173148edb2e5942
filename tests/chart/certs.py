"""A throwaway CA and a server certificate for localhost signed by it, laid out as
cert-manager writes a TLS Secret (ca.crt, tls.crt, tls.key), made with openssl."""

from __future__ import annotations

import subprocess
from pathlib import Path


def write_certificates(directory: Path) -> Path:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
            "-subj", "/CN=test-ca")  # fmt: skip
    openssl("req", *ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=localhost")
    (directory / "ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "tls.crt", "-days", "1", "-extfile", "ext")  # fmt: skip
    return directory
