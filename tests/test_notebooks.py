"""The notebooks are pipeline steps: parameterised, thin, committed without outputs, and they run."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PARAMETERS = {
    "ingest": {"source", "competitions", "run_dir", "parent_run_id"},
    "features": {"competition", "run_dir", "parent_run_id"},
    "train": {"competition", "model", "run_dir", "parent_run_id"},
    "tune": {"competition", "model", "trials", "workers", "run_dir", "parent_run_id"},
    "backtest": {"competition", "models", "from_season", "window", "run_dir", "parent_run_id"},
    "promote": {"competition", "model", "fail_on_reject", "run_dir", "parent_run_id"},
    "monitor": {"competition", "days", "since", "fail_on_alert", "run_dir", "parent_run_id"},
    "ingame": {"seasons", "promote", "fail_on_reject", "run_dir", "parent_run_id"},
}


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_notebook_is_a_clean_parameterised_step(name):
    book = read(name)
    nbformat.validate(book)
    assert book.metadata.kernelspec.name == "scoreline"
    code = [c for c in book.cells if c.cell_type == "code"]
    tagged = [c for c in book.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0], "one parameters cell, the first code cell"
    assigned = {
        t.id
        for node in ast.parse(tagged[0].source).body
        if isinstance(node, ast.Assign)
        for t in node.targets
    }
    assert assigned == PARAMETERS[name]
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, "outputs committed"
        assert len(cell.source.splitlines()) <= 12, f"a thick cell:\n{cell.source}"
    assert code[-1].source.lstrip().startswith("assert") or "assert" in code[-1].source


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_opening_a_notebook_changes_nothing(path):
    """JupyterLab rewrites ``language_info`` with what the kernel reports as soon as it starts:
    committed with less, a notebook shows unsaved changes right after opening."""
    from ipykernel.ipkernel import IPythonKernel

    book = read(path.stem)
    assert book.metadata.language_info == IPythonKernel.language_info
    assert set(book.metadata) == {"kernelspec", "language_info"}, "stray metadata (papermill's, a widget's)"
    assert all(
        not c.get("outputs") and c.get("execution_count") is None for c in book.cells if "outputs" in c
    )


@pytest.fixture(scope="module")
def executed(real_data, tmp_path_factory):
    """Run ingest (E0 only) then features in a temporary workspace; returns (home, outputs)."""
    import papermill

    home = tmp_path_factory.mktemp("notebook-workspace")
    outputs = {}
    with pytest.MonkeyPatch.context() as patch:
        for variable in list(os.environ):
            if variable.startswith("SCORELINE_") or variable == "MLFLOW_TRACKING_URI":
                patch.delenv(variable)
        patch.setenv("SCORELINE_HOME", str(home))  # the kernel inherits this environment
        runs = {
            "ingest": {
                "source": str(real_data),
                "competitions": ["E0"],
                "run_dir": str(home / "runs" / "ingest"),
            },
            "features": {"competition": "E0", "run_dir": str(home / "runs" / "features")},
        }
        for name, parameters in runs.items():
            outputs[name] = home / f"{name}.out.ipynb"
            papermill.execute_notebook(
                str(NOTEBOOKS / f"{name}.ipynb"),
                str(outputs[name]),
                parameters=parameters,
                kernel_name="scoreline",
                cwd=str(NOTEBOOKS),
                progress_bar=False,
            )
    return home, outputs


@pytest.mark.realdata
def test_ingest_notebook_stores_reports_and_tracks_the_snapshot(executed):
    import mlflow

    from scoreline.data.store import MatchStore

    home, _ = executed
    store = MatchStore(home / "data" / "store")
    assert len(store.results("E0")) > 6000 and set(store.results()["competition"]) == {"E0"}
    assert {"summary.json", "files.csv", "quarantine.csv"} <= {
        p.name for p in (home / "runs" / "ingest").iterdir()
    }
    client = mlflow.MlflowClient(f"sqlite:///{home / 'registry' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("scoreline")
    assert experiment.artifact_location == (home / "registry" / "artifacts" / "scoreline").resolve().as_uri()
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["data_content_hash"] == store.manifest()["content_hash"]


@pytest.mark.realdata
def test_features_notebook_runs_on_the_stored_matches(executed):
    import mlflow

    home, outputs = executed
    book = nbformat.read(outputs["features"], as_version=4)
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert (home / "runs" / "features" / "elo_trajectories.png").stat().st_size > 10_000
    client = mlflow.MlflowClient(f"sqlite:///{home / 'registry' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("E0").experiment_id])
    assert run.data.tags["step"] == "features" and run.data.metrics["finite_fraction"] > 0.8
