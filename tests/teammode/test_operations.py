"""Operations in team mode: health checks the tracking server and the team database (and names
them when they are down), backup refuses with a pg_dump command that works, and the SQLite
prediction store moves to PostgreSQL with ``scoreline migrate-store``."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from scoreline.cli import main
from scoreline.config import Settings
from scoreline.matchday.book import BetBook
from scoreline.operations import TeamModeBackup, backup, health, pg_dump_command
from scoreline.predictions import FeatureVector, PredictionStore

from .conftest import PG_BIN, free_port, new_database


@pytest.fixture
def team_env(settings, team_database, tracking_server, monkeypatch):
    """The environment of a team-mode workspace (no service, an empty match store)."""
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    monkeypatch.setenv("SCORELINE_TEAM_DATABASE_URL", team_database)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    return Settings()


def test_team_mode_needs_postgres_and_a_tracking_server(settings, monkeypatch):
    monkeypatch.setenv("SCORELINE_TEAM_DATABASE_URL", "postgresql+psycopg://u@db/scoreline")
    with pytest.raises(ValueError, match="needs an MLflow tracking server: set MLFLOW_TRACKING_URI"):
        Settings(home=settings.home)
    monkeypatch.setenv("SCORELINE_TRACKING_URI", "http://mlflow:5000")
    team = Settings(home=settings.home, prediction_store_url="sqlite:///p.db")
    assert team.optuna_storage == "postgresql+psycopg://u@db/scoreline"
    # a store's own setting still wins (a relative SQLite path taken from where it was typed)
    assert team.prediction_store == f"sqlite:///{os.getcwd()}/p.db"
    assert team.artifact_location("E0") is None  # the server's artifact root
    monkeypatch.setenv("SCORELINE_TEAM_DATABASE_URL", "sqlite:///team.db")
    with pytest.raises(ValueError, match="team_database_url must be a PostgreSQL URL"):
        Settings(home=settings.home)


def test_health_reports_the_server_and_the_database(team_env):
    checks = {c.name: c for c in health(team_env, service_url=None)}
    assert checks["tracking_server"].ok and "MLflow 3.17" in checks["tracking_server"].detail
    assert checks["team_database"].ok and "PostgreSQL 15" in checks["team_database"].detail
    assert checks["registry"].ok and checks["registry"].detail.startswith("http://127.0.0.1:")
    store = checks["prediction_store"]
    assert store.ok and store.detail.startswith("postgresql+psycopg://") and "0 predictions" in store.detail
    result = CliRunner().invoke(main, ["health", "--no-service", "--json"])
    names = {c["name"]: c["ok"] for c in json.loads(result.output)["checks"]}
    assert names["tracking_server"] and names["team_database"] and names["prediction_store"]


def test_health_names_a_server_or_database_that_is_down(settings, postgres_url, monkeypatch):
    missing = make_url(postgres_url).set(database="no_such_db").render_as_string(hide_password=False)
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SCORELINE_TEAM_DATABASE_URL", missing)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", down)
    checks = {c.name: c for c in health(Settings(home=settings.home), service_url=None, timeout_s=1)}
    assert not checks["tracking_server"].ok and f"{down}: not reachable" in checks["tracking_server"].detail
    assert not checks["team_database"].ok and '"no_such_db" does not exist' in checks["team_database"].detail
    assert not checks["registry"].ok and "not checked" in checks["registry"].detail
    assert not checks["prediction_store"].ok


def test_backup_refuses_with_a_pg_dump_command_that_works(team_env, tmp_path):
    with pytest.raises(
        TeamModeBackup, match=r"pg_dump --format=custom --file=scoreline.dump --dbname=postgresql://"
    ):
        backup(team_env, tmp_path / "backup")
    assert not (tmp_path / "backup").exists()
    PredictionStore(team_env.prediction_store).close()  # something to dump: the store's schema
    command = pg_dump_command(team_env.team_database_url, tmp_path / "team.dump")
    done = subprocess.run([str(PG_BIN / command[0]), *command[1:]], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [str(PG_BIN / "pg_restore"), "--list", str(tmp_path / "team.dump")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "TABLE public predictions" in listed
    result = CliRunner().invoke(main, ["backup"])
    assert result.exit_code == 2 and "pg_dump --format=custom" in result.output


def test_outside_team_mode_a_postgres_store_is_named_in_the_backup_manifest(
    settings, team_database, tmp_path
):
    from scoreline.tracking import experiment_id

    mixed = settings.model_copy(update={"prediction_store_url": team_database})
    experiment_id("E0", mixed)  # a local registry/mlflow.db to back up
    folder = backup(mixed, tmp_path / "backup")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert list(manifest["files"]) == ["mlflow.db"]
    assert manifest["not_included"] == {
        "predictions": " ".join(pg_dump_command(team_database, "predictions.dump"))
    }


def test_migrate_store_copies_sqlite_to_postgres_all_or_nothing(settings, postgres_url, monkeypatch):
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    local = PredictionStore(settings.prediction_store)
    names = ("elo_home", "elo_away")
    rows = [
        {
            "competition": "E0",
            "model_name": "elo",
            "model_version": "1",
            "date": "2024-08-17",
            "home_team": f"Home {i}",
            "away_team": "Away",
            "prob_home": 0.5,
            "prob_draw": 0.25,
            "prob_away": 0.25,
            "features": FeatureVector(names, np.array([1500.0 + i, 1490.0])),
            "detail": {"i": i % 3},
        }
        for i in range(30)
    ]
    ids = local.record_predictions(rows)
    local.record_results(
        [
            {
                "competition": "E0",
                "date": "2024-08-17",
                "home_team": f"Home {i}",
                "away_team": "Away",
                "home_score": i % 3,
                "away_score": 1,
            }
            for i in range(10)
        ]
    )
    local.settle()
    before = local.predictions()
    book = BetBook(local)
    bet = {
        "competition": "E0",
        "date": dt.date(2024, 8, 17),
        "home_team": "Home 0",
        "away_team": "Away",
        "placed_on": dt.date(2024, 8, 16),
        "placed_at": dt.datetime(2024, 8, 16, 6),
        "prediction_id": ids[0],
        "model_name": "elo",
        "model_version": "1",
        "outcome": "home",
        "probability": 0.5,
        "price": 2.2,
        "price_source": "b365",
        "expected_value": 0.1,
        "kelly": 0.08,
        "stake": 0.5,
        "bankroll": 100.0,
        "status": "open",
    }
    book.record(
        [
            {
                k: bet[k]
                for k in (
                    "competition",
                    "date",
                    "home_team",
                    "away_team",
                    "model_version",
                    "prediction_id",
                    "placed_on",
                )
            }
        ],
        [bet],
    )
    bets_before = book.bets("E0")
    live = {
        "competition": "NBA",
        "date": dt.date(2022, 11, 25),
        "home_team": "BOS",
        "away_team": "SAC",
        "game_id": "0022200275",
        "period": 1,
        "clock": "05:00",
        "final": False,
        "emitted_at": 1.0,
        "win_prob": 0.6,
        "margin": 4.0,
        "model_name": "brownian_test",
        "model_version": "1",
    }
    local.record_live_forecasts(
        [{**live, "seq": i, "elapsed_s": 60.0 * i, "home_score": 2 * i, "away_score": i} for i in (1, 2)]
    )
    live_before = local.live_forecasts("NBA", 0, 10)
    local.close()

    target = new_database(postgres_url)
    result = CliRunner().invoke(main, ["migrate-store", "--to", target, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"] == {
        "feature_sets": 1,
        "results": 10,
        "forecast_outputs": 30,
        "predictions": 30,
        "settlements": 10,
        "bets": 1,
        "matchday_predictions": 1,
        "live_forecasts": 2,
        "halftime_results": 0,
    }
    moved = PredictionStore(target)
    assert moved.live_forecasts("NBA", 0, 10) == live_before
    assert BetBook(moved).bets("E0").equals(bets_before)
    after = moved.predictions()
    assert after.drop(columns="created_at").equals(before.drop(columns="created_at"))
    assert (after["created_at"] - before["created_at"]).abs().max().total_seconds() < 1e-3
    # the ids continue after the copied ones, and settling again changes nothing
    [new] = moved.record_predictions([dict(rows[0], home_team="Someone")])
    assert new == max(ids) + 1
    assert moved.settle()["settled"] == 0
    moved.close()
    again = CliRunner().invoke(main, ["migrate-store", "--to", target])
    assert again.exit_code == 2 and "is not empty (1 feature_sets, 2 live_forecasts" in again.output
    assert "10 results" in again.output
    assert len(PredictionStore(target).predictions()) == 31  # nothing copied twice
    missing = CliRunner().invoke(
        main, ["migrate-store", "--from", "sqlite:////nonexistent/p.db", "--to", target]
    )
    assert missing.exit_code == 2 and "no prediction store at /nonexistent/p.db" in missing.output
