"""exporter/cli.py in-process: flags and the exits that happen before serving."""

from __future__ import annotations

import pytest

from exporter import __version__
from exporter.cli import DEFAULT_PORT, parse_args, run


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
