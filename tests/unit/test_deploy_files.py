"""deploy/ stays true to the code (issue 12): every YAML file parses (`yaml.safe_load`), the compose file passes
Compose's own validation (`docker-compose config`, Debian's Compose 1.29: the machine has no daemon and no compose
plugin, so the stack cannot run here, but Compose can still check it), every ARRIMAGE_*
variable and every TOML setting the deployment files name is a setting of workers/settings.py that validates,
and the RUNBOOK's configuration reference lists exactly the settings, with their defaults."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from domain.ententes.state import EntentePolicy
from workers.config import read_config
from workers.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
# Variables that are not fields: the configuration file's own name
NOT_FIELDS = {"ARRIMAGE_CONFIG"}


def shown(value: Any) -> str:
    """A default as the reference table shows it."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or value == "":
        return "(unset)"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def reference() -> dict[str, str]:
    """Every variable a deployment may set, with its default: the top-level fields, the entente policy's nested."""
    rows = {}
    for name, field in Settings.model_fields.items():
        if name == "entente_policy":
            for inner, sub in EntentePolicy.model_fields.items():
                rows[f"ARRIMAGE_ENTENTE_POLICY__{inner.upper()}"] = shown(sub.default)
            continue
        rows[f"ARRIMAGE_{name.upper()}"] = shown(field.get_default(call_default_factory=True))
    return rows


def known(variable: str) -> bool:
    return variable in NOT_FIELDS or variable in reference()


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert documents and all(isinstance(d, dict) for d in documents)


def test_the_yaml_files_are_the_expected_ones() -> None:
    assert [str(p.relative_to(DEPLOY)) for p in YAML_FILES] == [
        "compose/compose.yaml", "compose/otel-collector.yaml", "compose/prometheus.yml",
        "kubernetes/arrimage.yaml", "kubernetes/temporal-values.yaml"]


def test_every_arrimage_variable_named_in_deploy_is_a_setting() -> None:
    named: dict[str, set[str]] = {}
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix not in (".pem", ".key"):
            for found in re.finditer(r"\bARRIMAGE_[A-Z0-9_]*[A-Z0-9](_\*)?", path.read_text(encoding="utf-8")):
                named.setdefault(found.group(0), set()).add(str(path.relative_to(DEPLOY)))
    families = {v for v in named if v.endswith("_*")}  # ARRIMAGE_OIDC_*: some setting starts so
    unknown = {v: sorted(where) for v, where in named.items() if not known(v) and not (
        v in families and any(r.startswith(v[:-1]) for r in reference()))}
    assert unknown == {}
    assert len(named) > 30


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def test_the_compose_stack_has_what_the_issue_asks() -> None:
    services = compose()["services"]
    assert {"temporal-db", "temporal", "temporal-setup", "temporal-ui", "record-db", "worker", "gateway",
            "codec-server", "otel-collector", "prometheus"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert services["temporal"]["environment"]["VISIBILITY_DBNAME"] == "temporal_visibility"
    assert services["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8081"
    assert services["gateway"]["environment"]["ARRIMAGE_TEMPORAL_TLS"] == "true"
    assert services["gateway"]["healthcheck"]["test"][-1].endswith("'http://127.0.0.1:8080/readyz', timeout=3)")


COMPOSE_V1 = shutil.which("docker-compose")
needs_compose = pytest.mark.skipif(
    COMPOSE_V1 is None and not os.environ.get("CI"),
    reason="Debian's docker-compose is not installed (.ci/run installs it; required in CI)")


def compose_config(tmp_path: Path, extra_service: str = "") -> subprocess.CompletedProcess[str]:
    """`docker-compose config` over a copy of deploy/compose with env.example's values filled in (as an operator's
    .env) and `extra_service` first under `services:`. Compose 1.29 predates the spec's top-level `name:` (the
    project's name, which the plugin reads): that one line is left out of the copy; every service, volume and
    network is checked."""
    assert COMPOSE_V1 is not None, "docker-compose: apt-get install -y docker-compose (.ci/run does)"
    copy = tmp_path / "compose"
    shutil.copytree(DEPLOY / "compose", copy)
    example = (copy / "env.example").read_text(encoding="utf-8").splitlines()
    (copy / ".env").write_text("\n".join(line + "x" if line.endswith("=") else line for line in example) + "\n",
                               encoding="utf-8")
    text = (copy / "compose.yaml").read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if not line.startswith("name:")]
    assert len(kept) == len(text.splitlines()) - 1 and kept.count("services:") == 1
    if extra_service:
        kept.insert(kept.index("services:") + 1, extra_service)
    (copy / "compose.yaml").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return subprocess.run([COMPOSE_V1, "-f", "compose.yaml", "config"], cwd=copy, capture_output=True, text=True,
                          timeout=60, env={"PATH": os.environ.get("PATH", "")}, check=False)


@needs_compose
def test_docker_compose_accepts_the_stack(tmp_path: Path) -> None:
    done = compose_config(tmp_path)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert set(resolved["services"]) == set(compose()["services"])
    assert resolved["services"]["worker"]["deploy"]["replicas"] == 2
    # The secrets come from .env, as an operator's would: interpolated, not left as ${…}.
    assert resolved["services"]["record-db"]["environment"]["POSTGRES_PASSWORD"] == "change-me-record"
    assert "${" not in done.stdout


@needs_compose
def test_docker_compose_refuses_a_broken_stack(tmp_path: Path) -> None:
    """The check above can fail: a service with a key Compose does not know is refused, naming it."""
    done = compose_config(tmp_path, "  broken:\n    image: busybox\n    restart_policy_typo: always")
    assert done.returncode != 0
    assert "restart_policy_typo" in done.stderr


def test_the_compose_setup_registers_the_case_search_attributes_doctor_checks() -> None:
    from workers.doctor_live import WANTED

    script = compose()["services"]["temporal-setup"]["command"][0]
    for name, kind in WANTED.items():
        line = next(line for line in script.splitlines() if f"--name {name} " in line)
        assert line.rstrip().endswith(f"--name {name} --type {kind}"), line


def test_the_arrimage_environment_of_the_compose_stack_validates(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    env = compose()["x-arrimage"]["environment"]
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("ARRIMAGE_CONFIG", str(DEPLOY / "compose" / "arrimage.toml"))
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert (settings.store, settings.temporal_tls_on(), settings.metrics) == ("postgres", True, "prometheus")


@pytest.mark.parametrize("toml", ["arrimage.toml.example", "compose/arrimage.toml", "kubernetes ConfigMap"])
def test_every_configuration_file_holds_known_settings_that_validate(
        toml: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if toml == "kubernetes ConfigMap":
        docs = yaml.safe_load_all((DEPLOY / "kubernetes" / "arrimage.yaml").read_text(encoding="utf-8"))
        config = next(d for d in docs if d["kind"] == "ConfigMap")
        path = tmp_path / "arrimage.toml"
        path.write_text(config["data"]["arrimage.toml"], encoding="utf-8")
    else:
        path = DEPLOY / toml
    assert read_config(path, Settings.model_fields)  # no unknown setting
    for name in [n for n in os.environ if n.startswith("ARRIMAGE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ARRIMAGE_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)
    assert Settings().mode == "production"


def runbook_reference() -> dict[str, str]:
    text = (DEPLOY / "RUNBOOK.md").read_text(encoding="utf-8")
    table = text.split("<!-- settings:begin -->")[1].split("<!-- settings:end -->")[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`ARRIMAGE_"):
            rows[cells[0].strip("`")] = cells[1].strip("`")
    return rows


def test_the_runbook_configuration_reference_is_the_settings_with_their_defaults() -> None:
    """Add a setting to workers/settings.py and this fails until the RUNBOOK names it, with its default."""
    assert runbook_reference() == reference()
