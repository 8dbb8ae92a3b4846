"""Issue 13: a witness served over HTTPS (and mTLS), and its per-client request limit, against real servers on
localhost (``adapters.witness.server``, `arrimage audit witness serve`), with certificates made here by
``cryptography``: a CA, the witness's certificate for 127.0.0.1, and a log's client certificate.

- HTTPS: `audit publish`'s path (`usecases.audit.witnessing.publish` over httpx) cosigned through TLS when the log
  trusts the witness's CA (``SSL_CERT_FILE``), unreachable when it does not; plain HTTP to the port is no answer;
- mTLS (a client CA): no client certificate → no answer; one the CA signed → served; `audit publish` with
  ARRIMAGE_WITNESS_TLS_CERT/_KEY cosigned by such a witness, unreachable without, refused with half of them;
- the limit: a client's requests beyond it answered 429 with ``Retry-After`` (another address still served); the
  bucket refills with time (a clock given to `RequestLimit`: no wait);
- the command: `--tls-cert/--tls-key` serve HTTPS, one without the other is bad input (2).
SQLite and PostgreSQL where a record is involved (`record`)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from adapters.record.note_signing import signer_key_from_seed
from adapters.record.record import Record
from adapters.witness.server import RequestLimit, WitnessServer, tls_context, witness_server
from adapters.witness.service import Witness
from adapters.witness.state import WitnessState
from cli.main import app
from domain.audit.note import COSIGNATURE_V1
from domain.audit.witnessing import Outcome, WitnessEndpoint
from tests.merkle_attack_builders import Cli
from tests.tamper_builders import NOW, interleaved_dossiers
from usecases.audit.proofs import log_verifier
from usecases.audit.witnessing import publish
from workers.config import BadSettings

ARRIMAGE = str(Path(sys.executable).parent / "arrimage")
WITNESS_KEY = signer_key_from_seed("witness.example/tls", bytes(range(11, 43)), COSIGNATURE_V1)
A_LOG = signer_key_from_seed("log.example/tls", bytes(range(3, 35))).verifier  # for a witness no record sends to


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "witness test CA")])
    ca = _issue("witness test CA", ca_key, ca_name, ca_key, ca=True)
    pki = Pki(
        folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "client.pem", folder / "client.key"
    )
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cert_path, key_path, name, server in (
        (pki.server_cert, pki.server_key, "127.0.0.1", True),
        (pki.client_cert, pki.client_key, "log.example", False),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert_path.write_bytes(
            _issue(name, key, ca_name, ca_key, server=server).public_bytes(serialization.Encoding.PEM)
        )
        _write_key(key, key_path)
    return pki


@pytest.fixture
def serving() -> Iterator[list[WitnessServer]]:
    """Servers started by a test (`_start`), shut down after it."""
    servers: list[WitnessServer] = []
    try:
        yield servers
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _start(servers: list[WitnessServer], witness: Witness, **options: object) -> str:
    server = witness_server(witness, "127.0.0.1", 0, **options)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    servers.append(server)
    return f"127.0.0.1:{server.server_address[1]}"


def _witness(record: Record | None, tmp_path: Path) -> Witness:
    logs = [log_verifier(record)] if record is not None else [A_LOG]
    return Witness(str(WITNESS_KEY), logs, WitnessState(tmp_path / "witness.sqlite"))


def test_publish_is_cosigned_over_https_when_the_log_trusts_the_witness_s_ca(
    record: Record, pki: Pki, tmp_path: Path, serving: list[WitnessServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    interleaved_dossiers(record, "AB", 2)
    at = _start(serving, _witness(record, tmp_path), tls=tls_context(pki.server_cert, pki.server_key))
    endpoint = WitnessEndpoint(WITNESS_KEY.verifier, f"https://{at}")

    untrusted = publish(record, None, [endpoint], NOW)  # the public roots (certifi) do not hold this CA
    assert [r.outcome for r in untrusted.reports] == [Outcome.UNREACHABLE]
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.reports[0].detail

    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))  # how `audit publish` is told to trust a witness's CA
    done = publish(record, None, [endpoint], NOW)
    assert [(r.outcome, r.old_size) for r in done.reports] == [(Outcome.COSIGNED, 0)]

    with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port: no HTTP answer
        httpx.get(f"http://{at}/add-checkpoint", timeout=5)


def test_with_a_client_ca_only_a_client_certificate_it_signed_is_served(
    pki: Pki, tmp_path: Path, serving: list[WitnessServer]
) -> None:
    at = _start(serving, _witness(None, tmp_path), tls=tls_context(pki.server_cert, pki.server_key, pki.ca))
    trust = ssl.create_default_context(cafile=pki.ca)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"https://{at}/add-checkpoint", verify=trust, timeout=5)
    trust.load_cert_chain(pki.client_cert, pki.client_key)
    got = httpx.get(f"https://{at}/add-checkpoint", verify=trust, timeout=5)
    assert (got.status_code, got.text) == (405, "POST only\n")


def test_publish_presents_the_log_s_client_certificate_to_a_witness_requiring_one(
    record: Record,
    store_env: dict[str, str],
    pki: Pki,
    tmp_path: Path,
    serving: list[WitnessServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`audit publish` with ARRIMAGE_WITNESS_TLS_CERT/_KEY (in this process, over the store under test): cosigned by
    a witness requiring client certificates; without them, unreachable (the handshake refused)."""
    interleaved_dossiers(record, "AB", 2)
    tls = tls_context(pki.server_cert, pki.server_key, pki.ca)
    at = _start(serving, _witness(record, tmp_path), tls=tls)
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    cli = Cli.over(store_env, tmp_path)
    cli.env.update({"SSL_CERT_FILE": str(pki.ca), "ARRIMAGE_WITNESSES": f"{WITNESS_KEY.verifier}=https://{at}"})
    refused = cli.invoke("publish", "--json")
    assert refused.code == 1, refused
    assert [w["outcome"] for w in json.loads(refused.out)["witnesses"]] == ["unreachable"]
    cli.env.update({"ARRIMAGE_WITNESS_TLS_CERT": str(pki.client_cert), "ARRIMAGE_WITNESS_TLS_KEY": str(pki.client_key)})
    done = cli.invoke("publish", "--json")
    assert done.code == 0, done
    assert [(w["outcome"], w["old_size"]) for w in json.loads(done.out)["witnesses"]] == [("cosigned", 0)]
    del cli.env["ARRIMAGE_WITNESS_TLS_KEY"]
    with pytest.raises(BadSettings, match="ARRIMAGE_WITNESS_TLS_CERT and ARRIMAGE_WITNESS_TLS_KEY go together"):
        cli.invoke("publish")  # the installed command: that line, exit 2 (cli.main)


def test_a_client_beyond_its_limit_is_answered_429_and_another_address_is_still_served(
    tmp_path: Path, serving: list[WitnessServer]
) -> None:
    at = _start(serving, _witness(None, tmp_path), limit=RequestLimit(3, 3600.0))
    url = f"http://{at}/add-checkpoint"
    with httpx.Client(timeout=5) as client:  # kept alive: the limit is per address, not per connection
        assert [client.get(url).status_code for _ in range(3)] == [405, 405, 405]
        refused = client.post(url, content=b"old 0\n\n")
    assert refused.status_code == 429 and refused.text == "too many requests from this address\n"
    assert refused.headers["Retry-After"] == "1200"  # one request back every 3600 / 3 s
    other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=5)
    with other:
        assert other.get(url).status_code == 405


def test_a_limit_refills_with_time() -> None:
    now = [0.0]
    limit = RequestLimit(2, 60.0, clock=lambda: now[0])
    assert [limit.take("a"), limit.take("a"), limit.take("a")] == [0.0, 0.0, 30.0]
    assert limit.take("b") == 0.0
    now[0] = 29.0
    assert limit.take("a") == pytest.approx(1.0)  # the refused request took no token
    now[0] = 30.0
    assert [limit.take("a"), limit.take("a")] == [0.0, 30.0]
    now[0] = 1000.0  # a long idle: back to the burst, no more
    assert [limit.take("a"), limit.take("a"), limit.take("a")] == [0.0, 0.0, 30.0]


def test_the_command_serves_https_and_refuses_half_a_tls_configuration(pki: Pki, tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}, "ARRIMAGE_MODE": "development"}
    key_file = tmp_path / "w.key"
    key_file.write_text(f"{WITNESS_KEY}\n")
    args = [
        "audit",
        "witness",
        "serve",
        "--key",
        str(key_file),
        "--log-key",
        str(A_LOG),
        "--state",
        str(tmp_path / "state.sqlite"),
        "--listen",
        "127.0.0.1:0",
    ]
    runner = CliRunner()
    half = runner.invoke(app, [*args, "--tls-cert", str(pki.server_cert)])
    assert half.exit_code == 2 and "--tls-cert and --tls-key go together" in half.output
    bad = runner.invoke(app, [*args, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.ca)])
    assert bad.exit_code == 2 and "TLS files" in bad.output
    base = [ARRIMAGE, *args]
    server = subprocess.Popen(
        [*base, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--requests-per-minute", "2"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        assert " on https://127.0.0.1:" in line and "2 requests a minute per client" in line, line
        url = line.split(" on ")[1].split()[0]
        trust = ssl.create_default_context(cafile=pki.ca)
        with httpx.Client(verify=trust, timeout=5) as client:
            assert [client.get(url).status_code for _ in range(3)] == [405, 405, 429]
    finally:
        server.terminate()
        server.wait(timeout=10)
