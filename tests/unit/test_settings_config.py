"""Configuration from the environment and a file (issue 12): the TOML file ARRIMAGE_CONFIG names sets what the
environment does not, the environment wins, and a bad configuration is refused at start with every bad value at
once, one line each (`ARRIMAGE_X: <what is wrong>; <how to fix>`), never echoing a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.bootstrap import load_settings
from workers.config import BadSettings
from workers.settings import Settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "arrimage.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(clean: pytest.MonkeyPatch) -> list[str]:
    with pytest.raises(BadSettings) as caught:
        load_settings()
    return caught.value.message.splitlines()


def test_the_file_sets_what_the_environment_does_not_and_the_environment_wins(
        clean: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path, 'temporal_address = "temporal.internal:7233"\ntask_queue = "file-queue"\n'
                           'store = "postgres"\npostgres_port = 6432\n\n[entente_policy]\nreview_grace_days = 45\n')
    clean.setenv("ARRIMAGE_CONFIG", str(path))
    clean.setenv("ARRIMAGE_TASK_QUEUE", "env-queue")
    settings = Settings()
    assert (settings.temporal_address, settings.task_queue, settings.store, settings.postgres_port) == (
        "temporal.internal:7233", "env-queue", "postgres", 6432)
    assert settings.entente_policy.review_grace_days == 45
    clean.setenv("ARRIMAGE_ENTENTE_POLICY__REVIEW_GRACE_DAYS", "60")
    assert Settings().entente_policy.review_grace_days == 60


def test_without_a_file_the_defaults(clean: pytest.MonkeyPatch) -> None:
    assert Settings().temporal_address == "localhost:7233"


def test_every_bad_value_at_once_one_line_each(clean: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean.setenv("ARRIMAGE_CONFIG", str(write(tmp_path, "gateway_port = 99999\n")))
    clean.setenv("ARRIMAGE_STORE", "oracle")
    clean.setenv("ARRIMAGE_GATEWAY_RATE", "fast")
    clean.setenv("ARRIMAGE_TEMPORAL_TLS", "perhaps")
    clean.setenv("ARRIMAGE_OIDC_AUDIENCE", "arrimage")
    assert refused(clean) == [
        "ARRIMAGE_STORE: expected one of 'sqlite' or 'postgres'; set one of them",
        "ARRIMAGE_TEMPORAL_TLS: expected true or false; set true or false",
        f"ARRIMAGE_GATEWAY_PORT: expected at most 65535 (set in {tmp_path / 'arrimage.toml'}); "
        "set a value of at most 65535",
        "ARRIMAGE_GATEWAY_RATE: not a number; set a number",
        "ARRIMAGE_OIDC_AUDIENCE: ARRIMAGE_OIDC_ISSUER and ARRIMAGE_OIDC_AUDIENCE go together, one is set without "
        "the other; set both, or neither",
    ]


def test_rules_between_fields_are_reported_beside_the_others(clean: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pem = tmp_path / "cert.pem"
    pem.write_text("x")
    clean.setenv("ARRIMAGE_GATEWAY_TLS_CERT", str(pem))  # without its key
    clean.setenv("ARRIMAGE_GATEWAY_TLS_CLIENT_CA", str(tmp_path / "missing-ca.pem"))
    clean.setenv("ARRIMAGE_POSTGRES_POOL_SIZE", "many")
    lines = refused(clean)
    assert lines == [
        "ARRIMAGE_POSTGRES_POOL_SIZE: not a whole number; set a whole number",
        "ARRIMAGE_GATEWAY_TLS_KEY: ARRIMAGE_GATEWAY_TLS_CERT and ARRIMAGE_GATEWAY_TLS_KEY go together, one is set "
        "without the other; set both, or neither",
        f"ARRIMAGE_GATEWAY_TLS_CLIENT_CA: no file {tmp_path / 'missing-ca.pem'}; give the path of a PEM file "
        "readable by this service account",
    ]


def test_a_secret_is_never_echoed(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("ARRIMAGE_POSTGRES_PORT", "s3cr3t-not-a-port")
    clean.setenv("ARRIMAGE_STORE", "hunter2")
    text = "\n".join(refused(clean))
    assert "s3cr3t" not in text and "hunter2" not in text
    assert text.count("\n") == 1


def test_the_file_itself_missing_broken_or_with_unknown_settings(clean: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean.setenv("ARRIMAGE_CONFIG", str(tmp_path / "none.toml"))
    assert refused(clean) == [f"ARRIMAGE_CONFIG: no file {tmp_path / 'none.toml'}; create it "
                              "(deploy/arrimage.toml.example) or unset ARRIMAGE_CONFIG"]
    clean.setenv("ARRIMAGE_CONFIG", str(write(tmp_path, 'store = "sqlite\n')))
    [line] = refused(clean)
    assert line.startswith(f"ARRIMAGE_CONFIG: {tmp_path / 'arrimage.toml'} is not valid TOML (")
    assert line.endswith("; fix the line named (https://toml.io)")
    clean.setenv("ARRIMAGE_CONFIG", str(write(tmp_path, 'temporal_adress = "x"\nstroe = "postgres"\n')))
    assert refused(clean) == [
        f"ARRIMAGE_CONFIG: unknown setting {name!r} in {tmp_path / 'arrimage.toml'}; remove it or correct its "
        "name (deploy/RUNBOOK.md, Configuration reference)" for name in ("temporal_adress", "stroe")]


def test_the_example_file_is_valid(clean: pytest.MonkeyPatch) -> None:
    """deploy/arrimage.toml.example loads (its keys known, its values valid) with the keys given apart."""
    example = Path(__file__).resolve().parents[2] / "deploy" / "arrimage.toml.example"
    clean.setenv("ARRIMAGE_CONFIG", str(example))
    settings = Settings()
    assert settings.store == "postgres" and settings.mode == "production"


def test_a_temporal_cloud_api_key_goes_over_tls_only(clean: pytest.MonkeyPatch) -> None:
    """Temporal Cloud's API key is a bearer token: TLS on by default with it, even in development mode, and
    refused at start with TLS turned off; doctor says it is there, never what it is."""
    from workers import doctor

    clean.setenv("ARRIMAGE_MODE", "development")
    clean.setenv("ARRIMAGE_TEMPORAL_API_KEY", "cloud-key-s3cr3t")
    settings = load_settings()
    assert settings.temporal_tls_on() is True
    found = doctor.report(settings)
    assert found["connections"]["temporal"] == {"address": "localhost:7233", "tls": True, "mtls": False,
                                                "api_key": True}
    assert "temporal  localhost:7233: TLS, API key" in doctor.lines(found)
    assert "s3cr3t" not in str(found)
    clean.setenv("ARRIMAGE_TEMPORAL_TLS", "false")
    assert refused(clean) == [
        "ARRIMAGE_TEMPORAL_API_KEY: an API key is sent over TLS only, and ARRIMAGE_TEMPORAL_TLS is false; set "
        "ARRIMAGE_TEMPORAL_TLS=true (or unset it), or remove the API key"]
