"""The deployment assets (deploy/: docker-compose, Prometheus, Kubernetes) agree with the code.

No container engine runs here, so the manifests are parsed and checked against what the code
really does: the port the service listens on (BentoML's configured port, ``scoreline serve``'s
default), the routes of the service's ASGI app (built in a subprocess from the real service
module, with a stand-in champion in a temporary BentoML store), the image name a containerized
bento gets (the bento's name), and the settings the service reads (``Settings`` fields).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from scoreline.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"

#: builds the service's ASGI app the way `bentoml serve` does and prints its facts
ROUTES_SCRIPT = """
import json
import bentoml
from bentoml._internal.configuration.containers import BentoMLContainer
from scoreline.config import Settings
from scoreline.serving.package import ROLE_LABEL, bento_model_name, bentoml_store

with bentoml_store(Settings()):
    # a stand-in champion: the module needs one to import; no model is loaded here
    with bentoml.models.create(bento_model_name("E0"),
                               labels={ROLE_LABEL[0]: ROLE_LABEL[1], "competition": "E0"}):
        pass
    from scoreline.serving import service

    app = service.Scoreline.to_asgi(is_main=True)
    print(json.dumps({"name": service.Scoreline.name,
                      "port": BentoMLContainer.http.port.get(),
                      "routes": sorted({r.path for r in app.routes if getattr(r, "path", "")})}))
"""

#: variables the images themselves read (not Scoreline settings)
POSTGRES_IMAGE_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
BENTOML_VARIABLES = {"BENTOML_DO_NOT_TRACK", "BENTOML_HOME", "BENTOML_CONFIG"}
AWS_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION"}
#: resident memory of one service worker with every champion loaded (measured 300-550 MB) and
#: of its batch process at rest (~330 MB with the E0 champion)
WORKER_RSS_MB = 880


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> dict:
    """The real service's name, port and route paths."""
    folder = tmp_path_factory.mktemp("service-routes")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCORELINE_", "MLFLOW_", "BENTOML_"))}
    env.update(
        {
            "SCORELINE_HOME": str(folder),
            "BENTOML_HOME": str(folder / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", ROUTES_SCRIPT],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict]:
    """Every Kubernetes object in deploy/k8s by kind (one of each)."""
    objects = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["kind"] not in objects, f"two {doc['kind']} objects"
            objects[doc["kind"]] = doc
    return objects


@pytest.fixture(scope="module")
def container(k8s) -> dict:
    (only,) = k8s["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def bento_name() -> str:
    return yaml.safe_load((ROOT / "bentos" / "bentofile.yaml").read_text())["name"]


def compose_default(value: str) -> str:
    """``${VAR:-default}`` -> default (the value compose uses when VAR is unset)."""
    found = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return found.group(1) if found else value


def image_repository(image: str) -> str:
    """``registry.example.com/team/scoreline:tag`` -> ``scoreline``."""
    return image.rsplit("/", 1)[-1].split(":", 1)[0]


def served_port() -> int:
    """``scoreline serve``'s default port."""
    from scoreline.cli import main

    (option,) = [p for p in main.commands["serve"].params if p.name == "port"]
    return option.default


def test_the_service_listens_where_the_manifests_say(app, compose, k8s, container):
    port = app["port"]
    assert port == served_port()  # `bentoml serve` in the image and `scoreline serve` agree
    service = compose["services"]["scoreline"]
    assert [p.split(":")[-1] for p in service["ports"]] == [str(port)]
    (named,) = container["ports"]
    assert named["containerPort"] == port
    (exposed,) = k8s["Service"]["spec"]["ports"]
    assert exposed["targetPort"] == named["name"] and exposed["port"] == port
    annotations = k8s["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] in app["routes"]


def test_probes_and_healthchecks_hit_real_routes(app, compose, container):
    routes = set(app["routes"])
    assert {"/healthz", "/livez", "/readyz", "/metrics"} <= routes
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in {"/livez", "/healthz"}
        assert container[probe]["httpGet"]["port"] == container["ports"][0]["name"]
    assert container["readinessProbe"]["httpGet"]["port"] == container["ports"][0]["name"]
    check = " ".join(compose["services"]["scoreline"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{app['port']}/readyz" in check


def test_images_are_the_containerized_bento(app, compose, k8s, container):
    # `bentoml containerize` tags the image with the bento's tag: <bento name>:<version>
    name = bento_name()
    assert name == app["name"] == "scoreline"
    assert image_repository(compose_default(compose["services"]["scoreline"]["image"])) == name
    assert image_repository(container["image"]) == name
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert [i["name"] for i in kustomization["images"]] == [container["image"].split(":")[0]]
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}


def test_prometheus_scrapes_the_service_and_loads_the_alert_rules(app, compose):
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] in app["routes"]
    (targets,) = [c["targets"] for c in job["static_configs"]]
    assert targets == [f"scoreline:{app['port']}"]
    assert "scoreline" in compose["services"]
    mounts = _mounts(compose["services"]["prometheus"])
    assert mounts["/etc/prometheus/prometheus.yml"] == "./prometheus/prometheus.yml"
    assert [mounts[path] for path in config["rule_files"]] == ["./prometheus/alerts.yml"]


def _mounts(service: dict) -> dict[str, str]:
    """A compose service's bind mounts: container path -> host path."""
    found = {}
    for volume in service["volumes"]:
        host, inside = volume.split(":")[:2]
        if host.startswith("./"):
            found[inside] = host
    return found


def _promtool() -> str:
    import shutil

    found = shutil.which("promtool")
    if found is None:
        message = "promtool is missing (apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_the_alert_rules_are_valid_and_pass_their_unit_tests():
    """``promtool check rules`` and ``promtool test rules``: the four live alerts (latency > 1 s
    for 5 min, coverage 10 points under nominal for 10 min, p95 halftime error > 10 points for
    15 min, API down for 1 min) and the service's own fire when they should, and not before."""
    promtool = _promtool()
    folder = DEPLOY / "prometheus"
    for command in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        done = subprocess.run([promtool, *command], cwd=folder, capture_output=True, text=True)
        assert done.returncode == 0, f"promtool {' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    rules = yaml.safe_load((folder / "alerts.yml").read_text())
    alerts = {r["alert"]: r for group in rules["groups"] for r in group["rules"]}
    expected = {"LiveForecastLatencyHigh": "5m", "LiveCoverageLow": "10m", "LiveHalftimeErrorHigh": "15m"}
    assert {name: alerts[name]["for"] for name in expected} == expected
    assert alerts["ScorelineApiDown"]["for"] == "1m"
    tested = yaml.safe_load((folder / "alerts.test.yml").read_text())
    fired = {
        case["alertname"]
        for test in tested["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert fired == set(alerts), f"alerts without a test that fires them: {set(alerts) - fired}"


def test_grafana_is_provisioned_with_the_dashboards(compose):
    grafana = compose["services"]["grafana"]
    mounts = _mounts(grafana)
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    provisioning = DEPLOY / "grafana" / "provisioning"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "scoreline.yml").read_text())["providers"]
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    prometheus = compose["services"]["prometheus"]
    assert source["url"] == f"http://prometheus:{prometheus['ports'][0].split(':')[-1]}"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    dashboards = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    assert home in {f"{provider['options']['path']}/{p.name}" for p in dashboards}
    for path in dashboards:
        dashboard = json.loads(path.read_text())
        uids = {panel["datasource"]["uid"] for panel in dashboard["panels"]}
        assert uids == {source["uid"]}, path.name
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"


def test_kubernetes_objects_reference_each_other(k8s, container):
    deployment = k8s["Deployment"]
    pods = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pods.items()
    assert k8s["Service"]["spec"]["selector"].items() <= pods.items()
    assert k8s["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= pods.items()
    hpa = k8s["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"],
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    sources = {(next(iter(s)), next(iter(s.values()))["name"]) for s in container["envFrom"]}
    assert sources == {
        ("configMapRef", k8s["ConfigMap"]["metadata"]["name"]),
        ("secretRef", k8s["Secret"]["metadata"]["name"]),
    }
    assert "SCORELINE_API_KEYS" in k8s["Secret"]["stringData"]  # keys are secrets, not config


def test_memory_is_sized_for_the_workers(k8s, container):
    workers = int(k8s["ConfigMap"]["data"].get("SCORELINE_SERVE_WORKERS", "1"))
    mebibytes = {"Mi": 1, "Gi": 1024}

    def mb(quantity: str) -> float:
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
        return int(number) * mebibytes[unit] * 1.048576

    resources = container["resources"]
    assert mb(resources["requests"]["memory"]) >= workers * WORKER_RSS_MB
    assert mb(resources["limits"]["memory"]) >= mb(resources["requests"]["memory"])


def known_variable(name: str) -> bool:
    """A Scoreline setting, or a variable MLflow, BentoML or the AWS SDK reads."""
    import mlflow.environment_variables as mlflow_env

    if name.startswith("SCORELINE_"):
        return name.removeprefix("SCORELINE_").lower() in Settings.model_fields
    mlflow_names = {getattr(v, "name", None) for v in vars(mlflow_env).values()}
    return name in mlflow_names | BENTOML_VARIABLES | AWS_VARIABLES


def test_every_variable_is_one_the_code_reads(compose, k8s):
    services = compose["services"]
    named = [
        *services["scoreline"]["environment"],
        *services["mlflow"].get("environment", {}),
        *k8s["ConfigMap"]["data"],
        *k8s["Secret"]["stringData"],
    ]
    assert named and [n for n in named if not known_variable(n)] == []
    assert set(services["postgres"]["environment"]) <= POSTGRES_IMAGE_VARIABLES


def test_the_stores_are_the_compose_postgres(compose, k8s):
    services = compose["services"]
    database = services["postgres"]["environment"]["POSTGRES_DB"]
    store = make_url(services["scoreline"]["environment"]["SCORELINE_PREDICTION_STORE_URL"])
    assert (store.drivername, store.host, store.database) == ("postgresql+psycopg", "postgres", database)
    assert (
        make_url(k8s["Secret"]["stringData"]["SCORELINE_PREDICTION_STORE_URL"]).drivername
        == "postgresql+psycopg"
    )
    command = services["mlflow"]["command"]
    backend = make_url(command[command.index("--backend-store-uri") + 1])
    assert backend.host == "postgres" and backend.database == "mlflow"
    assert "CREATE DATABASE mlflow" in (DEPLOY / "postgres" / "init.sql").read_text()
    assert command[command.index("--port") + 1] == "5000" and "5000:5000" in services["mlflow"]["ports"]
    # the tracking server runs the MLflow and driver versions the workspace is locked to
    dockerfile = (DEPLOY / "mlflow" / "Dockerfile").read_text()
    assert f"ghcr.io/mlflow/mlflow:v{metadata.version('mlflow')}" in dockerfile
    assert f"psycopg[binary]=={metadata.version('psycopg')}" in dockerfile
