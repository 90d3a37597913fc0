"""Real Prometheus and Alertmanager (Debian's packages), started and stopped by the tests.

A missing binary fails the test instead of skipping it: CI must not pass by testing nothing.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.conftest import wait_for

JOB = "conformance-pack-exporter"


def binary(name: str) -> str:
    """Path of a required tool; fails (never skips) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; .ci/run lists the Debian packages the tests need")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(url: str, data: bytes | None = None, timeout: float = 10.0) -> Any:
    request = urllib.request.Request(url, data=data)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


class Server:
    """A child process serving HTTP on a loopback port, stopped at teardown."""

    def __init__(self, name: str, command: list[str], port: int, log_path: Path):
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log_path.read_text()}")
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)

        wait_for(ready, timeout, f"{self.name} to be ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class PrometheusServer(Server):
    """Prometheus with a query helper that turns API errors into test failures."""

    def _api(self, endpoint: str, params: dict[str, str]) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
        try:
            body = http_json(url)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{params.get('query')!r}: {error.read().decode()}") from None
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def query(self, expr: str, time: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr}
        if time is not None:
            params["time"] = str(time)
        return self._api("query", params)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        params = {"query": expr, "start": str(start), "end": str(end), "step": str(step)}
        return self._api("query_range", params)

    def wait_until(self, expr: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The first non-empty instant result of `expr`."""
        return list(wait_for(lambda: self.query(expr), timeout, f"a result for {expr!r}"))

    def alerts(self) -> list[dict[str, Any]]:
        return list(http_json(f"{self.url}/api/v1/alerts")["data"]["alerts"])


ServerKind = TypeVar("ServerKind", bound=Server)


class Servers:
    """The tools one test starts, each from a YAML config in its tmp_path; stopped at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._started: list[Server] = []

    def start(
        self,
        kind: type[ServerKind],
        tool: str,
        config: dict[str, Any],
        storage_flag: str,
        *flags: str,
    ) -> ServerKind:
        """Run `tool` on a free loopback port with `config`, and wait until it is ready."""
        name = f"{tool.removeprefix('prometheus-')}-{len(self._started)}"
        config_path = self._tmp_path / f"{name}.yml"
        config_path.write_text(yaml.safe_dump(config))
        port = free_port()
        command = [
            binary(tool),
            f"--config.file={config_path}",
            f"{storage_flag}={self._tmp_path / f'{name}-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            *flags,
        ]
        server = kind(name, command, port, self._tmp_path / f"{name}.log")
        self._started.append(server)
        server.wait_ready()
        return server

    def stop(self) -> None:
        for server in self._started:
            server.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    started = Servers(tmp_path)
    yield started
    started.stop()


@pytest.fixture
def prometheus_factory(servers: Servers) -> Callable[..., PrometheusServer]:
    """Starts Prometheus scraping the given targets as job `conformance-pack-exporter`."""
    binary("prometheus")  # fail at set-up, before the test's own work

    def start(
        targets: list[str],
        *,
        rule_files: Sequence[Path] = (),
        alertmanager_url: str | None = None,
        scrape_interval: str = "1s",
        scrape_configs: list[dict[str, Any]] | None = None,
    ) -> PrometheusServer:
        """`scrape_configs` replaces the plain job over `targets` (e.g. for TLS settings)."""
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": scrape_interval,
                "scrape_timeout": scrape_interval,
                "evaluation_interval": scrape_interval,
            },
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": scrape_configs
            or [
                {
                    "job_name": JOB,
                    "static_configs": [{"targets": [t.removeprefix("http://") for t in targets]}],
                }
            ],
        }
        if alertmanager_url:
            host = alertmanager_url.removeprefix("http://")
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
        return servers.start(
            PrometheusServer,
            "prometheus",
            config,
            "--storage.tsdb.path",
            "--rules.alert.resend-delay=1s",
        )

    return start


@pytest.fixture
def alertmanager_factory(servers: Servers) -> Callable[[dict[str, Any]], Server]:
    """Starts Alertmanager with the given configuration, clustering off."""
    binary("prometheus-alertmanager")

    def start(config: dict[str, Any]) -> Server:
        return servers.start(
            Server, "prometheus-alertmanager", config, "--storage.path", "--cluster.listen-address="
        )

    return start
