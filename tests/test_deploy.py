"""The deployment files, checked without Docker, Kubernetes or AWS.

- deploy/compose/: every mount exists, every port and service name agrees with the
  Prometheus, Alertmanager and Grafana files it mounts, and those pass promtool and amtool
  (laid out as the containers see them). A missing promtool or amtool FAILS.
- deploy/kubernetes/: selectors match labels, ports agree from container to ServiceMonitor,
  probes hit real routes of the exporter's WSGI app, the ConfigMap's file passes the config
  parser, and the PrometheusRule is what the generator makes of the shipped rules.
  deploy/kubernetes/sharded/ gives each replica an address of its own (a StatefulSet behind a
  headless Service, no load-balancing address), and deploy/prometheus/sharded.yml probes every
  target on exactly one of those addresses.
- deploy/generate_rules.py: with the defaults it reproduces the shipped rule file and
  PrometheusRule byte for byte; it refuses bad arguments (exit 2, no traceback) and a rule
  file it cannot rewrite. Its output for another site is checked in tests/test_alerts.py.
- deploy/iam/: the policy grants exactly `exporter.collectors.IAM_ACTIONS`, and the trust policies
  agree with the ServiceAccount and with each other.
- deploy/stackset/: the member-account role template parses as plain YAML, refers only to what
  it defines, grants exactly the read actions, trusts the exporter's role as the example trust
  policy does (external id only when given, NoEcho), and is the role the exporter assumes.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest
import yaml

from deploy.generate_rules import GenerationError, Site, customize, render_prometheusrule
from exporter.cli import parse_args
from exporter.collectors import IAM_ACTIONS
from exporter.config import ConfigError, OrganizationAccountsConfig, load_config, parse_config
from exporter.config_accounts import EXTERNAL_ID_PATTERN, ROLE_ARN_PATTERN, ROLE_NAME_PATTERN
from exporter.http import parse_listen_address
from tests.conftest import REPO, run_tool
from tests.test_alerts import RUNBOOK_URL_PREFIX, amtool, promtool
from tests.test_dockerfile import get_status, runtime_uid_gid

COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yml"
KUBERNETES_DIR = REPO / "deploy" / "kubernetes"
IAM_DIR = REPO / "deploy" / "iam"
RULES_FILE = REPO / "alerts" / "conformance-pack-exporter.rules.yml"
EXAMPLE_PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"
SHARDED_PROMETHEUS = REPO / "deploy" / "prometheus" / "sharded.yml"
SHARDED_DIR = KUBERNETES_DIR / "sharded"
EXAMPLE_ALERTMANAGER = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
DEPLOY_DOC = REPO / "README.md"
GENERATOR = REPO / "deploy" / "generate_rules.py"
PROMETHEUS_RULE = KUBERNETES_DIR / "prometheusrule.yaml"

# The job name the alert rules select on (`up{job=...}`); every way of scraping must yield it.
JOB = "conformance-pack-exporter"
# The URLs README.md gives for the demo stack: service → published port.
DEMO_PORTS = {"exporter": 9869, "prometheus": 9090, "alertmanager": 9093, "grafana": 3000}
# Listen ports of the images when no flag says otherwise.
DEFAULT_LISTEN_PORTS = {"prometheus": 9090, "alertmanager": 9093, "grafana": 3000}
PINNED_TAG = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+$")


def load_yaml(path: Path) -> Any:
    """One YAML document, failing with its path when it is unreadable."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        pytest.fail(f"cannot load {path.relative_to(REPO)}: {error}")


def load_json(path: Path) -> Any:
    """One JSON file, failing with its path when it is unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        pytest.fail(f"cannot load {path.relative_to(REPO)}: {error}")


def flag_values(arguments: list[str], name: str) -> list[str]:
    """Values of `--name=value` (or `--name value`) in an argument list."""
    values = []
    for index, argument in enumerate(arguments):
        if argument.startswith(f"--{name}="):
            values.append(argument.split("=", 1)[1])
        elif argument == f"--{name}" and index + 1 < len(arguments):
            values.append(arguments[index + 1])
    return values


# ---------------------------------------------------------------------------------------
# Compose demo stack


@dataclass(frozen=True)
class Mount:
    """A bind mount: the file or directory in the repository, where the container sees it."""

    source: Path
    target: PurePosixPath
    read_only: bool


def compose() -> dict[str, Any]:
    """The compose file."""
    document = load_yaml(COMPOSE_FILE)
    assert isinstance(document, dict)
    return document


def service(name: str) -> dict[str, Any]:
    """One compose service."""
    services = compose()["services"]
    assert name in services, f"compose has no service {name!r}"
    return dict(services[name])


def command(name: str) -> list[str]:
    """A service's command as an argument list."""
    value = service(name).get("command", [])
    return shlex.split(value) if isinstance(value, str) else [str(item) for item in value]


def mounts(name: str) -> list[Mount]:
    """A service's bind mounts, short or long syntax, sources resolved like compose does."""
    found = []
    for volume in service(name).get("volumes", []):
        if isinstance(volume, str):
            source, target, *options = volume.split(":")
            read_only = "ro" in options
        else:
            assert volume.get("type") == "bind", f"{name}: only bind mounts are expected"
            source, target, read_only = volume["source"], volume["target"], volume.get("read_only")
        assert source.startswith("."), f"{name}: {source} must be relative to the compose file"
        found.append(
            Mount((COMPOSE_DIR / source).resolve(), PurePosixPath(target), bool(read_only))
        )
    return found


def host_path(name: str, container_path: PurePosixPath) -> Path:
    """The repository file a service sees at `container_path`, through its mounts."""
    for mount in mounts(name):
        if container_path == mount.target:
            return mount.source
        if mount.target in container_path.parents:
            return mount.source / container_path.relative_to(mount.target)
    pytest.fail(f"{name}: nothing is mounted at {container_path}")


def listen_port(name: str) -> int:
    """The port a service listens on inside its container."""
    if name == "grafana":
        return int(service(name).get("environment", {}).get("GF_SERVER_HTTP_PORT", 3000))
    addresses = flag_values(command(name), "web.listen-address")
    if name == "exporter":
        return parse_listen_address(parse_args(command(name)).listen_address)[1]
    if not addresses:
        return DEFAULT_LISTEN_PORTS[name]
    return parse_listen_address(addresses[-1])[1]


def config_file(name: str) -> Path:
    """The repository file a service reads as its --config.file."""
    (path,) = flag_values(command(name), "config.file")
    return host_path(name, PurePosixPath(path))


def resolve_target(address: str) -> tuple[str, int]:
    """`host:port` of a scrape or Alertmanager target; the host must be a compose service."""
    host, _, port = address.rpartition(":")
    assert host in compose()["services"], f"{address}: {host!r} is not a compose service"
    return host, int(port)


def test_compose_runs_the_four_services() -> None:
    assert set(compose()["services"]) == set(DEMO_PORTS)


def test_compose_images_are_pinned() -> None:
    for name, definition in compose()["services"].items():
        if "build" in definition:
            continue
        image = definition["image"]
        assert PINNED_TAG.fullmatch(image), f"{name}: pin {image!r} to a full version"


def test_compose_builds_the_exporter_from_the_repository_dockerfile() -> None:
    exporter = service("exporter")
    context = (COMPOSE_DIR / exporter["build"]["context"]).resolve()
    assert context == REPO
    assert (context / exporter["build"].get("dockerfile", "Dockerfile")).is_file()
    arguments = parse_args(command("exporter"))
    assert arguments.demo
    # The demo's configuration is mounted where the command reads it, and is valid.
    mounted = {str(mount.target): mount.source for mount in mounts("exporter")}
    config = load_config(str(mounted[arguments.config_file]))
    assert config.compliance.remediation
    assert config.accounts
    assert all(a.name for a in config.accounts), "the dashboard shows names"


def test_compose_exporter_is_locked_down() -> None:
    exporter = service("exporter")
    assert exporter.get("read_only") is True
    uid, gid = runtime_uid_gid()
    assert exporter.get("user") == f"{uid}:{gid}"
    assert exporter.get("cap_drop") == ["ALL"]
    assert "no-new-privileges:true" in exporter.get("security_opt", [])


def test_compose_mounts_exist_read_only() -> None:
    for name in compose()["services"]:
        for mount in mounts(name):
            assert mount.source.exists(), f"{name}: {mount.source} does not exist"
            assert REPO in mount.source.parents, f"{name}: {mount.source} is outside the repo"
            assert mount.read_only, f"{name}: mount {mount.target} read-only"
            if mount.target.suffix in (".yml", ".yaml", ".json"):
                assert mount.source.is_file(), f"{name}: {mount.source} must be a file"
            else:
                assert mount.source.is_dir(), f"{name}: {mount.source} must be a directory"


def test_compose_ports_are_the_documented_ones() -> None:
    docs = DEPLOY_DOC.read_text(encoding="utf-8")
    for name, published in DEMO_PORTS.items():
        (mapping,) = service(name)["ports"]
        host_ip, host_port, container_port = str(mapping).split(":")
        assert host_ip == "127.0.0.1", f"{name}: publish on loopback only"
        assert int(host_port) == published, name
        assert int(container_port) == listen_port(name), name
        assert f"http://localhost:{published}" in docs, f"README.md: {name}'s URL"


def test_compose_depends_on_real_services() -> None:
    services = compose()["services"]
    for name, definition in services.items():
        depends_on = definition.get("depends_on", [])
        assert set(depends_on) <= set(services), name


def test_compose_prometheus_scrapes_the_exporter_and_alerts_alertmanager() -> None:
    config = load_yaml(config_file("prometheus"))
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB
    (static,) = job["static_configs"]
    assert [resolve_target(target) for target in static["targets"]] == [
        ("exporter", listen_port("exporter"))
    ]
    assert job.get("metrics_path", "/metrics") == parse_args(command("exporter")).telemetry_path
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    (am_static,) = alertmanagers["static_configs"]
    assert [resolve_target(target) for target in am_static["targets"]] == [
        ("alertmanager", listen_port("alertmanager"))
    ]


def test_compose_prometheus_loads_the_shipped_rules() -> None:
    (config_path,) = flag_values(command("prometheus"), "config.file")
    config_dir = PurePosixPath(config_path).parent
    rule_files = load_yaml(config_file("prometheus"))["rule_files"]
    assert [host_path("prometheus", config_dir / path) for path in rule_files] == [RULES_FILE]


def test_compose_prometheus_matches_the_example_config() -> None:
    demo = load_yaml(config_file("prometheus"))
    example = load_yaml(EXAMPLE_PROMETHEUS)
    assert demo["global"] == example["global"]
    (demo_job,) = demo["scrape_configs"]
    (example_job,) = example["scrape_configs"]
    ignored = {"static_configs"}
    assert {k: v for k, v in demo_job.items() if k not in ignored} == {
        k: v for k, v in example_job.items() if k not in ignored
    }


def stage_container_files(name: str, root: Path) -> None:
    """Copy a service's mounts to where its container sees them, under `root`."""
    for mount in mounts(name):
        destination = root / mount.target.relative_to("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        if mount.source.is_dir():
            shutil.copytree(mount.source, destination)
        else:
            shutil.copy2(mount.source, destination)


def test_promtool_accepts_the_compose_prometheus_config(tmp_path: Path) -> None:
    tool = promtool()
    stage_container_files("prometheus", tmp_path)
    (config_path,) = flag_values(command("prometheus"), "config.file")
    output = run_tool(tool, "check", "config", tmp_path / config_path.lstrip("/"))
    assert "conformance-pack-exporter.rules.yml" in output, output
    assert "SUCCESS" in output, output


def test_amtool_accepts_the_compose_alertmanager_config() -> None:
    tool = amtool()
    run_tool(tool, "check-config", config_file("alertmanager"))


def test_compose_alertmanager_routes_like_the_example() -> None:
    demo = load_yaml(config_file("alertmanager"))
    example = load_yaml(EXAMPLE_ALERTMANAGER)
    assert demo["route"] == example["route"]
    assert demo["inhibit_rules"] == example["inhibit_rules"]
    names = [receiver["name"] for receiver in demo["receivers"]]
    assert names == [receiver["name"] for receiver in example["receivers"]]
    assert all(set(receiver) == {"name"} for receiver in demo["receivers"]), "demo sends nothing"


def test_compose_grafana_is_provisioned() -> None:
    provisioning = PurePosixPath("/etc/grafana/provisioning")
    datasources_dir = host_path("grafana", provisioning / "datasources")
    dashboards_dir = host_path("grafana", provisioning / "dashboards")
    assert datasources_dir == REPO / "grafana" / "provisioning" / "datasources"
    assert dashboards_dir == REPO / "grafana" / "provisioning" / "dashboards"

    datasources = [
        source
        for path in sorted(datasources_dir.glob("*.y*ml"))
        for source in load_yaml(path)["datasources"]
    ]
    (prometheus,) = [source for source in datasources if source["type"] == "prometheus"]
    url = urlsplit(prometheus["url"])
    assert (url.hostname, url.port) == ("prometheus", listen_port("prometheus"))

    providers = [
        provider
        for path in sorted(dashboards_dir.glob("*.y*ml"))
        for provider in load_yaml(path)["providers"]
    ]
    (provider,) = providers
    dashboards_path = PurePosixPath(provider["options"]["path"])
    dashboard = host_path("grafana", dashboards_path / "conformance-pack-exporter.json")
    assert dashboard == REPO / "grafana" / "conformance-pack-exporter.json"
    home = service("grafana")["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert host_path("grafana", PurePosixPath(home)) == dashboard


# ---------------------------------------------------------------------------------------
# Kubernetes


def manifests(directory: Path = KUBERNETES_DIR) -> dict[str, dict[str, Any]]:
    """Every Kubernetes object in a directory of deploy/kubernetes, by kind (one per kind)."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document is None:
                continue
            kind = document["kind"]
            assert kind not in objects, f"{path.name}: a second {kind}"
            objects[kind] = document
    return objects


def kustomization(directory: Path = KUBERNETES_DIR) -> dict[str, Any]:
    """The kustomization.yaml of a directory of deploy/kubernetes."""
    document = load_yaml(directory / "kustomization.yaml")
    assert isinstance(document, dict)
    return document


def pod_spec() -> dict[str, Any]:
    """The Deployment's pod template spec."""
    spec = manifests()["Deployment"]["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def exporter_container() -> dict[str, Any]:
    """The Deployment's only container."""
    (container,) = pod_spec()["containers"]
    assert isinstance(container, dict)
    return container


def container_arguments() -> list[str]:
    """The exporter's command-line arguments in the Deployment."""
    container = exporter_container()
    assert "command" not in container, "keep the image's ENTRYPOINT; set args only"
    return [str(argument) for argument in container["args"]]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels-style selector matches a label set."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity (`10m`, `64Mi`, `1`) as a number."""
    text = str(value)
    suffixes = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in suffixes.items():
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * factor
    return float(text)


def test_kubernetes_objects_and_kustomization_agree() -> None:
    objects = manifests()
    assert set(objects) == {
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
    }
    files = sorted(p.name for p in KUBERNETES_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization()["resources"]) == files
    assert kustomization().get("namespace"), "the kustomization sets the namespace"
    for kind, document in objects.items():
        assert "namespace" not in document["metadata"], f"{kind}: leave the namespace to -n / -k"
        assert document["metadata"]["labels"]["app.kubernetes.io/name"] == JOB, kind


def test_kubernetes_pod_is_locked_down() -> None:
    uid, gid = runtime_uid_gid()
    pod_security = pod_spec()["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert (pod_security["runAsUser"], pod_security["runAsGroup"]) == (uid, gid)
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    security = exporter_container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security.get("privileged", False) is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "add" not in security["capabilities"]


def test_kubernetes_resources_are_bounded() -> None:
    resources = exporter_container()["resources"]
    for resource in ("cpu", "memory"):
        request = quantity(resources["requests"][resource])
        limit = quantity(resources["limits"][resource])
        assert 0 < request <= limit, resource


REQUESTS = ("requests", "limits")
SIZING = re.compile(
    r"(?P<base>[\d.]+) MB \+ (?P<per_target>[\d.]+) MB\s+# per target of 20 packs is"
    r" (?P<rss>\d+) MB at (?P<targets>\d+) targets;.*?limit is (?P<headroom>[\d.]+) x it",
    re.DOTALL,
)


@pytest.mark.parametrize("path", ["deployment.yaml", "sharded/statefulset.yaml"])
def test_kubernetes_memory_comes_from_the_bench_s_formula(path: str) -> None:
    """The request covers the RSS that bench/memory.py's formula gives for the targets the
    comment names, the limit that times the headroom; both manifests say the same."""
    text = (KUBERNETES_DIR / path).read_text()
    found = SIZING.search(text)
    assert found, f"{path}: the memory comment gives the formula"
    rss = float(found["base"]) + float(found["per_target"]) * int(found["targets"])
    assert round(rss) == int(found["rss"])
    [container] = [
        c
        for document in yaml.safe_load_all(text)
        if document and document["kind"] in ("Deployment", "StatefulSet")
        for c in document["spec"]["template"]["spec"]["containers"]
    ]
    memory = {kind: quantity(container["resources"][kind]["memory"]) / 1e6 for kind in REQUESTS}
    assert rss <= memory["requests"] < rss * 1.2
    assert rss * float(found["headroom"]) <= memory["limits"] < rss * float(found["headroom"]) * 1.1


def test_kubernetes_image_is_this_version() -> None:
    from exporter import __version__

    image = exporter_container()["image"]
    assert image.rsplit(":", 1)[1] == __version__


def test_kubernetes_selectors_match_labels() -> None:
    objects = manifests()
    deployment = objects["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    service_object = objects["Service"]
    assert selects(service_object["spec"]["selector"], pod_labels)
    monitor = objects["ServiceMonitor"]
    assert selects(monitor["spec"]["selector"]["matchLabels"], service_object["metadata"]["labels"])
    assert pod_spec()["serviceAccountName"] == objects["ServiceAccount"]["metadata"]["name"]


def test_kubernetes_ports_agree_from_container_to_servicemonitor() -> None:
    arguments = parse_args(container_arguments())
    (container_port,) = exporter_container()["ports"]
    assert container_port["containerPort"] == parse_listen_address(arguments.listen_address)[1]
    objects = manifests()
    (service_port,) = objects["Service"]["spec"]["ports"]
    assert service_port["targetPort"] in (container_port["name"], container_port["containerPort"])
    (endpoint,) = objects["ServiceMonitor"]["spec"]["endpoints"]
    assert endpoint["port"] == service_port["name"]
    assert endpoint.get("path", "/metrics") == arguments.telemetry_path


def test_kubernetes_probes_and_scrape_path_are_real_routes() -> None:
    container = exporter_container()
    (port,) = container["ports"]
    telemetry_path = parse_args(container_arguments()).telemetry_path
    expected = {"livenessProbe": "/-/healthy", "readinessProbe": "/-/ready"}
    for probe, path in expected.items():
        http_get = container[probe]["httpGet"]
        assert http_get["path"] == path, probe
        assert http_get["port"] in (port["name"], port["containerPort"]), probe
        assert get_status(path, telemetry_path) == 200, path
    (endpoint,) = manifests()["ServiceMonitor"]["spec"]["endpoints"]
    assert get_status(endpoint.get("path", "/metrics"), telemetry_path) == 200
    assert get_status("/no-such-path", telemetry_path) == 404


def test_kubernetes_configmap_is_a_valid_config_mounted_where_the_args_say() -> None:
    configmap = manifests()["ConfigMap"]
    arguments = parse_args(container_arguments())
    assert arguments.config_file, "the Deployment passes --config.file"
    config_path = PurePosixPath(arguments.config_file)
    (volume,) = [
        v
        for v in pod_spec()["volumes"]
        if v.get("configMap", {}).get("name") == configmap["metadata"]["name"]
    ]
    (volume_mount,) = [
        m for m in exporter_container()["volumeMounts"] if m["name"] == volume["name"]
    ]
    assert volume_mount.get("readOnly") is True
    assert "subPath" not in volume_mount, "a subPath mount never sees ConfigMap updates"
    assert config_path.parent == PurePosixPath(volume_mount["mountPath"])
    text = configmap["data"][config_path.name]
    try:
        parse_config(text, f"ConfigMap {configmap['metadata']['name']}: {config_path.name}")
    except ConfigError as error:
        pytest.fail(str(error))


def test_kubernetes_scrape_settings_match_what_the_rules_assume() -> None:
    (endpoint,) = manifests()["ServiceMonitor"]["spec"]["endpoints"]
    assert "scrapeTimeout" in endpoint
    example_job = load_yaml(EXAMPLE_PROMETHEUS)["scrape_configs"][0]
    assert endpoint["interval"] == example_job["scrape_interval"]
    assert endpoint["scrapeTimeout"] == example_job["scrape_timeout"]
    # Without jobLabel, the Prometheus Operator names the job after the Service.
    service_object = manifests()["Service"]
    job_label = manifests()["ServiceMonitor"]["spec"].get("jobLabel")
    job = (
        service_object["metadata"]["labels"].get(job_label)
        if job_label
        else service_object["metadata"]["name"]
    )
    assert job == JOB


def test_kubernetes_serviceaccount_has_an_irsa_role() -> None:
    annotations = manifests()["ServiceAccount"]["metadata"]["annotations"]
    assert ROLE_ARN_PATTERN.fullmatch(annotations["eks.amazonaws.com/role-arn"])


def test_prometheusrule_is_generated_from_the_shipped_rules() -> None:
    generated = render_prometheusrule(RULES_FILE.read_text(encoding="utf-8"))
    assert PROMETHEUS_RULE.read_bytes() == generated.encode("utf-8"), (
        "deploy/kubernetes/prometheusrule.yaml is stale: run python deploy/generate_rules.py"
    )
    assert manifests()["PrometheusRule"]["spec"] == load_yaml(RULES_FILE)


def run_generator(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    """The generator script as a user runs it."""
    return subprocess.run(
        [sys.executable, str(GENERATOR), *map(str, arguments)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


DEFAULT_RUNBOOK_URL = RUNBOOK_URL_PREFIX.removesuffix("#")


@pytest.mark.parametrize(
    "arguments",
    [[], ["--job", JOB, "--runbook-url", DEFAULT_RUNBOOK_URL]],
    ids=["implicit-defaults", "explicit-defaults"],
)
def test_generator_defaults_reproduce_the_shipped_files(
    tmp_path: Path, arguments: list[str]
) -> None:
    out_dir = tmp_path / "new" / "rules"
    result = run_generator(*arguments, "--out-dir", out_dir)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out_dir.iterdir()) == sorted(
        [RULES_FILE.name, PROMETHEUS_RULE.name]
    )
    assert (out_dir / RULES_FILE.name).read_bytes() == RULES_FILE.read_bytes()
    assert (out_dir / PROMETHEUS_RULE.name).read_bytes() == PROMETHEUS_RULE.read_bytes()


def test_generator_check_passes_and_catches_drift(tmp_path: Path) -> None:
    current = run_generator("--check")
    assert current.returncode == 0, current.stderr
    shutil.copy(RULES_FILE, tmp_path)
    stale = PROMETHEUS_RULE.read_text(encoding="utf-8").replace("for: 5m", "for: 6m")
    (tmp_path / PROMETHEUS_RULE.name).write_text(stale, encoding="utf-8")
    result = run_generator("--check", "--out-dir", tmp_path)
    assert result.returncode == 1
    assert f"{tmp_path / PROMETHEUS_RULE.name} is stale" in result.stderr
    assert RULES_FILE.name not in result.stderr
    assert (tmp_path / PROMETHEUS_RULE.name).read_text(encoding="utf-8") == stale, "--check wrote"
    (tmp_path / RULES_FILE.name).unlink()
    missing = run_generator("--check", "--out-dir", tmp_path)
    assert missing.returncode == 1
    assert f"{tmp_path / RULES_FILE.name} is stale" in missing.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--job", ""], "argument --job: the job name is empty"),
        (["--job", "   "], "argument --job: the job name is empty"),
        (["--job", " aws-config"], "has leading or trailing whitespace"),
        (["--job", "aws\nconfig"], "contains the non-printable character '\\n'"),
        (["--runbook-url", "ftp://runbooks.example.com/cpe.md"], "is not an http:// or https://"),
        (["--runbook-url", "runbooks.example.com/cpe.md"], "is not an http:// or https://"),
        (["--runbook-url", "https://"], "is not an http:// or https:// URL with a host"),
        (["--runbook-url", "https://[runbooks.example.com/cpe.md"], "is not a URL"),
        (["--runbook-url", "https://runbooks.example.com/cpe.md#top"], "has a '#'"),
        (["--runbook-url", "https://runbooks.example.com/my runbook"], "must percent-encode"),
        (["--runbook-url", 'https://runbooks.example.com/"x"'], "must percent-encode"),
    ],
    ids=[
        "empty-job",
        "blank-job",
        "padded-job",
        "multi-line-job",
        "ftp-url",
        "no-scheme",
        "no-host",
        "malformed-url",
        "url-with-anchor",
        "url-with-space",
        "url-with-quote",
    ],
)
def test_generator_refuses_bad_arguments(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    out_dir = tmp_path / "rules"
    result = run_generator(*arguments, "--out-dir", out_dir)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out_dir.exists()


def test_generator_reports_an_unwritable_output_directory(tmp_path: Path) -> None:
    occupied = tmp_path / "rules"
    occupied.write_text("a file, not a directory\n", encoding="utf-8")
    result = run_generator("--out-dir", occupied)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_generator_keeps_the_shipped_files_at_the_defaults() -> None:
    before = (RULES_FILE.read_bytes(), PROMETHEUS_RULE.read_bytes())
    result = run_generator("--job", "aws-config")
    assert result.returncode == 2
    assert "needs --out-dir" in result.stderr
    assert "Traceback" not in result.stderr
    assert (RULES_FILE.read_bytes(), PROMETHEUS_RULE.read_bytes()) == before


@pytest.mark.parametrize(
    "rules_text",
    ["groups: []\n---\ngroups: []\n", "rules: []\n", "groups: [\n"],
    ids=["two-documents", "no-groups", "broken-yaml"],
)
def test_generator_refuses_what_it_cannot_embed(rules_text: str) -> None:
    with pytest.raises(GenerationError):
        render_prometheusrule(rules_text)


SHIPPED_MATCHER = f'up{{job="{JOB}"}}'


@pytest.mark.parametrize(
    ("old", "new", "site", "message"),
    [
        (SHIPPED_MATCHER, f'up{{job=~"{JOB}"}}', Site(), "in a form this script does not rewrite"),
        (SHIPPED_MATCHER, "up{job='x'}", Site(), "in a form this script does not rewrite"),
        (f"{DEFAULT_RUNBOOK_URL}#", "https://example.com/runbook#", Site(), "runbook_url"),
        # A job matcher in a plain scalar: a job name with ' #' would cut the expression.
        (
            f"expr: |\n          {SHIPPED_MATCHER} == 0\n",
            f"expr: {SHIPPED_MATCHER} == 0\n",
            Site(job="team #1"),
            "differs from the source",
        ),
    ],
    ids=["regex-matcher", "single-quoted-matcher", "foreign-runbook", "plain-scalar-expr"],
)
def test_generator_refuses_a_rule_file_it_cannot_rewrite(
    old: str, new: str, site: Site, message: str
) -> None:
    shipped = RULES_FILE.read_text(encoding="utf-8")
    assert old in shipped
    with pytest.raises(GenerationError, match=message):
        customize(shipped.replace(old, new, 1), site)


# ---------------------------------------------------------------------------------------
# IAM


def statements(path: Path) -> list[dict[str, Any]]:
    """The statements of an IAM policy document."""
    document = load_json(path)
    assert document["Version"] == "2012-10-17", path.name
    found = document["Statement"]
    assert isinstance(found, list)
    return found


def as_list(value: str | list[str]) -> list[str]:
    """IAM fields take a string or a list of strings."""
    return [value] if isinstance(value, str) else list(value)


def policy_actions() -> list[str]:
    """Every action deploy/iam/policy.json allows, in file order."""
    return [
        action
        for statement in statements(IAM_DIR / "policy.json")
        for action in as_list(statement["Action"])
    ]


def test_policy_grants_exactly_the_exporters_actions() -> None:
    actions = policy_actions()
    assert len(actions) == len(set(actions)), "an action is listed twice"
    assert set(actions) == IAM_ACTIONS


def test_policy_is_allow_only_without_wildcard_actions() -> None:
    for statement in statements(IAM_DIR / "policy.json"):
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert not any("*" in action for action in as_list(statement["Action"]))


def test_policy_scopes_assume_role_to_named_roles() -> None:
    for statement in statements(IAM_DIR / "policy.json"):
        if "sts:AssumeRole" in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                assert re.fullmatch(r"arn:aws:iam::(\d{12}|\*):role/[\w+=,.@/-]+", resource)


def test_iam_actions_name_real_aws_operations() -> None:
    session = botocore.session.get_session()
    by_prefix: dict[str, set[str]] = {}
    for service_name in ("config", "sts", "organizations"):
        model = session.get_service_model(service_name)
        by_prefix[model.signing_name] = set(model.operation_names)
    for action in IAM_ACTIONS:
        prefix, operation = action.split(":")
        assert operation in by_prefix.get(prefix, set()), f"{action} is no AWS operation"


def trust_statement(path: Path) -> dict[str, Any]:
    """The only statement of a trust policy."""
    (statement,) = statements(path)
    assert statement["Effect"] == "Allow"
    return statement


def test_cross_account_trust_policy_requires_an_external_id() -> None:
    statement = trust_statement(IAM_DIR / "trust-policy.json")
    assert statement["Action"] == "sts:AssumeRole"
    (external_id,) = as_list(statement["Condition"]["StringEquals"]["sts:ExternalId"])
    assert EXTERNAL_ID_PATTERN.fullmatch(external_id)
    # The exporter's own role (the one the ServiceAccount gets through IRSA) may assume it.
    principal = statement["Principal"]["AWS"]
    service_account = manifests()["ServiceAccount"]
    assert principal == service_account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]


def test_irsa_trust_policy_names_the_service_account() -> None:
    statement = trust_statement(IAM_DIR / "irsa-trust-policy.json")
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    provider = statement["Principal"]["Federated"]
    match = re.fullmatch(r"arn:aws:iam::(\d{12}):oidc-provider/(.+)", provider)
    assert match, provider
    account, issuer = match[1], match[2]
    conditions = statement["Condition"]["StringEquals"]
    service_account = manifests()["ServiceAccount"]
    namespace = kustomization()["namespace"]
    name = service_account["metadata"]["name"]
    assert conditions == {
        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{name}",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    role_arn = service_account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role_arn.split(":")[4] == account, "the role and the OIDC provider share an account"


def test_kubernetes_deployment_runs_one_replica() -> None:
    # Its ServiceMonitor scrapes /metrics on every pod: a second replica reads every target again.
    assert manifests()["Deployment"]["spec"]["replicas"] == 1


def test_sharded_replicas_are_a_statefulset_behind_a_headless_service() -> None:
    objects = manifests(SHARDED_DIR)
    assert set(objects) == {"StatefulSet", "Service"}, "no Deployment, no balancing Service"
    files = sorted(p.name for p in SHARDED_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization(SHARDED_DIR)["resources"]) == files
    assert kustomization(SHARDED_DIR)["namespace"] == kustomization()["namespace"]
    statefulset, service_object = objects["StatefulSet"], objects["Service"]
    for kind, document in objects.items():
        assert "namespace" not in document["metadata"], f"{kind}: leave the namespace to -k"
        assert document["metadata"]["labels"]["app.kubernetes.io/name"] == JOB, kind
    # Headless: a DNS name per pod, no virtual IP spreading connections over the replicas.
    assert service_object["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == service_object["metadata"]["name"]
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert selects(statefulset["spec"]["selector"]["matchLabels"], pod_labels)
    assert selects(service_object["spec"]["selector"], pod_labels)
    assert statefulset["spec"]["replicas"] >= 2
    # The base's pod, replicated: every check of the base Deployment's pod holds for it.
    assert statefulset["spec"]["template"] == manifests()["Deployment"]["spec"]["template"]


def sharded_replica_addresses() -> list[str]:
    """host:port of each replica of deploy/kubernetes/sharded/, as the cluster's DNS names it."""
    objects = manifests(SHARDED_DIR)
    statefulset, service_object = objects["StatefulSet"], objects["Service"]
    (port,) = service_object["spec"]["ports"]
    name = statefulset["metadata"]["name"]
    domain = f"{service_object['metadata']['name']}.{kustomization(SHARDED_DIR)['namespace']}.svc"
    return [
        f"{name}-{ordinal}.{domain}:{port['port']}"
        for ordinal in range(statefulset["spec"]["replicas"])
    ]


def test_sharded_prometheus_probes_each_target_on_one_replica_of_the_statefulset() -> None:
    addresses = sharded_replica_addresses()
    probe, replicas = load_yaml(SHARDED_PROMETHEUS)["scrape_configs"]
    assert (probe["job_name"], probe["metrics_path"]) == (JOB, "/probe")
    assert probe["honor_labels"] is True
    (discovery,) = probe["http_sd_configs"]
    assert discovery["url"] == f"http://{addresses[0]}/sd"
    hashmod, *shards = probe["relabel_configs"]
    assert hashmod["action"] == "hashmod"
    assert hashmod["source_labels"] == ["__param_account", "__param_region"]
    assert hashmod["modulus"] == len(addresses) == len(shards)
    # One address per shard number, each a replica's own: never one address for several.
    assert [(s["source_labels"], s["target_label"]) for s in shards] == [
        ([hashmod["target_label"]], "__address__")
    ] * len(addresses)
    assert {s["regex"]: s["replacement"] for s in shards} == {
        str(ordinal): address for ordinal, address in enumerate(addresses)
    }
    assert replicas["job_name"] == f"{JOB}-replicas"
    (static,) = replicas["static_configs"]
    assert static["targets"] == addresses


# ---------------------------------------------------------------------------------------
# StackSet

STACKSET_TEMPLATE = REPO / "deploy" / "stackset" / "member-role.yaml"
# What a member account's role may do: the reads. Listing the organisation and assuming roles
# are for the exporter's own principal only.
MEMBER_ACTIONS = (
    IAM_ACTIONS
    - {"sts:AssumeRole"}
    - {action for action in IAM_ACTIONS if action.startswith("organizations:")}
)
PSEUDO_PARAMETERS = frozenset(
    {
        *("AWS::AccountId", "AWS::NoValue", "AWS::NotificationARNs", "AWS::Partition"),
        *("AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"),
    }
)
NO_VALUE = object()  # what `Ref: AWS::NoValue` renders to: the key or item disappears
# The role name every example uses: README.md, docs/, deploy/iam/policy.json.
DOCUMENTED_ROLE_NAME = "conformance-pack-exporter"
SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def member_template() -> dict[str, Any]:
    """deploy/stackset/member-role.yaml, as a plain YAML parser reads it (no `!Ref` tags)."""
    document = load_yaml(STACKSET_TEMPLATE)
    assert isinstance(document, dict)
    return document


def reader_role() -> dict[str, Any]:
    """The properties of the template's role."""
    (role,) = [
        resource
        for resource in member_template()["Resources"].values()
        if resource["Type"] == "AWS::IAM::Role"
    ]
    return dict(role["Properties"])


def parameter(name: str) -> dict[str, Any]:
    """One parameter declaration of the template."""
    parameters = member_template()["Parameters"]
    assert name in parameters, f"the template has no parameter {name}"
    return dict(parameters[name])


def render(node: Any, template: dict[str, Any], values: Mapping[str, str]) -> Any:
    """`node` as CloudFormation deploys it with these parameter values (defaults for the
    rest): Ref, Fn::If, Fn::Not, Fn::Equals and condition names resolved, AWS::NoValue
    dropped. Any other function fails the test rather than pass through unrendered."""
    if isinstance(node, list):
        items = [render(item, template, values) for item in node]
        return [item for item in items if item is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        name = node["Ref"]
        if name == "AWS::NoValue":
            return NO_VALUE
        declared = template["Parameters"][name]
        assert name in values or "Default" in declared, f"no value for parameter {name}"
        return values.get(name, declared.get("Default"))
    if set(node) == {"Fn::If"}:
        condition, if_true, if_false = node["Fn::If"]
        chosen = if_true if holds(condition, template, values) else if_false
        return render(chosen, template, values)
    if set(node) == {"Fn::Not"}:
        (operand,) = node["Fn::Not"]
        return not render(operand, template, values)
    if set(node) == {"Fn::Equals"}:
        left, right = node["Fn::Equals"]
        return render(left, template, values) == render(right, template, values)
    if set(node) == {"Condition"} and isinstance(node["Condition"], str):
        return holds(node["Condition"], template, values)
    functions = sorted(key for key in node if key.startswith("Fn::"))
    assert not functions, f"render() does not know {functions}"
    rendered = {key: render(value, template, values) for key, value in node.items()}
    return {key: value for key, value in rendered.items() if value is not NO_VALUE}


def holds(condition: str, template: dict[str, Any], values: Mapping[str, str]) -> bool:
    """Whether a condition of the template is true with these parameter values."""
    return bool(render(template["Conditions"][condition], template, values))


def template_references(node: Any, where: str = "") -> Iterator[tuple[str, str, str]]:
    """(kind, name, where) of each name a template node refers to: "Ref" (a parameter,
    resource or pseudo parameter), "Condition" or "Resource" (Fn::GetAtt, `${X.Attr}`)."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from template_references(item, f"{where}[{index}]")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        path = f"{where}.{key}" if where else key
        if key == "Ref":
            yield "Ref", value, path
        elif key == "Fn::If":
            yield "Condition", value[0], path
            yield from template_references(value[1:], path)
        elif key == "Condition" and isinstance(value, str):
            yield "Condition", value, path
        elif key == "Fn::GetAtt":
            resource = value[0] if isinstance(value, list) else value.split(".")[0]
            yield "Resource", resource, path
        elif key == "Fn::Sub":
            text, local = (value, {}) if isinstance(value, str) else (value[0], value[1])
            for variable in SUB_VARIABLE.findall(text):
                if variable in local:
                    continue
                name, dot, _ = variable.partition(".")
                yield ("Resource" if dot else "Ref"), name, path
            yield from template_references(local, path)
        else:
            yield from template_references(value, path)


def undefined_names(template: dict[str, Any]) -> list[str]:
    """Each reference to a parameter, condition or resource the template does not define."""
    resources = set(template.get("Resources", {}))
    defined = {
        "Ref": set(template.get("Parameters", {})) | resources | PSEUDO_PARAMETERS,
        "Condition": set(template.get("Conditions", {})),
        "Resource": resources,
    }
    return [
        f"{where}: {kind} {name!r} is not defined"
        for kind, name, where in template_references(template)
        if name not in defined[kind]
    ]


def unused_names(template: dict[str, Any]) -> list[str]:
    """The parameters and conditions nothing refers to."""
    used = {name for _, name, _ in template_references(template)}
    declared = [*template.get("Parameters", {}), *template.get("Conditions", {})]
    return [name for name in declared if name not in used]


def test_stackset_template_is_plain_yaml_with_one_role() -> None:
    template = member_template()  # yaml.safe_load refuses the short `!Ref` tags
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert [resource["Type"] for resource in template["Resources"].values()] == ["AWS::IAM::Role"]
    (output,) = template["Outputs"].values()
    (role_id,) = template["Resources"]
    assert output["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_stackset_template_refers_only_to_what_it_defines() -> None:
    template = member_template()
    assert not undefined_names(template)
    assert not unused_names(template)


def test_template_reference_check_catches_undefined_and_unused_names() -> None:
    template = {
        "Parameters": {"Name": {"Type": "String"}, "Spare": {"Type": "String"}},
        "Conditions": {
            "HasName": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Name"}, ""]}]},
            "Both": {"Fn::And": [{"Condition": "HasName"}, {"Condition": "Missing"}]},
        },
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Condition": "Nowhere",
                "Properties": {
                    "RoleName": {"Fn::If": ["HasNam", {"Ref": "Name"}, {"Ref": "AWS::NoValue"}]},
                    "Path": {"Ref": "Pathh"},
                    "Description": {
                        "Fn::Sub": [
                            "${Name} ${AWS::Region} ${Gone} ${!Literal} ${Role.Arn} ${Local}",
                            {"Local": {"Fn::GetAtt": "Ghost.Arn"}},
                        ]
                    },
                },
            }
        },
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Rol", "Arn"]}}},
    }
    assert undefined_names(template) == [
        "Conditions.Both.Fn::And[1].Condition: Condition 'Missing' is not defined",
        "Resources.Role.Condition: Condition 'Nowhere' is not defined",
        "Resources.Role.Properties.RoleName.Fn::If: Condition 'HasNam' is not defined",
        "Resources.Role.Properties.Path.Ref: Ref 'Pathh' is not defined",
        "Resources.Role.Properties.Description.Fn::Sub: Ref 'Gone' is not defined",
        "Resources.Role.Properties.Description.Fn::Sub.Local.Fn::GetAtt:"
        " Resource 'Ghost' is not defined",
        "Outputs.Arn.Value.Fn::GetAtt: Resource 'Rol' is not defined",
    ]
    assert unused_names(template) == ["Spare", "Both"]


def test_stackset_role_grants_exactly_the_member_reads() -> None:
    assert {"config:DescribeConformancePackStatus", "sts:GetCallerIdentity"} <= MEMBER_ACTIONS
    role = reader_role()
    assert "ManagedPolicyArns" not in role, "only the inline policy may grant anything"
    (policy,) = role["Policies"]
    document = render(policy["PolicyDocument"], member_template(), {})
    assert document["Version"] == "2012-10-17"
    actions = []
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}
        assert as_list(statement["Resource"]) == ["*"]
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{action}: name the actions"
            actions.append(action)
    assert len(actions) == len(set(actions)), "an action is listed twice"
    assert set(actions) == MEMBER_ACTIONS


def test_stackset_role_trusts_the_exporter_role_as_the_example_trust_policy_does() -> None:
    template = member_template()
    trust = reader_role()["AssumeRolePolicyDocument"]
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"AWS": {"Ref": "ExporterRoleArn"}}
    # Rendered with the example's principal and external id, it is the example.
    example = load_json(IAM_DIR / "trust-policy.json")
    example_statement = trust_statement(IAM_DIR / "trust-policy.json")
    (external_id,) = as_list(example_statement["Condition"]["StringEquals"]["sts:ExternalId"])
    values = {"ExporterRoleArn": example_statement["Principal"]["AWS"], "ExternalId": external_id}
    assert render(trust, template, values) == example
    # Without an external id, the same statement without its condition.
    without = render(trust, template, {**values, "ExternalId": ""})
    (example_statement_without,) = without["Statement"]
    assert example_statement_without == {
        key: value for key, value in example_statement.items() if key != "Condition"
    }


def test_stackset_external_id_is_no_echo_and_applied_only_when_given() -> None:
    template = member_template()
    external_id = parameter("ExternalId")
    assert external_id["NoEcho"] is True
    assert external_id["Default"] == ""
    (statement,) = reader_role()["AssumeRolePolicyDocument"]["Statement"]
    assert set(statement["Condition"]) == {"Fn::If"}
    condition, if_given, if_empty = statement["Condition"]["Fn::If"]
    assert if_given == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    assert if_empty == {"Ref": "AWS::NoValue"}
    assert holds(condition, template, {"ExporterRoleArn": "x", "ExternalId": "ab"})
    assert not holds(condition, template, {"ExporterRoleArn": "x", "ExternalId": ""})


@pytest.mark.parametrize(
    "value",
    ["", "ab", "conformance-pack-exporter-example", "a", "has space", "x" * 1225, "a\nb", "é!"],
)
def test_stackset_external_id_pattern_is_the_configs_or_empty(value: str) -> None:
    pattern = re.compile(parameter("ExternalId")["AllowedPattern"])
    expected = value == "" or EXTERNAL_ID_PATTERN.fullmatch(value) is not None
    assert (pattern.fullmatch(value) is not None) == expected


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:iam::111111111111:role/conformance-pack-exporter",
        "arn:aws-cn:iam::111111111111:role/path/exporter",
        "arn:aws:iam::111111111111:root",
        "arn:aws:iam::111111111111:user/exporter",
        "arn:aws:iam::11111111111:role/exporter",
        "*",
    ],
)
def test_stackset_exporter_role_arn_pattern_is_the_configs(value: str) -> None:
    pattern = re.compile(parameter("ExporterRoleArn")["AllowedPattern"])
    assert (pattern.fullmatch(value) is not None) == (ROLE_ARN_PATTERN.fullmatch(value) is not None)


def test_stackset_accepts_the_example_exporter_roles() -> None:
    pattern = re.compile(parameter("ExporterRoleArn")["AllowedPattern"])
    service_account = manifests()["ServiceAccount"]
    irsa_role = service_account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert pattern.fullmatch(irsa_role)
    assert pattern.fullmatch(trust_statement(IAM_DIR / "trust-policy.json")["Principal"]["AWS"])


@pytest.mark.parametrize(
    ("path", "name", "accepted"),
    [
        ("/", "conformance-pack-exporter", True),
        ("/monitoring/", "conformance-pack-exporter", True),
        ("/a/b/", "reader", True),
        ("monitoring/", "reader", False),
        ("/monitoring", "reader", False),
        ("", "reader", False),
        ("/", "path/reader", False),
        ("/", "x" * 65, False),
    ],
)
def test_stackset_role_is_the_one_the_exporter_assumes(
    path: str, name: str, accepted: bool
) -> None:
    path_ok = re.fullmatch(parameter("RolePath")["AllowedPattern"], path) is not None
    name_ok = re.fullmatch(parameter("RoleName")["AllowedPattern"], name) is not None
    assert (path_ok and name_ok) == accepted
    if not accepted:
        return
    template = member_template()
    values = {"ExporterRoleArn": "x", "RolePath": path, "RoleName": name}
    role = render(reader_role(), template, values)
    role_name = role["Path"].removeprefix("/") + role["RoleName"]  # as the config names it
    assert ROLE_NAME_PATTERN.fullmatch(role_name)
    member = OrganizationAccountsConfig(role_name=role_name).member("222222222222", "aws")
    # IAM's ARN of a role is arn:aws:iam::<account>:role<Path><RoleName>.
    assert member.role_arn == f"arn:aws:iam::222222222222:role{role['Path']}{role['RoleName']}"


def test_stackset_defaults_are_the_documented_role_and_what_the_policy_may_assume() -> None:
    role = render(reader_role(), member_template(), {"ExporterRoleArn": "x"})
    role_name = role["Path"].removeprefix("/") + role["RoleName"]
    assert role_name == DOCUMENTED_ROLE_NAME
    documents = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    documented = [
        match
        for document in documents
        for match in re.findall(r"^\s*role_name:\s*(\S+)", document.read_text("utf-8"), re.M)
    ]
    assert documented, "no `role_name:` example in README.md or docs/"
    assert set(documented) == {role_name}
    member = OrganizationAccountsConfig(role_name=role_name).member("222222222222", "aws")
    assumable = [
        resource
        for statement in statements(IAM_DIR / "policy.json")
        if "sts:AssumeRole" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]
    assert any(fnmatch.fnmatchcase(member.role_arn, resource) for resource in assumable)
    duration = OrganizationAccountsConfig(role_name=role_name).duration_seconds
    assert role["MaxSessionDuration"] >= duration, "the role refuses the default session"


# ---------------------------------------------------------------------------------------
# README.md


def referenced_paths(markdown: str) -> Iterator[str]:
    """Repository paths named in backticks or link targets."""
    for match in re.finditer(r"`([\w./-]+)`|\]\(([^)#\s]+)", markdown):
        candidate = match[1] or match[2]
        if candidate.startswith(("http", "/")) or "/" not in candidate:
            continue
        if re.match(r"^(deploy|alerts|grafana|docs|exporter|tests)/", candidate):
            yield candidate


def test_deploy_doc_names_only_existing_files_and_every_deploy_file() -> None:
    markdown = DEPLOY_DOC.read_text(encoding="utf-8")
    named = set(referenced_paths(markdown))
    missing = sorted(path for path in named if not (REPO / path).exists())
    assert not missing, missing
    deploy_files = {
        path.relative_to(REPO).as_posix()
        for directory in (COMPOSE_DIR, KUBERNETES_DIR, IAM_DIR)
        for path in directory.iterdir()
        if path.is_file()
    }
    unmentioned = sorted(path for path in deploy_files if path not in named)
    assert not unmentioned, f"README.md does not mention {unmentioned}"
    assert "sts:GetCallerIdentity" in markdown
