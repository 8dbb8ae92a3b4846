"""Mutual TLS for partners (issue 10: "optionally mutual TLS"): `arrimage gateway` served by a real uvicorn over
HTTPS (ARRIMAGE_GATEWAY_TLS_CERT / _KEY / _CLIENT_CA), reached with httpx with and without a client
certificate, all made here with `cryptography` (a CA, the gateway's certificate for 127.0.0.1, two partners'
client certificates, one from a CA the gateway does not trust). A partner bound to its certificate
(`partners tls`) is accepted only over a connection presenting it: 401 `client_certificate_required` with no
certificate or another one, nothing recorded; a partner not bound, and people, connect without one; a
certificate of an unknown CA is refused during the handshake; the gateway's settings refuse half a TLS
configuration at start."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adapters.client_certs import fingerprint_pem
from domain.disclosure.roles import Role
from gateway.server import Gateway
from tests.crisis_builders import CSSS
from tests.gateway.api import events, problem
from workers.bootstrap import Root, bootstrap
from workers.settings import Settings


@dataclass
class Issued:
    cert: Path
    key: Path


class Authority:
    """A certificate authority made for the test, writing PEM files under `folder`."""

    def __init__(self, name: str, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.path = folder / f"{name}-ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, *, server: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                         else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                                            critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        issued = Issued(self.folder / f"{name}.pem", self.folder / f"{name}-key.pem")
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
        return issued


@dataclass
class Served:
    root: Root
    url: str
    ca: Authority
    keys: dict[str, str]
    certs: dict[str, Issued]

    def client(self, cert: str | None = None) -> httpx.AsyncClient:
        context = ssl.create_default_context(cafile=str(self.ca.path))
        if cert is not None:
            context.load_cert_chain(str(self.certs[cert].cert), str(self.certs[cert].key))
        return httpx.AsyncClient(base_url=self.url, verify=context)

    async def me(self, who: str, cert: str | None = None) -> httpx.Response:
        async with self.client(cert) as http:
            return await http.get("/v1/me", headers={"Authorization": f"Bearer {self.keys[who]}"})


@pytest.fixture
async def served(store_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Served]:
    ca, stranger = Authority("reseau-sante", tmp_path), Authority("inconnu", tmp_path)
    server = ca.issue("gateway", server=True)
    certs = {"cps-laval": ca.issue("cps-laval"), "cc-autre": ca.issue("cc-autre"),
             "forged": stranger.issue("cps-laval-forged")}
    root = bootstrap(Settings(_env_file=None, mode="development", data_dir=tmp_path, gateway_tls_cert=server.cert,
                              gateway_tls_key=server.key, gateway_tls_client_ca=ca.path), record_env=store_env)
    gateway = Gateway(root, host="127.0.0.1", port=0)
    try:
        now = datetime.now(UTC)
        keys = {"cps-laval": root.principals.add_partner("cps-laval", "CPS", by="t", at=now).key,
                "cc-autre": root.principals.add_partner("cc-autre", "Autre", by="t", at=now).key,
                "marie": root.principals.add_user("marie", CSSS, Role.INTERVENANT, by="t", at=now).key}
        fingerprint = fingerprint_pem(certs["cps-laval"].cert.read_bytes())
        view = root.principals.bind_client_cert("cps-laval", fingerprint, by="t", at=now)
        assert view.client_cert == fingerprint
        url = await gateway.start()
        assert url.startswith("https://127.0.0.1:")
        yield Served(root, url, ca, keys, certs)
    finally:
        await gateway.stop()
        root.close()


async def test_a_bound_partners_key_is_accepted_only_with_its_certificate(served: Served) -> None:
    got = await served.me("cps-laval", cert="cps-laval")
    assert got.status_code == 200, got.text
    assert got.json()["principal_id"] == "cps-laval"
    before = events(served.root.record)
    # the key alone (stolen), or with another partner's certificate of the same CA: refused
    for cert in (None, "cc-autre"):
        body = problem(await served.me("cps-laval", cert=cert), 401, "client_certificate_required")
        assert "client certificate" in body["detail"]
    assert events(served.root.record) == before
    # a partner not bound, and a person, connect with or without a certificate
    assert (await served.me("cc-autre")).status_code == 200
    assert (await served.me("cc-autre", cert="cc-autre")).status_code == 200
    assert (await served.me("marie")).json()["principal_id"] == "marie"
    # unbound again (`partners tls cps-laval --none`): its key alone is accepted
    served.root.principals.bind_client_cert("cps-laval", None, by="t", at=datetime.now(UTC))
    assert (await served.me("cps-laval")).status_code == 200


async def test_a_certificate_of_an_unknown_authority_is_refused_in_the_handshake(served: Served) -> None:
    before = events(served.root.record)
    # TLS 1.3: the client's side of the handshake ends before the server checks its certificate, so the refusal
    # (an alert, the connection closed) reaches httpx as the answer is read
    with pytest.raises((httpx.ConnectError, httpx.ReadError)):
        await served.me("cps-laval", cert="forged")
    assert events(served.root.record) == before


def test_settings_refuse_half_a_tls_configuration(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("x")
    with pytest.raises(ValueError, match="go together"):
        Settings(_env_file=None, gateway_tls_cert=pem)
    with pytest.raises(ValueError, match="needs the gateway's own"):
        Settings(_env_file=None, gateway_tls_client_ca=pem)
    with pytest.raises(ValueError, match="no file"):
        Settings(_env_file=None, gateway_tls_cert=pem, gateway_tls_key=tmp_path / "missing.pem")
