"""Shared test fixtures. Real-data tests read the folder named by SCORELINE_TEST_DATA; in CI a
missing folder is an error, never a skip."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# shared test helpers (leagues.py) import by name from every test folder
sys.path.insert(0, str(Path(__file__).parent))

REAL_DATA_ENV = "SCORELINE_TEST_DATA"


def _real_data_folder() -> Path | None:
    value = os.environ.get(REAL_DATA_ENV)
    if value and (Path(value) / "soccer").is_dir():
        return Path(value).resolve()
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI") and _real_data_folder() is None:
        raise pytest.UsageError(
            f"{REAL_DATA_ENV}={os.environ.get(REAL_DATA_ENV)!r} is not a data folder with soccer/; "
            "CI must run the real-data tests"
        )
    session.config.stash[_LEAKS] = {p for p in _LEAK_PATHS if p.exists()}


#: what tests must never leave in the checkout (MLflow's default artifact folder, a stray store)
_LEAK_PATHS = tuple(
    Path(__file__).resolve().parents[1] / name for name in ("mlruns", "mlartifacts", "mlflow.db")
)
_LEAKS = pytest.StashKey[set]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test wrote into the checkout (a test that logs a model in MLflow's
    default experiment writes ``./mlruns``)."""
    leaked = sorted(
        str(p) for p in _LEAK_PATHS if p.exists() and p not in session.config.stash.get(_LEAKS, set())
    )
    if leaked:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nERROR: tests wrote into the checkout: {', '.join(leaked)}", file=sys.stderr)


@pytest.fixture(autouse=True)
def _mlflow_store_as_found():
    """Each test starts with the MLflow store it found: code under test may export its store
    (``step_run`` does, for the processes it starts), and a later test must not log into it."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if os.environ.get("MLFLOW_TRACKING_URI") != before:
        import mlflow

        mlflow.set_tracking_uri(before)  # None unsets the variable too


@pytest.fixture(scope="session")
def real_data() -> Path:
    folder = _real_data_folder()
    if folder is None:
        pytest.skip(f"real-data test: set {REAL_DATA_ENV}=/path/to/shared/data to run it")
    return folder


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings isolated in a temporary workspace (no user environment leaks in)."""
    from scoreline.config import Settings

    for name in list(os.environ):
        if name.startswith("SCORELINE_") and name != REAL_DATA_ENV:
            monkeypatch.delenv(name)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return Settings(home=tmp_path)


@pytest.fixture(scope="session")
def real_ingest(real_data, tmp_path_factory):
    """Every competition of the real data ingested once per session: (IngestReport, Settings)."""
    import pandas as pd

    from scoreline.config import Settings
    from scoreline.data.ingest import ingest

    settings = Settings(home=tmp_path_factory.mktemp("workspace"))
    return ingest(settings, str(real_data), None, pd.Timestamp("2026-11-23")), settings


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A throwaway ``redis-server`` (Debian's) on a free loopback port, no persistence, stopped at
    the end of the session; its URL. A missing binary fails the run in CI and skips elsewhere."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is missing (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=(folder / "redis.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"redis-server did not start:\n{(folder / 'redis.log').read_text()}")
            time.sleep(0.05)
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture(scope="session")
def ingame_slice(real_data):
    """Real NBA timelines of the 2016-17 .. 2019-20 regular seasons with their nba/ lines, read
    and checked without a full ingest: an :class:`InGameTables` (about 4,600 games)."""
    import pandas as pd

    from scoreline.data.adapters import nba, nba_pbp
    from scoreline.data.ingame import build_ingame
    from scoreline.data.validation import validate

    lines = pd.concat([nba.read(p, real_data).frame for p in nba.discover(real_data)], ignore_index=True)
    results = validate(lines, pd.Timestamp("2026-01-01")).kept
    folder = real_data / "nba_pbp"
    paths = [folder / "games.csv"] + [
        folder / "score_timeline" / f"nba_score_timeline_{y}_{str(y + 1)[2:]}_regular.csv.gz"
        for y in (2016, 2017, 2018, 2019)
    ]
    built = build_ingame(
        [nba_pbp.read(p, real_data) for p in paths], results.loc[results["competition"] == "NBA"]
    )
    return built.tables
