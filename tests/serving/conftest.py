"""The prediction service running for real: champions trained on the real data (Dixon-Coles for
E0, Elo for NFL), promoted in a temporary registry, exported to a temporary BentoML store and
served by ``bentoml serve`` on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

#: accepted by the service, unlimited
API_KEY = "test-key-0123456789abcdef"
#: accepted by the service, limited to LIMIT requests per minute
LIMITED_KEY = "limited-key-0123456789abcdef"
LIMIT = 5
SERVED = {"E0": "dixon_coles", "NFL": "elo"}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningService:
    """``bentoml serve`` of the service as a subprocess; ``start`` waits for /readyz."""

    folder: Path
    env: dict[str, str]
    #: what `bentoml serve` serves: the service's import path, or a bento tag
    target: str = "scoreline.serving.service:Scoreline"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    startup_seconds: float = float("nan")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "service.log"

    @property
    def store_url(self) -> str:
        return self.env["SCORELINE_PREDICTION_STORE_URL"]

    def start(self, timeout: float = 120.0) -> float:
        """Start the service and wait until it is ready; returns the seconds that took."""
        started = time.perf_counter()
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bentoml",
                    "serve",
                    self.target,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    self.startup_seconds = time.perf_counter() - started
                    return self.startup_seconds
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the service was not ready within {timeout} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the server and its workers at once: no shutdown code runs anywhere."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        """Signal the server and every worker (circus gives each worker a process group of its
        own, so the server's group is not enough); whatever outlives 20 s is killed."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            tree = [psutil.Process(self.process.pid)]
            tree += tree[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for member in tree:
            try:
                member.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(tree, timeout=20)
        for member in alive:
            member.kill()
        psutil.wait_procs(alive, timeout=20)
        self.process.wait(timeout=20)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def exported_champions(real_ingest, tmp_path_factory):
    """Settings of a workspace whose registry has a champion for E0 and NFL, exported to its
    BentoML store; the tracking store is out of the service's reach (another folder)."""
    import mlflow

    from scoreline.promotion import register_model, set_champion
    from scoreline.serving.package import export_champions
    from scoreline.tracking import train_and_log

    _, ingested = real_ingest
    folder = tmp_path_factory.mktemp("champions")
    settings = ingested.model_copy(
        update={"registry_dir": folder / "registry", "bentoml_dir": folder / "bentoml"}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("BENTOML_HOME", raising=False)
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        try:
            for code, name in SERVED.items():
                logged = train_and_log(settings, code, name)
                version = register_model(settings, code, logged["model_uri"], {"model_name": name})
                set_champion(settings, code, version.version, "service tests")
        finally:
            mlflow.set_tracking_uri(None)
        exported = export_champions(settings)
    assert {e.competition for e in exported} == set(SERVED)
    return settings


def service_env(folder: Path, bentoml_home: Path) -> dict[str, str]:
    """The service's environment: its own workspace ``folder`` (no registry, no tracking store)
    and the BentoML store at ``bentoml_home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCORELINE_", "MLFLOW_", "BENTOML_"))}
    env.update(
        {
            "BENTOML_HOME": str(bentoml_home),
            "BENTOML_DO_NOT_TRACK": "true",
            "SCORELINE_HOME": str(folder),
            "SCORELINE_SERVE_WORKERS": "1",  # one per core would double the tests' memory
            "SCORELINE_PREDICTION_STORE_URL": f"sqlite:///{folder / 'predictions.db'}",
            "SCORELINE_API_KEYS": f"{API_KEY},{LIMITED_KEY}:{LIMIT}",
        }
    )
    return env


@pytest.fixture(scope="module")
def service(exported_champions, tmp_path_factory):
    """The running service (module-wide; a test that kills it starts it again)."""
    folder = tmp_path_factory.mktemp("service")
    running = RunningService(folder, service_env(folder, exported_champions.bentoml_home))
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(service):
    """An HTTP client of the running service."""
    with httpx.Client(base_url=service.url, timeout=60.0) as http:
        yield http


@pytest.fixture(scope="module")
def teams(client) -> dict[str, list[str]]:
    """The served teams of each competition, as /teams lists them."""
    return {code: client.get("/teams", params={"competition": code}).json()["teams"] for code in SERVED}


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
