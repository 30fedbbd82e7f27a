"""An Elo champion of the real Premier League store, registered once per session; each test gets
a private registry folder (its own prediction store, bets and reports) over a copy of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def champion(real_ingest, tmp_path_factory):
    """Settings whose registry has an ``elo`` champion trained on every stored E0 result."""
    from scoreline.promotion import register_model, set_champion
    from scoreline.tracking import train_and_log

    _, ingested = real_ingest
    folder = tmp_path_factory.mktemp("matchday")
    settings = ingested.model_copy(
        update={"registry_dir": folder / "registry", "reports_dir": folder / "reports"}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        try:
            trained = train_and_log(settings, "E0", "elo")
            version = register_model(
                settings, "E0", trained["model_uri"], {"model_name": "elo", "train_run_id": trained["run_id"]}
            )
            set_champion(settings, "E0", version.version, "installed by the test")
        finally:
            mlflow.set_tracking_uri(None)
    return settings


@pytest.fixture
def ws(champion, real_data, tmp_path, monkeypatch):
    """Settings over a private copy of the champion's registry, with the repository's policy
    and the real price files (the staking gate's evidence, every book's prices); the CLI sees
    the same through the environment."""
    registry = tmp_path / "registry"
    registry.mkdir()
    shutil.copy(champion.registry_path / "mlflow.db", registry / "mlflow.db")
    shutil.copy(ROOT / "registry" / "policy.yaml", registry / "policy.yaml")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SCORELINE_HOME", str(champion.home))
    monkeypatch.setenv("SCORELINE_REGISTRY_DIR", str(registry))
    monkeypatch.setenv("SCORELINE_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("SCORELINE_DATA_SOURCE", str(real_data))
    yield champion.model_copy(
        update={"registry_dir": registry, "reports_dir": tmp_path / "reports", "data_source": str(real_data)}
    )
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def e0(real_ingest) -> pd.DataFrame:
    """Every stored E0 result."""
    from scoreline.data.store import MatchStore

    _, settings = real_ingest
    return MatchStore(settings.store_dir).results("E0")
