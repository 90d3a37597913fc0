"""This machine's pip settings as build secrets, so the image's build stage reaches the index.

    python deploy/image/pip_settings.py OUT_DIR

Reads `pip config list` (pip's configuration files and PIP_* variables, as the pip of this
interpreter sees them), writes OUT_DIR/pip.conf for the build (its [global] section holds the
variables, which pip ranks above every file) and prints the `buildah build` arguments that pass
it, and the CA bundle and client certificate it names, as the secrets the Dockerfile mounts:
`pip.conf`, `pip-cert` and `pip-client-cert` (empty files when unused). Secrets are mounted
for one RUN only and never stored in a layer or in the image's history, so credentials in an
index URL stay out of the image.

Left out, with a note on stderr: places on this machine (local directories and file:// URLs
given as find-links, index URLs or constraints, and where pip would write a cache or a log),
which the build cannot see. Exit status: 0 done, 2 bad arguments.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Secret ids the Dockerfile mounts (under /run/secrets/) and the pip settings they carry.
CONFIG_ID = "pip.conf"
FILE_IDS = {"cert": "pip-cert", "client-cert": "pip-client-cert"}
MOUNT_DIR = "/run/secrets"
# Settings whose values are lists of locations: remote ones are kept, local ones dropped.
LOCATION_LISTS = frozenset(
    {"index-url", "extra-index-url", "find-links", "constraint", "build-constraint"}
)
# Settings naming where pip writes or what it runs on this machine: meaningless in the build.
HOST_ONLY = frozenset(
    {"cache-dir", "log", "log-file", "local-log", "src", "target", "prefix", "root", "python"}
)
# pip's name for the variables' variant in `pip config list`.
ENV_VARIANT = ":env:"
REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


@dataclass
class BuildSettings:
    """pip.conf sections for the build, the files it needs, and what was left out."""

    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def read_config_list(output: str) -> dict[str, dict[str, str]]:
    """`pip config list` output (`section.key='value'` lines) as {section: {key: value}};
    the variables' `:env:` section is kept apart."""
    sections: dict[str, dict[str, str]] = {}
    for line in output.splitlines():
        name, separator, quoted = line.partition("=")
        section, dot, key = name.rpartition(".")
        if not (separator and dot and section and key):
            continue
        value = ast.literal_eval(quoted)
        sections.setdefault(section, {})[key] = str(value)
    return sections


def redact(value: str) -> str:
    """A setting's value fit for a log line: no user or password of a URL."""
    return USERINFO.sub("***@", value)


def for_build(config: dict[str, dict[str, str]]) -> BuildSettings:
    """The settings the build stage's pip runs with: pip's precedence kept (a variable beats
    any file), files named by cert/client-cert mounted as secrets, local places left out."""
    settings = BuildSettings()
    variables = config.get(ENV_VARIANT, {})
    for section, values in config.items():
        if section == ENV_VARIANT:
            continue
        kept = {key: value for key, value in values.items() if key not in variables}
        if kept:
            settings.sections[section] = kept
    if variables:
        settings.sections.setdefault("global", {}).update(variables)
    for section, values in settings.sections.items():
        for key in list(values):
            where = f"{section}.{key}={redact(values[key])}"
            if key in HOST_ONLY:
                del values[key]
                settings.dropped.append(f"{where}: a place on this machine")
            elif key in FILE_IDS:
                path = Path(values[key])
                if not path.is_file():
                    del values[key]
                    settings.dropped.append(f"{where}: not a file")
                    continue
                settings.files[FILE_IDS[key]] = path
                values[key] = f"{MOUNT_DIR}/{FILE_IDS[key]}"
            elif key in LOCATION_LISTS:
                locations = values[key].split()
                remote = [
                    location
                    for location in locations
                    if REMOTE.match(location) and not location.lower().startswith("file:")
                ]
                if remote != locations:
                    settings.dropped.append(f"{where}: local paths left out")
                if remote:
                    values[key] = " ".join(remote)
                else:
                    del values[key]
    settings.sections = {name: values for name, values in settings.sections.items() if values}
    return settings


def pip_config_list() -> str:
    """`pip config list` of this interpreter's pip; empty (pip's defaults) without pip."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        print(
            f"pip_settings: `pip config list` failed, the build uses pip's defaults: "
            f"{result.stderr.strip()}",
            file=sys.stderr,
        )
        return ""
    return result.stdout


def write_secrets(settings: BuildSettings, out_dir: Path) -> list[str]:
    """pip.conf and empty stand-ins for unused files in `out_dir`; the buildah arguments."""
    parser = configparser.RawConfigParser()
    for section, values in settings.sections.items():
        parser[section] = values
    config_path = out_dir / CONFIG_ID
    with os.fdopen(os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        parser.write(f)
    sources = {CONFIG_ID: config_path}
    for secret in FILE_IDS.values():
        source = settings.files.get(secret)
        if source is None:
            source = out_dir / secret
            source.touch(mode=0o600)
        sources[secret] = source
    return [f"--secret=id={secret},src={source}" for secret, source in sources.items()]


def main(argv: list[str]) -> int:
    """Write the secrets into argv[0] (a directory) and print the buildah arguments."""
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: pip_settings.py OUT_DIR (an existing directory)", file=sys.stderr)
        return 2
    settings = for_build(read_config_list(pip_config_list()))
    for note in settings.dropped:
        print(f"pip_settings: not passed to the build: {note}", file=sys.stderr)
    print("\n".join(write_secrets(settings, Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
