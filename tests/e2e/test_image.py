"""End to end: the container image, built from the Dockerfile with buildah and run.

deploy/image/build.sh builds it as it is documented to (buildah, a debootstrap stand-in for
debian:bookworm-slim, no registry, no daemon; cached layers make a rebuild quick). Each test
runs the image with `buildah run` in one working container, on the host's network so that the
test reaches it on loopback, with the image's own user, environment, ENTRYPOINT and HEALTHCHECK
read from its configuration. buildah, debootstrap and root are required: without them the
tests fail (CI must not pass by testing nothing); .ci/run installs both tools.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from exporter import __version__
from exporter.cli import DEFAULT_PORT
from tests.conftest import REPO, ExporterProcess, parse_exposition, run_tool
from tests.e2e.conftest import binary
from tests.test_dockerfile import runtime_uid_gid

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport tomllib came from
    import tomli as tomllib  # type: ignore[import-not-found]

pytestmark = pytest.mark.e2e

BUILD_SCRIPT = REPO / "deploy" / "image" / "build.sh"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
TAG = "localhost/conformance-pack-exporter:e2e"
BUILD_TIMEOUT_SECONDS = 1800
VENV = "/opt/conformance-pack-exporter"
# The only places the image's user may write to: sticky, world-writable, empty (and checked
# to stay so). Docker's --read-only and Kubernetes' readOnlyRootFilesystem take even these.
SCRATCH_DIRECTORIES = ("tmp", "var/tmp", "run/lock")
# buildah creates and removes its /run/.containerenv mount point on each `buildah run`, which
# changes the modification time of /run, and of /run alone.
BUILDAH_TOUCHES = ("run",)


def buildah(*args: str, timeout: float = 120) -> str:
    """buildah with the storage driver deploy/image/build.sh uses; fails the test on error."""
    return run_tool(binary("buildah"), "--storage-driver", "vfs", *args, timeout=timeout)


@dataclass(frozen=True)
class Image:
    """The built image: its id, its Docker-format configuration, the commit it was built at."""

    id: str
    config: dict[str, Any]
    revision: str

    @property
    def entrypoint(self) -> list[str]:
        return list(self.config["Entrypoint"])

    @property
    def healthcheck(self) -> list[str]:
        test = list(self.config["Healthcheck"]["Test"])
        assert test[0] == "CMD", f"HEALTHCHECK must use the exec form, not {test[0]}"
        return test[1:]

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config["Labels"])


@dataclass(frozen=True)
class Container:
    """A working container of the image and its root file system, mounted on this machine."""

    name: str
    root: Path

    def command(self, *argv: str) -> list[str]:
        """`buildah run` of argv in the container, with the host's network."""
        return [
            binary("buildah"),
            "--storage-driver",
            "vfs",
            "run",
            "--isolation",
            "chroot",
            "--network",
            "host",
            self.name,
            "--",
            *argv,
        ]

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*argv), capture_output=True, text=True, timeout=timeout, check=False
        )


def git_head() -> str:
    """The checkout's commit, as deploy/image/build.sh labels the image with it."""
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


@pytest.fixture(scope="module")
def image() -> Image:
    """The image deploy/image/build.sh builds from this checkout."""
    binary("buildah")
    binary("debootstrap")
    if os.geteuid() != 0:
        pytest.fail("building and running the image needs root (debootstrap, buildah chroot)")
    revision = git_head()
    build = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--tag", TAG],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    assert build.returncode == 0, f"{BUILD_SCRIPT} failed:\n{build.stderr[-6000:]}"
    image_id = build.stdout.strip().splitlines()[-1]
    inspected = json.loads(buildah("inspect", "--type", "image", image_id))
    return Image(image_id, inspected["Docker"]["config"], revision)


@pytest.fixture(scope="module")
def container(image: Image) -> Iterator[Container]:
    name = buildah("from", "--pull=never", image.id).strip().splitlines()[-1]
    try:
        root = Path(buildah("mount", name).strip().splitlines()[-1])
        yield Container(name, root)
    finally:
        buildah("rm", name)


def port_is_free(port: int) -> bool:
    """Nothing listens on the loopback port (connections in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def children(pid: int) -> list[int]:
    """Every process below `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces and parentheses.
            parents[int(entry.name)] = int(status.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent:
                found.append(child)
                frontier.append(child)
    return found


class Served:
    """The image's ENTRYPOINT with --demo, run by `buildah run` on the HEALTHCHECK's port."""

    def __init__(self, container: Container, image: Image) -> None:
        self.container = container
        self.process = ExporterProcess(
            ["--demo", f"--web.listen-address=127.0.0.1:{DEFAULT_PORT}"],
            os.environ,
            program=container.command(*image.entrypoint),
        )
        try:
            self.process.wait_until_listening()
        except BaseException:
            self.kill()
            raise

    def exporter_pid(self) -> int:
        """The exporter's process (inside the container) as this machine sees it."""
        for pid in children(self.process.process.pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0] == f"{VENV}/bin/python".encode() and b"--demo" in argv:
                return pid
        raise AssertionError("no exporter process under `buildah run`")

    def stop(self) -> int:
        """SIGTERM to the exporter itself; `buildah run` then exits with its status."""
        if self.process.process.poll() is None:
            os.kill(self.exporter_pid(), signal.SIGTERM)
        return self.process.process.wait(30)

    def kill(self) -> None:
        """SIGKILL to what `buildah run` started (it would outlive buildah), then to buildah
        if it does not exit and clean up by itself."""
        runner = self.process.process
        if runner.poll() is None:
            for pid in reversed(children(runner.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                runner.wait(10)
            except subprocess.TimeoutExpired:
                runner.kill()
                runner.wait(10)


@pytest.fixture
def served(image: Image, container: Container) -> Iterator[Served]:
    if not port_is_free(DEFAULT_PORT):
        pytest.fail(f"port {DEFAULT_PORT}, which the image's HEALTHCHECK checks, is in use")
    served = Served(container, image)
    try:
        yield served
    finally:
        served.kill()


def status_fields(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def test_demo_serves_pack_series_as_the_unprivileged_user(
    served: Served, container: Container
) -> None:
    samples = parse_exposition(served.process.scrape())
    states = samples["aws_config_conformance_pack_state"]
    assert {labels["region"] for labels, _ in states} >= {"us-east-1"}
    assert any(value == 1 for _, value in states)
    (build_info,) = samples["aws_config_exporter_build_info"]
    assert build_info[0]["version"] == __version__
    for path in ("/-/healthy", "/-/ready"):
        status, _, _ = served.process.get(path)
        assert status == 200, path

    pid = served.exporter_pid()
    # Its root is the container's file system (buildah bind-mounts it elsewhere: same inode).
    assert os.path.samefile(f"/proc/{pid}/root", container.root)
    uid, gid = runtime_uid_gid()
    fields = status_fields(pid)
    assert fields["Uid"].split() == [str(uid)] * 4
    assert fields["Gid"].split() == [str(gid)] * 4
    assert int(fields["CapEff"], 16) == 0
    assert served.stop() == 0


def test_healthcheck_command_tells_up_from_down(
    served: Served, container: Container, image: Image
) -> None:
    url = next(argument for argument in image.healthcheck if "http://" in argument)
    match = re.search(r"'(http://[^']+)'", url)
    assert match, url
    parts = urlsplit(match[1])
    assert (parts.hostname, parts.port, parts.path) == ("127.0.0.1", DEFAULT_PORT, "/-/healthy")
    # urlopen gives up before the HEALTHCHECK's timeout, so a hang reads as a failed check.
    timeout = re.search(r"timeout=(\d+(?:\.\d+)?)\)", url)
    assert timeout, "urlopen needs a timeout"
    assert float(timeout[1]) * 1e9 < image.config["Healthcheck"]["Timeout"]

    up = container.run(*image.healthcheck)
    assert up.returncode == 0, up.stdout + up.stderr
    assert served.stop() == 0
    down = container.run(*image.healthcheck)
    assert down.returncode != 0


def test_version_is_the_package_version(container: Container, image: Image) -> None:
    result = container.run(*image.entrypoint, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"conformance-pack-exporter {__version__}"


def tree_state(root: Path) -> dict[str, tuple[int, ...]]:
    """Every path under `root`: type and mode, owner, size, modification time, link target."""
    state: dict[str, tuple[int, ...]] = {}
    for directory, subdirectories, names in os.walk(root):
        for name in [*subdirectories, *names]:
            path = Path(directory, name)
            info = path.lstat()
            relative = path.relative_to(root).as_posix()
            modified = 0 if relative in BUILDAH_TOUCHES else info.st_mtime_ns
            target = hash(os.readlink(path)) if path.is_symlink() else 0
            state[relative] = (info.st_mode, info.st_uid, info.st_gid, info.st_size, modified)
            state[relative] += (target,)
    return state


def test_nothing_is_written_to_the_root_file_system_while_serving(
    image: Image, container: Container
) -> None:
    uid, gid = runtime_uid_gid()
    before = tree_state(container.root)
    writable = sorted(
        path
        for path, (mode, owner, group, *_) in before.items()
        if not stat.S_ISLNK(mode)  # a symlink's own mode means nothing
        and (owner == uid or (group == gid and mode & 0o020) or mode & 0o002)
    )
    assert writable == sorted(SCRATCH_DIRECTORIES), "writable for the image's user"
    for directory in SCRATCH_DIRECTORIES:
        assert not list((container.root / directory).iterdir()), directory

    served = Served(container, image)
    try:
        for _ in range(3):
            served.process.scrape()
        served.process.scrape({"Accept": "application/openmetrics-text"})
        assert served.process.get("/-/ready")[0] == 200
        healthcheck = container.run(*image.healthcheck)
        assert healthcheck.returncode == 0, healthcheck.stderr
        assert served.stop() == 0
    finally:
        served.kill()

    after = tree_state(container.root)
    changed = sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
    assert not changed, changed


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_image_holds_this_checkout_and_no_build_tools(container: Container) -> None:
    site_packages = sorted(container.root.glob(f"{VENV.lstrip('/')}/lib/python3.*/site-packages"))
    assert len(site_packages) == 1, site_packages
    installed = {
        path.relative_to(site_packages[0]).as_posix(): sha256(path)
        for path in (site_packages[0] / "exporter").rglob("*.py")
    }
    checkout = {
        path.relative_to(REPO).as_posix(): sha256(path)
        for path in (REPO / "exporter").rglob("*.py")
    }
    assert installed == checkout, "the image was not built from this checkout's exporter/"
    assert (container.root / VENV.lstrip("/") / "wheels.sha256").is_file()

    python = re.fullmatch(r"python(\d+)\.(\d+)", site_packages[0].parent.name)
    assert python, site_packages[0]
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert minimum, "requires-python is no longer >=X.Y: update this test"
    assert (int(python[1]), int(python[2])) >= (int(minimum[1]), int(minimum[2]))

    # The build's inputs and caches, and the home directory nothing may need.
    leftovers = ["wheels", "src", "opt/build", "root/.cache", "home/exporter"]
    tools = ["usr/bin/gcc", "usr/bin/cc", "usr/bin/make", "usr/bin/pip3", f"{VENV}/bin/pip"]
    tools += ["usr/bin/curl", "usr/bin/wget"]  # the HEALTHCHECK uses Python's urllib
    present = [
        path for path in [*leftovers, *tools] if (container.root / path.lstrip("/")).exists()
    ]
    assert not present, present
    pip_modules = list(container.root.glob("usr/lib/python3*/**/pip/__init__.py"))
    pip_modules += list(site_packages[0].glob("pip/__init__.py"))
    assert not pip_modules, pip_modules


def test_configuration_and_labels(image: Image) -> None:
    uid, gid = runtime_uid_gid()
    assert image.config["User"] == f"{uid}:{gid}"
    assert list(image.config["ExposedPorts"]) == [f"{DEFAULT_PORT}/tcp"]
    assert image.entrypoint == ["conformance-pack-exporter"]
    assert PYPROJECT["project"]["scripts"]["conformance-pack-exporter"] == "exporter.cli:main"
    assert not image.config.get("Cmd"), "arguments come from `docker run IMAGE ...`"
    env = dict(item.split("=", 1) for item in image.config["Env"])
    assert env["PATH"].startswith(f"{VENV}/bin:")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"

    project = PYPROJECT["project"]
    prefix = "org.opencontainers.image."
    labels = image.labels
    assert labels[prefix + "title"] == project["name"]
    assert labels[prefix + "description"] == project["description"]
    assert labels[prefix + "licenses"] == project["license"]
    assert labels[prefix + "version"] == __version__
    assert labels[prefix + "revision"] == image.revision
    (base,) = set(re.findall(r"^FROM (debian:\S+)", (REPO / "Dockerfile").read_text(), re.M))
    assert labels[prefix + "base.name"] == f"docker.io/library/{base}"
    for key in ("source", "url", "documentation"):
        assert labels[prefix + key].startswith("https://github.com/"), key
    documentation = labels[prefix + "documentation"].split("/blob/main/", 1)[1]
    assert (REPO / documentation).is_file(), documentation
