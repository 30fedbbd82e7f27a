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
#: resident memory of one service worker with every champion loaded (measured 300-550 MB)
WORKER_RSS_MB = 550


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


def test_prometheus_scrapes_the_service(app, compose):
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] in app["routes"]
    (targets,) = [c["targets"] for c in job["static_configs"]]
    assert targets == [f"scoreline:{app['port']}"]
    assert "scoreline" in compose["services"]
    prometheus = compose["services"]["prometheus"]
    assert any(v.startswith("./prometheus.yml:") for v in prometheus["volumes"])


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
