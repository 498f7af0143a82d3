"""Mutual TLS (PG&E requires a client certificate on every call): the stand-in over HTTPS with
a private CA that requires client certificates; the client with and without its certificate."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from wattlake.errors import FetchError
from wattlake.sims.green_button import Customer, GreenButtonSim, UsagePointSpec
from wattlake.sources.espi.client import Authorization, GreenButtonClient

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

NOW = datetime(2026, 5, 20, 19, tzinfo=UTC)


def _cert(name: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
          *, ca: bool = False, ip: str | None = None) -> x509.Certificate:  # fmt: skip
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.now(UTC)
    b = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )  # fmt: skip
    if ip:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return b.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    crt, pem = path.with_suffix(".crt"), path.with_suffix(".key")
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))  # fmt: skip
    return str(crt), str(pem)


def test_client_certificate_required_and_used(tmp_path: Path) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test CA", ca_key, None, ca=True)
    ca_file, _ = _write(tmp_path / "ca", ca, ca_key)
    server_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    server = _write(
        tmp_path / "server",
        _cert("custodian", server_key, (ca.subject, ca_key), ip="127.0.0.1"),
        server_key,
    )
    client = _write(
        tmp_path / "client", _cert("wattlake", client_key, (ca.subject, ca_key)), client_key
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*server)
    tls.load_verify_locations(ca_file)
    tls.verify_mode = ssl.CERT_REQUIRED
    customers = [Customer("P-1", "501", [UsagePointSpec("71", service_start=date(2026, 5, 1))])]
    with GreenButtonSim(customers, now=NOW, tls=tls) as sim:
        assert sim.resource_url.startswith("https://")
        c = sim.customer("P-1")
        auth = Authorization("P-1", "501", c.access_token, c.refresh_token)
        with GreenButtonClient(
            sim.resource_url, cert=client, ca_file=ca_file, min_interval_s=0
        ) as gb:
            assert [r.usage_point_id for r in gb.usage_points(auth)] == ["71"]
        without = GreenButtonClient(sim.resource_url, ca_file=ca_file, min_interval_s=0,
                                    max_retries=0)  # fmt: skip
        with without, pytest.raises(FetchError, match="transport error"):
            without.usage_points(auth)
