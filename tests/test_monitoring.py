"""Monitoring from minute one, checked against a running ``syncd run`` and ``syncd sim serve``.

- every series the alert rules and the Grafana dashboard name is exported by a running daemon,
  with no ``*_created`` series, ``syncd_build_info`` and process metrics, ``promtool check
  metrics`` clean;
- a fresh install with a wrong key: every stream is infinitely stale (+Inf) from its first
  scrape, the 401 shows in ``syncd_stream_auth_failed``, ``/readyz`` says "failing" (not
  "starting") and ``syncd status --check`` exits 1 (the alert rule on it is tested with
  ``promtool test rules``, alerts.test.yml, run by test_deploy.py);
- every alert rule has a promtool case that fires it.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SYNCD, subprocess_env
from daemon_support import Daemon, Processes, wait_for, write_config
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "syncd.json"
WRONG_KEY = "not-an-ohallo-key-3f9a0c"  # the simulator refuses it with 401
# Words in PromQL expressions that are not series names.
PROMQL_WORDS = frozenset(
    {"sum", "by", "rate", "increase", "histogram_quantile", "time", "max", "on", "unless", "or"}
)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    with Processes(tmp_path) as started:
        yield started


def samples(exposition: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of a text exposition."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def families(exposition: str) -> set[str]:
    """Every series name the exposition announces (``# TYPE``), with its type's suffixes."""
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
    return names


# Labelled by what happened (a retry's reason, a drifting status): no sample until it happens.
ON_OCCURRENCE = frozenset({"syncd_api_retries_total", "syncd_status_count_drift"})


def series_named(expression: str) -> set[str]:
    """The series names in a PromQL expression (label matchers and strings removed)."""
    bare = re.sub(r"\{[^}]*\}|\"[^\"]*\"|\[[^\]]*\]", " ", expression)
    words = set(re.findall(r"\b([a-z_][a-z0-9_]*)\b(?!\s*\()", bare))
    return {w for w in words if w.startswith(("syncd_", "process_")) or w == "up"} - PROMQL_WORDS


def alert_expressions() -> list[str]:
    text = ALERTS.read_text()
    # expr: one line, or a folded block (>-) of indented lines.
    found = re.findall(r"expr: (?!>-)(.+)", text)
    found += [
        " ".join(block.split()) for block in re.findall(r"expr: >-\n((?:\s{10,}.+\n)+)", text)
    ]
    return found


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append(query["query"])
    return found


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found (scripts/test installs Debian's prometheus)", pytrace=False)
    return found


def scrape(daemon: Daemon) -> str:
    response = daemon.get("/metrics")
    assert response.status_code == 200
    return response.text


# --- the rule files --------------------------------------------------------------------------


def test_every_alert_rule_has_a_promtool_case_that_fires_it() -> None:
    rules = set(re.findall(r"^\s+- alert: (\w+)$", ALERTS.read_text(), re.MULTILINE))
    tests = ALERT_TESTS.read_text()
    fired = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels:", tests))
    assert len(rules) >= 12
    assert rules - fired == set()


def test_the_key_alert_fires_within_5_minutes_of_a_fresh_install_with_a_wrong_key() -> None:
    # The promtool case (run by test_deploy.py) that starts from nothing but 401s.
    tests = ALERT_TESTS.read_text()
    case = tests[tests.index("A fresh install with a wrong key") :]
    case = case[: case.index("\n\n  # ")]
    assert 'values: "Inf Inf' in case  # never succeeded: +Inf from the first scrape
    times = re.findall(
        r"eval_time: (\d+)m\n\s+alertname: SyncdApiKeyRejected\n\s+exp_alerts:\n\s+-", case
    )
    assert times and int(times[0]) <= 5


# --- a running daemon ------------------------------------------------------------------------


def test_a_running_daemon_exports_every_series_the_rules_and_the_dashboard_name(
    tmp_path: Path, processes: Processes
) -> None:
    db_url = f"sqlite:///{tmp_path / 'mirror.db'}"
    _, base_url = processes.sim_serve("--seed", "4", "--conversations", "20", "--messages", "2")
    sink = tmp_path / "events.jsonl"
    config = write_config(tmp_path / "syncd.toml", base_url=base_url, db_url=db_url, sink_path=sink)
    daemon = processes.daemon(config, db_url)
    first = samples(scrape(daemon))  # the very first scrape: every stream already there
    for stream in ("hot", "attention", "reconcile"):
        assert any(
            labels == {"workspace": "*", "stream": stream}
            for labels, _ in first["syncd_seconds_since_last_success"]
        ), stream
    daemon.wait_ready()
    wait_for(lambda: "syncd_pass_duration_seconds_count" in samples(scrape(daemon)), 20, "a pass")
    exposition = scrape(daemon)
    exported = samples(exposition)

    assert not [name for name in exported if name.endswith("_created")]
    (build,) = exported["syncd_build_info"]
    assert build[1] == 1.0 and build[0]["version"]
    assert exported["process_resident_memory_bytes"][0][1] > 0
    assert {labels["status"] for labels, _ in exported["syncd_api_auth_errors_total"]} == {
        "401",
        "403",
    }
    freshness = {
        (labels["workspace"], labels["stream"]): value
        for labels, value in exported["syncd_seconds_since_last_success"]
    }
    intervals = {
        (labels["workspace"], labels["stream"]): value
        for labels, value in exported["syncd_stream_interval_seconds"]
    }
    assert set(freshness) == set(intervals)  # the rules compare them label for label
    assert intervals[("*", "hot")] == 1.0  # sync.poll_interval_s of write_config
    assert math.isfinite(freshness[("*", "hot")])

    # The mirror's freshness per workspace (refresh age, head read, backoff queue, heals).
    wait_for(lambda: "syncd_head_read_active" in samples(scrape(daemon)), 20, "a head read")
    exposition = scrape(daemon)
    exported = samples(exposition)
    assert [labels for labels, _ in exported["syncd_head_read_active"]] == [{"workspace": "*"}]
    ages = {
        labels["workspace"]: age for labels, age in exported["syncd_refresh_oldest_age_seconds"]
    }
    assert ages and all(age >= 0 for age in ages.values())
    assert {labels["kind"] for labels, _ in exported["syncd_drift_heals_total"]} == {
        "transient",
        "real",
    }
    assert set(ages) == {
        labels["workspace"] for labels, _ in exported["syncd_attachments_unsettled"]
    }

    named = set().union(*(series_named(e) for e in alert_expressions() + dashboard_expressions()))
    assert {"syncd_seconds_since_last_success", "syncd_stream_auth_failed"} <= named
    assert sorted(named - {"up"} - families(exposition)) == []
    without_samples = sorted(named - {"up"} - ON_OCCURRENCE - set(exported))
    assert without_samples == []

    check = subprocess.run(
        [promtool(), "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    assert (check.returncode, check.stdout + check.stderr) == (0, "")
    code, _ = daemon.stop(20)
    assert code == 0, daemon.describe()


def test_a_fresh_install_with_a_wrong_key_is_infinitely_stale_failing_and_fails_the_check(
    db_url: str, tmp_path: Path, processes: Processes
) -> None:
    _, base_url = processes.sim_serve("--conversations", "5", "--activity-per-s", "0")
    config = write_config(tmp_path / "syncd.toml", base_url=base_url, db_url=db_url)
    config.write_text(config.read_text().replace('token = "', f'token = "{WRONG_KEY}" #'))
    daemon = processes.daemon(config, db_url)

    def refused() -> bool:
        auth = samples(scrape(daemon)).get("syncd_stream_auth_failed", [])
        return any(v == 1.0 and labels["stream"] == "hot" for labels, v in auth)

    wait_for(refused, 30, "the hot pass to fail with 401")
    exported = samples(scrape(daemon))
    hot = [
        v for labels, v in exported["syncd_seconds_since_last_success"] if labels["stream"] == "hot"
    ]
    assert hot == [math.inf]
    # Every stream that asks the API never succeeded (a refresh of an empty mirror may).
    stamps = exported["syncd_pass_last_success_timestamp_seconds"]
    asking = {"hot", "attention", "reconcile"}
    assert {value for labels, value in stamps if labels["stream"] in asking} == {0.0}
    assert {labels["stream"] for labels, _ in stamps} >= asking
    failures = exported["syncd_stream_consecutive_failures"]
    assert max(value for _, value in failures) >= 1
    assert (
        sum(v for labels, v in exported["syncd_api_auth_errors_total"] if labels["status"] == "401")
        >= 1
    )

    status, body = daemon.readiness()
    assert status == 503
    assert body["state"] == "failing", body
    assert any("401" in reason for reason in body["reasons"]), body

    check = subprocess.run(
        [*SYNCD, "status", "--check", "-c", str(config)],
        env=subprocess_env(db_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1, check.stdout + check.stderr
    assert "check: UNHEALTHY" in check.stdout
    assert "hot *: failing" in check.stdout and "401" in check.stdout
    assert WRONG_KEY not in check.stdout + check.stderr
    code, _ = daemon.stop(20)
    assert code == 0, daemon.describe()
    assert WRONG_KEY not in daemon.stderr()


def test_readyz_says_starting_while_the_first_hot_pass_is_under_way(
    tmp_path: Path, processes: Processes
) -> None:
    db_url = f"sqlite:///{tmp_path / 'mirror.db'}"
    # Every answer takes 2 s: the first hot pass cannot be done when /readyz is first asked.
    _, base_url = processes.sim_serve(
        "--conversations", "5", "--activity-per-s", "0", "--latency-ms", "2000"
    )
    config = write_config(tmp_path / "syncd.toml", base_url=base_url, db_url=db_url)
    config.write_text(config.read_text().replace("poll_interval_s = 1\n", "poll_interval_s = 30\n"))
    daemon = processes.daemon(config, db_url)

    def answered() -> tuple[int, dict[str, object]] | None:
        try:
            return daemon.readiness()
        except Exception:
            return None

    status, body = wait_for(answered, 30, "/readyz to answer")
    assert status == 503
    assert body["state"] == "starting", body
    code, _ = daemon.stop(20)
    assert code == 0, daemon.describe()


def test_a_second_daemon_on_a_busy_port_is_not_called_a_config_error(
    tmp_path: Path, processes: Processes
) -> None:
    _, base_url = processes.sim_serve("--conversations", "5", "--activity-per-s", "0")
    first_db = f"sqlite:///{tmp_path / 'first.db'}"
    first = processes.daemon(
        write_config(tmp_path / "first.toml", base_url=base_url, db_url=first_db), first_db
    )
    port = first.port
    second_db = f"sqlite:///{tmp_path / 'second.db'}"
    config = write_config(
        tmp_path / "second.toml",
        base_url=base_url,
        db_url=second_db,
        server={"listen": f"127.0.0.1:{port}"},
    )
    second = processes.daemon(config, second_db, name="second")
    assert second.wait_exit(60) == 1, second.describe()
    plain = [line for line in second.stderr().splitlines() if not line.startswith("{")]
    assert len(plain) == 1, second.stderr()
    assert "address is in use" in plain[0] and "config error" not in plain[0]
    assert first.running
