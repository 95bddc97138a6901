"""Configuration: file + environment, errors naming the key, secrets never shown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from syncd.config import (
    FileSinkSettings,
    Settings,
    WebhookSinkSettings,
    load_settings,
    redacted_dump,
    resolve_config_path,
    safe_database_url,
    secret_values,
)
from syncd.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"
TOKEN = "sf_live_v1_tok3nSecretValue"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROTATED_SECRET = "whsec_c2Vjb25kLXNlY3JldC12YWx1ZQ=="
DB_PASSWORD = "hunter2-db-pass"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SYNCD_* variable from the outside, and a working directory without syncd.toml."""
    for name in list(os.environ):
        if name.upper().startswith("SYNCD_") or name == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def run_syncd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line in a child process, as a user would run it."""
    child_env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SYNCD_")}
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "syncd.cli", *args],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=120,
        check=False,
    )


def config_error(path: Path | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return str(caught.value)


# --- defaults ----------------------------------------------------------------------------------


def test_defaults_follow_the_design() -> None:
    settings = load_settings()
    assert settings.api.base_url == "https://api.ohallo.eu"
    assert settings.api.token is None
    assert settings.api.token_file is None
    assert settings.database.url.get_secret_value() == "sqlite:///syncd.db"
    assert settings.database.auto_migrate is True
    assert settings.sync.workspaces == []
    assert settings.sync.poll_interval_s == 30
    assert settings.sync.attention_interval_s == 15
    assert settings.sync.reconcile_interval_s == 3600
    assert settings.sync.status_counts_interval_s == 300
    assert settings.sync.terminal_statuses == ["resolved", "closed", "abandoned"]
    assert settings.events.retention_days == 30
    assert settings.events.drain_timeout_s == 30
    assert settings.daemon.shutdown_timeout_s == 20
    assert settings.server.listen == "127.0.0.1:9187"
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 9187)
    assert settings.sinks == []


def test_sink_defaults_follow_the_design(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.toml",
        f'[[sinks]]\nname = "hook"\ntype = "webhook"\nurl = "https://h.example/x"\n'
        f'secret = "{WEBHOOK_SECRET}"\n',
    )
    (sink,) = load_settings(path).sinks
    assert isinstance(sink, WebhookSinkSettings)
    assert sink.events == ["*"]
    assert sink.backfill == "deliver"
    assert sink.ordered is True
    assert sink.max_attempts == 8
    assert sink.timeout_s == 15
    assert sink.signing_secrets() == [WEBHOOK_SECRET]


def test_example_config_is_valid_and_so_is_every_commented_sink_example(tmp_path: Path) -> None:
    load_settings(EXAMPLE)
    text = EXAMPLE.read_text(encoding="utf-8")
    start = text.index("# [[sinks]]")
    head, examples = text[:start], text[start:]
    uncommented = re.sub(r"(?m)^# (\[\[sinks\]\]|[a-z_]+ = )", r"\1", examples)
    settings = load_settings(write(tmp_path / "all.toml", head + uncommented))
    assert sorted(sink.type for sink in settings.sinks) == [
        "command",
        "file",
        "nats",
        "stdout",
        "webhook",
    ]


def test_example_config_passes_config_check() -> None:
    # With a key: without one, syncd could not run, and config check says so (exit 2).
    result = run_syncd("config", "check", "-c", str(EXAMPLE), env={"SYNCD_API__TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert f"# config file: {EXAMPLE}" in result.stdout
    assert "Traceback" not in result.stderr


# --- errors: the key, one line, exit 2 ---------------------------------------------------------


def test_bad_value_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.toml", "[sync]\npoll_interval_s = 0\n")
    result = run_syncd("config", "check", "-c", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "sync.poll_interval_s: must be greater than 0" in lines[0]
    assert "Traceback" not in result.stderr


def test_invalid_toml_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    message = config_error(write(tmp_path / "broken.toml", "[api\nbase_url = 1\n"))
    assert "not valid TOML" in message


def test_unknown_key_in_the_file_is_named(tmp_path: Path) -> None:
    message = config_error(write(tmp_path / "c.toml", '[api]\nbase_ulr = "https://x.example"\n'))
    assert message.startswith("api.base_ulr: unknown key")
    assert config_error(write(tmp_path / "d.toml", "[syncc]\nx = 1\n")).startswith("syncc: unknown")


def test_unknown_key_in_a_sink_is_named_by_its_index(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[[sinks]]\nname = "a"\ntype = "file"\npth = "x"\n')
    message = config_error(path)
    assert "sinks[0].pth: unknown key" in message
    assert "sinks[0].path: required" in message


@pytest.mark.parametrize(
    "name",
    ["SYNCD_API__TOKNE", "SYNCD_SYNCC__POLL_INTERVAL_S", "SYNCD_API__TOKEN__X", "SYNCD_TOKEN"],
)
def test_unknown_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "1")
    message = config_error()
    assert message.startswith(f"environment variable {name}: names no setting")


def test_bad_environment_value_names_the_key_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SYNCD_SYNC__POLL_INTERVAL_S", "-1")
    path = write(tmp_path / "c.toml", "[sync]\nlookback_s = 5\n")
    assert config_error(path) == (
        "sync.poll_interval_s: must be greater than 0 (from $SYNCD_SYNC__POLL_INTERVAL_S)"
    )


def test_a_list_in_the_environment_must_be_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_SYNC__WORKSPACES", "ws_1,ws_2")
    message = config_error()
    assert message.startswith("environment variable SYNCD_SYNC__WORKSPACES: sync.workspaces")
    assert "JSON" in message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[[sinks]]\nname = "a"\n', "sinks[0].type: must be one of stdout, file"),
        ('[[sinks]]\nname = "a"\ntype = "webhok"\n', "sinks[0].type: must be one of"),
        (
            '[[sinks]]\nname = "a"\ntype = "stdout"\n[[sinks]]\nname = "a"\ntype = "stdout"\n',
            "sinks[1].name: 'a' is used twice",
        ),
        ('[[sinks]]\nname = "a"\ntype = "webhook"\nurl = "https://x.example"\n', "sinks[0].secret"),
        ('[[sinks]]\nname = "a"\ntype = "stdout"\nevents = []\n', "sinks[0].events"),
        ('[[sinks]]\nname = "a"\ntype = "command"\nargv = []\n', "sinks[0].argv"),
        ('[server]\nlisten = "9187"\n', "server.listen: must be HOST:PORT"),
        ("[api]\nmax_concurrency = 0\n", "api.max_concurrency: must be greater than 0"),
        ('[api]\nbase_url = "api.ohallo.eu"\n', "api.base_url: must be an http"),
        ('[logging]\nlevel = "loud"\n', "logging.level: must be"),
        ("[sync]\nlookback_s = inf\n", "sync.lookback_s: must be a finite number"),
    ],
)
def test_invalid_values_name_their_key(tmp_path: Path, toml: str, expected: str) -> None:
    message = config_error(write(tmp_path / "c.toml", toml))
    assert expected in message
    assert "\n" not in message


def test_an_invalid_webhook_secret_is_never_echoed(tmp_path: Path) -> None:
    leaked = "whsec_not*base64*sf_live_v1_leak"
    path = write(
        tmp_path / "c.toml",
        f'[[sinks]]\nname = "a"\ntype = "webhook"\nurl = "https://x.example"\n'
        f'secrets = ["{WEBHOOK_SECRET}", "{leaked}"]\n',
    )
    message = config_error(path)
    assert "sinks[0].secrets[1]: must be whsec_ followed by base64" in message
    assert leaked not in message and "leak" not in message and WEBHOOK_SECRET not in message


def test_a_secret_of_the_wrong_type_or_a_bad_database_url_is_never_echoed(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        f'[api]\ntoken = ["{TOKEN}"]\n[database]\nurl = "mysql://u:{DB_PASSWORD}@h/db"\n',
    )
    message = config_error(path)
    assert "api.token: must be a valid string" in message
    assert "database.url: must be a sqlite" in message
    assert TOKEN not in message and DB_PASSWORD not in message


# --- sources: file, environment, deep merge ---------------------------------------------------


def test_environment_overrides_one_key_and_keeps_the_rest_of_the_section(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "c.toml",
        '[api]\nbase_url = "https://file.example"\ntimeout_s = 7\n[sync]\nworkspaces = ["a"]\n',
    )
    monkeypatch.setenv("SYNCD_API__TIMEOUT_S", "9")
    monkeypatch.setenv("SYNCD_API__TOKEN", TOKEN)
    settings = load_settings(path)
    assert settings.api.base_url == "https://file.example"
    assert settings.api.timeout_s == 9
    assert settings.api.token is not None and settings.api.token.get_secret_value() == TOKEN
    assert settings.sync.workspaces == ["a"]


def test_sinks_from_the_environment_as_json_replace_the_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write(tmp_path / "c.toml", '[[sinks]]\nname = "file"\ntype = "stdout"\n')
    monkeypatch.setenv(
        "SYNCD_SINKS",
        json.dumps([{"name": "out", "type": "file", "path": "events.jsonl", "backfill": "skip"}]),
    )
    (sink,) = load_settings(path).sinks
    assert isinstance(sink, FileSinkSettings)
    assert (sink.name, sink.path, sink.backfill) == ("out", Path("events.jsonl"), "skip")


def test_empty_environment_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_API__TOKEN", "")
    monkeypatch.setenv("SYNCD_SINKS", "")
    settings = load_settings()
    assert settings.api.token is None
    assert settings.sinks == []


def test_config_file_comes_from_syncd_config_then_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert resolve_config_path(None) is None
    write(tmp_path / "syncd.toml", "[api]\ntimeout_s = 1\n")
    assert load_settings().api.timeout_s == 1
    elsewhere = write(tmp_path / "elsewhere.toml", "[api]\ntimeout_s = 2\n")
    monkeypatch.setenv("SYNCD_CONFIG", str(elsewhere))
    assert load_settings().api.timeout_s == 2
    explicit = write(tmp_path / "explicit.toml", "[api]\ntimeout_s = 3\n")
    assert load_settings(explicit).api.timeout_s == 3


def test_a_missing_config_file_is_an_error_saying_where_it_was_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SYNCD_CONFIG", str(tmp_path / "nope.toml"))
    message = config_error()
    assert "nope.toml ($SYNCD_CONFIG) does not exist" in message


# --- api.token_file ----------------------------------------------------------------------------


def test_token_file_is_read_and_its_trailing_newline_stripped(tmp_path: Path) -> None:
    token_file = write(tmp_path / "token", TOKEN + "\n")
    settings = load_settings(write(tmp_path / "c.toml", f'[api]\ntoken_file = "{token_file}"\n'))
    assert settings.api.require_token() == TOKEN


def test_token_file_expands_the_systemd_credentials_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write(tmp_path / "token", TOKEN + "\r\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    monkeypatch.setenv("SYNCD_API__TOKEN_FILE", "${CREDENTIALS_DIRECTORY}/token")
    settings = load_settings()
    assert settings.api.token_file == tmp_path / "token"
    assert settings.api.require_token() == TOKEN


def test_token_file_with_an_unset_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_API__TOKEN_FILE", "$CREDENTIALS_DIRECTORY/token")
    message = config_error()
    assert message.startswith("api.token_file: the environment variable CREDENTIALS_DIRECTORY")


def test_missing_token_file_exits_2_naming_api_token_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", f'[api]\ntoken_file = "{tmp_path / "absent"}"\n')
    result = run_syncd("config", "check", "-c", str(path))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "api.token_file: cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_empty_token_file_and_token_plus_token_file_are_errors(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty", "\n")
    assert "api.token_file:" in config_error(
        write(tmp_path / "a.toml", f'[api]\ntoken_file = "{empty}"\n')
    )
    both = write(tmp_path / "b.toml", f'[api]\ntoken = "{TOKEN}"\ntoken_file = "{empty}"\n')
    assert "api.token_file: set either api.token or api.token_file" in config_error(both)


def test_require_token_explains_how_to_set_one() -> None:
    with pytest.raises(ConfigError, match=r"api\.token: not set"):
        load_settings().api.require_token()


# --- what is shown: secrets masked --------------------------------------------------------------


def secretive_config(tmp_path: Path) -> Path:
    return write(
        tmp_path / "secret.toml",
        f"""
[api]
token = "{TOKEN}"
[database]
url = "postgresql://syncd:{DB_PASSWORD}@db.example:5432/mirror"
[[sinks]]
name = "hook"
type = "webhook"
url = "https://user:urlpass-123@hooks.example/in"
secret = "{WEBHOOK_SECRET}"
secrets = ["{ROTATED_SECRET}"]
headers = {{ Authorization = "Basic aGVhZGVyLXNlY3JldA==" }}
""",
    )


def test_config_check_masks_token_webhook_secrets_and_database_password(tmp_path: Path) -> None:
    path = secretive_config(tmp_path)
    result = run_syncd("config", "check", "-c", str(path))
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    for secret in (TOKEN, WEBHOOK_SECRET, ROTATED_SECRET, DB_PASSWORD, "urlpass-123", "aGVhZGVy"):
        assert secret not in output
    shown = tomllib.loads(result.stdout)
    assert shown["api"]["token"] == "***"
    assert shown["database"]["url"] == "postgresql+psycopg://syncd:***@db.example:5432/mirror"
    assert shown["sinks"][0]["secret"] == "***"
    assert shown["sinks"][0]["secrets"] == ["***"]
    assert shown["sinks"][0]["url"] == "https://user:***@hooks.example/in"


def test_config_check_without_a_file_says_so_and_fails_without_a_token() -> None:
    # The CLI's rule: exit 2 when it could not run, and without a key syncd cannot.
    result = run_syncd("config", "check")
    assert result.returncode == 2, result.stderr
    assert result.stdout.startswith("# no config file; defaults and environment only")
    assert "error: api.token: not set" in result.stderr
    tomllib.loads(result.stdout)


def test_config_check_lists_the_overriding_environment_variables() -> None:
    result = run_syncd("config", "check", env={"SYNCD_API__TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert "# overridden by the environment: SYNCD_API__TOKEN" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    assert "api.token: not set" not in result.stderr


def test_redacted_dump_and_secret_values(tmp_path: Path) -> None:
    settings = load_settings(secretive_config(tmp_path))
    assert TOKEN not in json.dumps(redacted_dump(settings))
    assert set(secret_values(settings)) >= {TOKEN, WEBHOOK_SECRET, ROTATED_SECRET, DB_PASSWORD}
    assert safe_database_url("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.api.timeout_s = 1  # type: ignore[misc]
    assert isinstance(settings, Settings)


def test_every_nats_server_password_and_webhook_url_secret_is_masked(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "sinks": [
                {
                    "name": "bus",
                    "type": "nats",
                    "url": "nats://u:natspw-one@h1:4222, nats://u:natspw-two@h2:4222,"
                    "nats://s3cr3t-token@h3:4222",
                },
                {
                    "name": "hook",
                    "type": "webhook",
                    "url": "https://user:urlpass-123@hooks.example/in?token=query-tok-9&x",
                    "secret": WEBHOOK_SECRET,
                },
            ]
        }
    )
    masked = secret_values(settings)
    for secret in ("natspw-one", "natspw-two", "s3cr3t-token", "urlpass-123", "query-tok-9"):
        assert secret in masked  # so the log masker hides it wherever it would appear
    shown = redacted_dump(settings)["sinks"]
    assert shown[0]["url"] == "nats://u:***@h1:4222,nats://u:***@h2:4222,nats://***@h3:4222"
    assert shown[1]["url"] == "https://user:***@hooks.example/in?token=***&x"
