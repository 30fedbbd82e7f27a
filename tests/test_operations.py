"""Operations: backups taken while a writer keeps writing are consistent, restore round-trips
and refuses to overwrite or to use a damaged backup, health names what is wrong."""

from __future__ import annotations

import http.server
import json
import sqlite3
import threading

import pytest
from click.testing import CliRunner

from scoreline.operations import backup, health, restore, verify_backup
from scoreline.predictions import PredictionStore
from scoreline.tracking import experiment_id

BATCH = 25


def _rows(n: int, start: int) -> list[dict]:
    return [
        {
            "competition": "E0",
            "model_name": "elo",
            "model_version": "1",
            "date": "2026-01-01",
            "home_team": f"Home {start + i}",
            "away_team": "Away",
            "prob_home": 0.5,
            "prob_draw": 0.25,
            "prob_away": 0.25,
            "features": {"elo_home": 1.0 * i},
        }
        for i in range(n)
    ]


def _count(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM predictions").fetchone()[0]


@pytest.fixture
def workspace(settings):
    """A registry with an MLflow store, an artifact file and a prediction store."""
    experiment_id("E0", settings)  # creates registry/mlflow.db
    artifact = settings.registry_path / "artifacts" / "E0" / "model.txt"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_text("weights v1")
    store = PredictionStore(settings.prediction_store)
    store.record_predictions(_rows(BATCH, 0))
    yield settings, store
    store.close()


def test_backup_during_writes_is_consistent_and_restore_round_trips(workspace, tmp_path):
    settings, store = workspace
    stop, written = threading.Event(), [BATCH]

    def writer():
        while not stop.is_set():
            store.record_predictions(_rows(BATCH, written[0]))
            written[0] += BATCH

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        folders = [backup(settings, tmp_path / f"backup{i}") for i in range(3)]
    finally:
        stop.set()
        thread.join()
    assert written[0] > 3 * BATCH  # the writer really ran alongside
    for folder in folders:
        manifest = verify_backup(folder)
        assert set(manifest["files"]) == {"mlflow.db", "predictions.db", "artifacts.tar"}
        with sqlite3.connect(folder / "predictions.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copied = _count(folder / "predictions.db")
        assert copied % BATCH == 0 and BATCH <= copied <= written[0]  # whole transactions only
    with pytest.raises(FileExistsError, match="not empty"):
        backup(settings, folders[0])

    chosen = folders[-1]
    expected = _count(chosen / "predictions.db")
    store.record_predictions(_rows(BATCH, 10_000))
    (settings.registry_path / "artifacts" / "E0" / "model.txt").write_text("weights v2")
    with pytest.raises(FileExistsError, match="force"):
        restore(settings, chosen)
    assert _count(settings.registry_path / "predictions.db") == written[0] + BATCH  # untouched
    store.close()
    restored = restore(settings, chosen, force=True)
    assert settings.registry_path / "predictions.db" in restored
    reopened = PredictionStore(settings.prediction_store)
    assert len(reopened.predictions()) == expected
    reopened.close()
    assert (settings.registry_path / "artifacts" / "E0" / "model.txt").read_text() == "weights v1"
    with sqlite3.connect(settings.registry_path / "mlflow.db") as db:
        assert db.execute("SELECT name FROM experiments WHERE name = 'E0'").fetchone() == ("E0",)


def test_a_damaged_backup_is_refused_before_anything_changes(workspace, tmp_path):
    settings, _ = workspace
    folder = backup(settings, tmp_path / "backup")
    with (folder / "predictions.db").open("r+b") as handle:
        handle.seek(200)
        handle.write(b"\xff" * 16)
    before = _count(settings.registry_path / "predictions.db")
    with pytest.raises(ValueError, match=r"predictions\.db does not match its manifest"):
        restore(settings, folder, force=True)
    assert _count(settings.registry_path / "predictions.db") == before
    with pytest.raises(FileNotFoundError, match="not a Scoreline backup"):
        restore(settings, tmp_path)


class _Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def ready_service():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_health_names_what_is_wrong(workspace, ready_service):
    settings, _ = workspace
    checks = {c.name: c for c in health(settings, f"{ready_service}/readyz")}
    assert checks["service"].ok and "HTTP 200" in checks["service"].detail
    assert checks["prediction_store"].ok and f"{BATCH} predictions" in checks["prediction_store"].detail
    assert checks["registry"].ok
    assert not checks["match_store"].ok and "scoreline ingest" in checks["match_store"].detail
    assert not checks["champions"].ok  # nothing promoted in this workspace
    down = {c.name: c for c in health(settings, f"{ready_service}/missing")}
    assert not down["service"].ok and "HTTP 404" in down["service"].detail


def test_health_backup_and_restore_commands(workspace, tmp_path, monkeypatch):
    from scoreline.cli import main

    settings, _ = workspace
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    runner = CliRunner()
    checked = runner.invoke(main, ["health", "--no-service", "--json"])
    assert checked.exit_code == 1
    report = json.loads(checked.stdout)
    assert report["ok"] is False and "service" not in {c["name"] for c in report["checks"]}
    made = runner.invoke(main, ["backup", "--to", str(tmp_path / "b"), "--json"])
    assert made.exit_code == 0, made.output
    assert "predictions.db" in json.loads(made.stdout)["files"]
    refused = runner.invoke(main, ["restore", "--from", str(tmp_path / "b")])
    assert refused.exit_code == 2 and "pass force" in refused.stderr
    done = runner.invoke(main, ["restore", "--from", str(tmp_path / "b"), "--force", "--json"])
    assert done.exit_code == 0, done.output
    assert len(json.loads(done.stdout)["restored"]) == 3
