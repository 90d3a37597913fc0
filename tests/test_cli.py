"""exporter/cli.py in-process: flags and the exits that happen before serving."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter import __version__
from exporter.aws.targets import NO_REGION
from exporter.cli import DEFAULT_PORT, parse_args, read_config, run
from exporter.config import Config
from exporter.plan import prepare
from exporter.reload import Reloader
from tests.conftest import fake_credentials_sessions


def test_defaults_follow_exporter_conventions() -> None:
    args = parse_args([])
    assert args.listen_address == f":{DEFAULT_PORT}"
    assert args.telemetry_path == "/metrics"
    assert (args.log_level, args.log_format) == ("info", "logfmt")
    assert not args.demo
    assert 9100 <= DEFAULT_PORT <= 9999


def test_dotted_flags_are_accepted() -> None:
    args = parse_args(
        [
            "--web.listen-address=[::1]:9999",
            "--web.telemetry-path=/m",
            "--config.file=c.yml",
            "--log.level=debug",
            "--log.format=json",
            "--demo",
        ]
    )
    assert (args.listen_address, args.telemetry_path, args.config_file) == (
        "[::1]:9999",
        "/m",
        "c.yml",
    )
    assert (args.log_level, args.log_format, args.demo) == ("debug", "json", True)


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"conformance-pack-exporter {__version__}"


@pytest.mark.parametrize("path", ["metrics", "/-/metrics"])
def test_bad_telemetry_path_is_a_usage_error(path: str, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args([f"--web.telemetry-path={path}"])
    assert caught.value.code == 2
    assert "--web.telemetry-path" in capsys.readouterr().err


def test_bad_listen_address_exits_2(capsys) -> None:
    assert run(["--web.listen-address=nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("conformance-pack-exporter: invalid --web.listen-address")
    assert "Traceback" not in err


def test_bad_config_exits_2_naming_file_key_and_line(tmp_path, capsys) -> None:
    path = tmp_path / "c.yml"
    path.write_text("regions: [us-east-1]\nconcurrency: many\n")

    assert run([f"--config.file={path}"]) == 2

    err = capsys.readouterr().err
    assert err == (
        f"conformance-pack-exporter: configuration error: {path}:2: key 'concurrency': "
        "expected an integer, got str\n"
    )


def test_config_check_reports_ok(tmp_path, capsys) -> None:
    path = tmp_path / "c.yml"
    path.write_text("regions: [us-east-1]\n")
    assert run([f"--config.file={path}", "--config.check"]) == 0
    assert capsys.readouterr().out == f"{path}: OK\n"


def test_a_misspelt_aws_region_is_a_configuration_error(monkeypatch, capsys) -> None:
    monkeypatch.setenv("AWS_REGION", "us-esat-1")

    assert run(["--config.check"]) == 2

    assert capsys.readouterr().err == (
        "conformance-pack-exporter: configuration error: environment variable AWS_REGION: "
        "unknown region 'us-esat-1' (did you mean 'us-east-1'?)\n"
    )


BAD_CONFIGS = sorted((Path(__file__).parent / "fixtures" / "config").glob("*.bad.yml"))


def _refusal(argv: list[str], capsys) -> tuple[int, str]:
    code = run(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("path", BAD_CONFIGS, ids=lambda path: path.name)
def test_the_check_and_the_start_refuse_a_bad_config_alike(path: Path, capsys) -> None:
    checked = _refusal([f"--config.file={path}", "--config.check"], capsys)
    assert checked[0] == 2, "refused by the check first: a start it passed would serve"
    started = _refusal([f"--config.file={path}", "--web.listen-address=127.0.0.1:0"], capsys)

    assert checked == started
    err = checked[1]
    assert err.startswith(f"conformance-pack-exporter: configuration error: {path}:")
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("path", BAD_CONFIGS, ids=lambda path: path.name)
def test_a_reload_refuses_a_bad_config_with_the_start_s_line(path: Path, capsys) -> None:
    """The reload reads the file as the start does, and says why not in the same words."""
    started = _refusal([f"--config.file={path}", "--web.listen-address=127.0.0.1:0"], capsys)
    plan = prepare(Config(regions=("us-east-1",)), fake_credentials_sessions(), ())
    args = parse_args([f"--config.file={path}"])

    reloaded = Reloader(str(path), lambda: read_config(args), plan).reload()
    plan.scraper.close()

    assert started == (2, f"conformance-pack-exporter: {reloaded[1]}\n")
    assert not reloaded[0]


def test_the_check_refuses_what_only_building_the_targets_finds(monkeypatch, capsys) -> None:
    """No region anywhere is known only once the targets are built, without any AWS call."""
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    checked = _refusal(["--config.check"], capsys)
    assert checked[0] == 2, "refused by the check first: a start it passed would serve"
    started = _refusal(["--web.listen-address=127.0.0.1:0"], capsys)

    assert checked == started
    assert checked[1] == f"conformance-pack-exporter: {NO_REGION}\n"


def test_the_check_needs_no_credentials(tmp_path, monkeypatch, capsys) -> None:
    """Building what start-up builds asks AWS nothing: CI has no credentials."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    path = tmp_path / "c.yml"
    path.write_text(
        "regions: [us-east-1]\naccounts:\n  - name: management\n  - profile: audit\n"
        "aggregators:\n  - {name: organisation, region: us-east-1}\n"
        "organization_accounts: {role_name: reader}\n"
    )

    assert run([f"--config.file={path}", "--config.check"]) == 0
    assert capsys.readouterr().out == f"{path}: OK\n"


CHAINED = "arn:aws:iam::111111111111:role/exporter"


@pytest.mark.parametrize(
    ("base_profile", "refused"),
    [
        # The exporter's own credentials assume a role: a role assumed with them is chained.
        (f"role_arn = {CHAINED}\nsource_profile = keys\n", True),
        # Long-term keys: nothing chains, 12 hours are allowed.
        ("aws_access_key_id = AKIDTESTTESTTESTTEST\naws_secret_access_key = s\n", False),
    ],
    ids=["role-base", "keys-base"],
)
def test_role_chaining_refuses_sessions_over_an_hour(
    tmp_path, monkeypatch, capsys, base_profile: str, refused: bool
) -> None:
    """Known from how botocore finds the base credentials, with no AWS call: nothing listens
    at the endpoint, and an assume-role profile is only assumed on first use."""
    aws_config = tmp_path / "aws-config"
    aws_config.write_text(
        f"[profile base]\n{base_profile}"
        "[profile keys]\naws_access_key_id = AKIDTESTTESTTESTTEST\naws_secret_access_key = s\n"
    )
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_PROFILE", "base")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    path = tmp_path / "c.yml"
    path.write_text(
        "regions: [us-east-1]\naccounts:\n"
        "  - role_arn: arn:aws:iam::222222222222:role/reader\n"
        "  - role_arn: arn:aws:iam::333333333333:role/reader\n"
        "    duration_seconds: 7200\n"
    )

    checked = _refusal([f"--config.file={path}", "--config.check"], capsys)

    if not refused:
        assert checked[0] == 0
        return
    started = _refusal([f"--config.file={path}", "--web.listen-address=127.0.0.1:0"], capsys)
    assert checked == started
    code, err = checked
    assert code == 2
    assert err.startswith(
        f"conformance-pack-exporter: configuration error: {path}:5:"
        " key 'accounts[2].duration_seconds':"
    )
    assert "role chaining" in err
    assert err.count("\n") == 1
