"""Typed settings: defaults that work with no configuration, and overrides."""

from __future__ import annotations

import pytest

from scoreline.config import COMPETITIONS, Settings, Sport, competition, find_workspace


def test_defaults_need_no_configuration(settings):
    assert settings.source == "https://www.football-data.co.uk"
    assert settings.store_dir == settings.home / "data" / "store"
    assert settings.mlflow_tracking_uri == f"sqlite:///{settings.home / 'registry' / 'mlflow.db'}"


def test_environment_overrides(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("SCORELINE_DATA_SOURCE", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    overridden = Settings(home=tmp_path)
    assert overridden.source == str(tmp_path)
    assert overridden.mlflow_tracking_uri == "http://127.0.0.1:5000"


def test_competitions_cover_every_sport_and_unknown_codes_are_named():
    assert set(COMPETITIONS) == {"E0", "D1", "SP1", "I1", "F1", "NFL", "NBA", "CFB"}
    assert competition("NBA").sport is Sport.BASKETBALL and competition("E0").outcomes == 3
    with pytest.raises(KeyError, match="unknown competition 'E9'; known: E0"):
        competition("E9")


def test_workspace_is_found_from_a_subfolder(tmp_path):
    (tmp_path / "src" / "scoreline").mkdir(parents=True)
    (tmp_path / "MLproject").write_text("name: x\n")
    (tmp_path / "notebooks").mkdir()
    assert find_workspace(tmp_path / "notebooks") == tmp_path


def test_relative_paths_are_made_absolute_where_typed(settings, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCORELINE_DATA_SOURCE", "../shared/data")
    monkeypatch.setenv("SCORELINE_REPORTS_DIR", "out")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///registry/mlflow.db")
    typed = Settings(home=tmp_path)
    assert typed.data_source == str(tmp_path.parent / "shared" / "data")
    assert typed.reports_path == tmp_path / "out"
    assert typed.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'registry' / 'mlflow.db'}"
    monkeypatch.setenv("SCORELINE_DATA_SOURCE", "https://example.org/data")
    assert Settings(home=tmp_path).data_source == "https://example.org/data"
