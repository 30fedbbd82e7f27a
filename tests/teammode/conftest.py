"""Team mode for real: a throwaway PostgreSQL 15 cluster and an ``mlflow server`` backed by it.

``postgres_url`` uses the server named by ``SCORELINE_TEST_POSTGRES_URL`` when set; otherwise it
initialises a cluster from ``/usr/lib/postgresql/15/bin`` in a temporary folder (owned by the
``postgres`` OS user when running as root: initdb refuses root), on a free loopback port with its
socket in the same folder, and stops it at the end of the session. Missing binaries fail the run
when ``CI`` is set and skip otherwise. ``new_database(postgres_url, name)`` gives a test its own
empty database on that server.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

PG_BIN = Path(os.environ.get("SCORELINE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGRES_URL_ENV = "SCORELINE_TEST_POSTGRES_URL"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_cluster_owner() -> tuple[list[str], int | None, int | None]:
    """The command prefix and uid/gid that run PostgreSQL: ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root and there is no `postgres` OS user to own the test cluster")
    return ["runuser", "-u", "postgres", "--"], owner.pw_uid, owner.pw_gid


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster in ``folder``: trust authentication, loopback only, fsync off."""

    folder: Path
    port: int = field(default_factory=free_port)
    user: str = "scoreline"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        prefix, uid, gid = _as_cluster_owner()
        if uid is not None:
            os.chown(self.folder, uid, gid)
        _run(
            [
                *prefix,
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            "initdb",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _run(
            [
                *prefix,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.folder / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            "pg_ctl start",
        )

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster), waiting for it to exit; then the folder goes."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGINT)
        except (OSError, ValueError, IndexError):  # never started, or already gone
            pid = None
        deadline = time.monotonic() + 60
        while pid is not None and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        shutil.rmtree(self.folder, ignore_errors=True)


def new_database(server_url: str, name: str | None = None) -> str:
    """Create an empty database on ``server_url``'s server; returns its SQLAlchemy URL."""
    import psycopg

    name = name or f"t_{uuid.uuid4().hex[:12]}"
    url = make_url(server_url)
    with psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database or "postgres",
        autocommit=True,
    ) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) of a running PostgreSQL server's maintenance
    database; tests create their own databases on it with :func:`new_database`."""
    configured = os.environ.get(POSTGRES_URL_ENV)
    if configured:
        yield configured
        return
    if not (PG_BIN / "initdb").is_file():
        message = f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # not under pytest's basetemp: another pytest session on the machine makes that private to
    # its owner, locking the `postgres` user out of its own cluster
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="scoreline-pg-")))
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.stop()


@dataclass
class TrackingServer:
    """``mlflow server`` on a PostgreSQL backend store with artifacts served from ``folder``."""

    backend_url: str
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "mlflow-server.log"

    def start(self, timeout: float = 120.0) -> None:
        artifacts = self.folder / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--backend-store-uri",
                    self.backend_url,
                    "--artifacts-destination",
                    str(artifacts),
                    "--serve-artifacts",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                ],
                cwd=self.folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlflow server not ready within {timeout} s:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # the server's own session: gunicorn/uvicorn workers too
        try:
            self.process.wait(timeout=5)  # graceful shutdown waits on idle keep-alive clients
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="session")
def tracking_server(postgres_url, tmp_path_factory) -> str:
    """The URL of an ``mlflow server`` whose backend store is a fresh PostgreSQL database and
    whose artifacts it serves itself (``--serve-artifacts``) from a temporary folder."""
    server = TrackingServer(new_database(postgres_url), tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def team_database(postgres_url) -> str:
    """A fresh, empty PostgreSQL database for one test (the team database of its workspace)."""
    return new_database(postgres_url)
