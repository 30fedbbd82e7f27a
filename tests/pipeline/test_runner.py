"""The pipeline runner with the real ``scoreline`` kernel (papermill) and a SQLite MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from mlflow import MlflowClient

from scoreline.pipeline import SpecError, StepFailed, apply_overrides, load_spec, run_pipeline
from scoreline.pipeline.runner import STATE_FILE, declared_parameters, load_state


def injected_source(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    return "".join(c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))


def test_pipeline_runs_end_to_end_and_mlflow_holds_the_parent_run(workspace, settings):
    events = []
    run = run_pipeline(load_spec("demo", workspace), settings, progress=lambda *event: events.append(event))

    assert run.status == "finished" and [s.status for s in run.steps] == ["ran", "ran"]
    assert run.run_dir == settings.reports_path.resolve() / "demo" / run.run_id
    assert [s.notebook.name for s in run.steps] == ["01_prepare.ipynb", "02_train.ipynb"]
    assert all(s.notebook.is_file() for s in run.steps)
    assert (run.run_dir / "prepare.txt").read_text() == "2000"  # run_dir injected and used
    assert json.loads((run.run_dir / "train.json").read_text()) == {"threshold": 0.5}
    assert [(p, n, r is None) for p, _, n, r in events] == [
        (1, "prepare", True),
        (1, "prepare", False),
        (2, "train", True),
        (2, "train", False),
    ]
    injected = injected_source(run.steps[1].notebook)
    assert f'parent_run_id = "{run.mlflow_run_id}"' in injected and "season = 2000" in injected

    client = MlflowClient(settings.mlflow_tracking_uri)
    parent = client.get_run(run.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    assert client.get_experiment(parent.info.experiment_id).name == "pipeline-demo"
    assert parent.info.artifact_uri.startswith((settings.registry_path / "artifacts").resolve().as_uri())
    assert parent.data.tags["pipeline"] == "demo" and parent.data.tags["run_id"] == run.run_id
    assert parent.data.tags["git_commit"] == "unknown"  # the throwaway workspace is no checkout
    assert parent.data.params == {"season": "2000", "prepare.label": "demo", "train.threshold": "0.5"}
    assert {"step.prepare.seconds", "step.train.seconds", "total_seconds"} <= set(parent.data.metrics)
    assert parent.data.metrics["total_seconds"] >= parent.data.metrics["step.train.seconds"] > 0
    artifacts = {a.path for a in client.list_artifacts(run.mlflow_run_id, "notebooks")}
    assert artifacts == {
        "notebooks/01_prepare.ipynb",
        "notebooks/02_train.ipynb",
        "notebooks/01_prepare.html",  # rendered, so the artifact viewer shows the notebook, not JSON
        "notebooks/02_train.html",
    }
    html = Path(client.download_artifacts(run.mlflow_run_id, "notebooks/02_train.html", str(run.run_dir)))
    assert "<html" in html.read_text()[:2000] and "threshold" in html.read_text()
    assert {a.path for a in client.list_artifacts(run.mlflow_run_id)} >= {
        "notebooks",
        "spec",
        "requirements.lock",
    }

    # the notebook opened its own nested run under the parent, in the same SQLite store
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run.mlflow_run_id}'"
    )
    assert len(children) == 1 and children[0].data.metrics["threshold"] == 0.5
    # the step's own run carries the notebook that produced it
    own = {a.path for a in client.list_artifacts(children[0].info.run_id, "notebook")}
    assert own == {"notebook/02_train.ipynb", "notebook/02_train.html"}
    assert parent.info.run_name == "demo" and parent.data.tags["mlflow.source.name"] == "pipelines/demo.yaml"
    assert parent.data.tags["mlflow.user"]  # the UI's "Created by"


def test_unchanged_steps_are_skipped_and_overrides_or_inputs_rerun(workspace, settings):
    spec = load_spec("demo", workspace)
    first = run_pipeline(spec, settings)

    second = run_pipeline(spec, settings)
    assert [s.status for s in second.steps] == ["skipped", "skipped"]
    assert [s.reused_run for s in second.steps] == [first.run_id, first.run_id]
    assert [s.notebook for s in second.steps] == [s.notebook for s in first.steps]

    third = run_pipeline(apply_overrides(spec, ["train.threshold=0.9"]), settings)
    assert [s.status for s in third.steps] == ["skipped", "ran"]
    assert "threshold = 0.9" in injected_source(third.steps[1].notebook)
    client = MlflowClient(settings.mlflow_tracking_uri)
    logged = client.get_run(third.mlflow_run_id).data
    assert logged.params["train.threshold"] == "0.9"
    assert "step.train.seconds" in logged.metrics and "step.prepare.seconds" not in logged.metrics
    assert logged.tags["step.prepare.reused_run"] == first.run_id
    assert {a.path for a in client.list_artifacts(third.mlflow_run_id, "notebooks")} == {
        "notebooks/02_train.ipynb",
        "notebooks/02_train.html",
    }

    # a pipeline-level change reaches every step; train also declares data/prepared.json as input
    fourth = run_pipeline(apply_overrides(spec, ["season=2012", "train.threshold=0.9"]), settings)
    assert [s.status for s in fourth.steps] == ["ran", "ran"]
    assert json.loads((workspace / "data" / "prepared.json").read_text())["season"] == 2012
    assert client.get_run(fourth.mlflow_run_id).data.params["season"] == "2012"

    state = load_state(settings.reports_path / "demo")
    assert state["train"]["run_id"] == fourth.run_id and state["train"]["hash"] == fourth.steps[1].hash

    forced = run_pipeline(apply_overrides(spec, ["season=2012", "train.threshold=0.9"]), settings, force=True)
    assert [s.status for s in forced.steps] == ["ran", "ran"]


def test_an_always_step_runs_every_time(workspace, settings):
    spec = load_spec("demo", workspace)
    always = spec.model_copy(
        update={"steps": [spec.steps[0].model_copy(update={"always": True}), *spec.steps[1:]]}
    )
    run_pipeline(always, settings)
    again = run_pipeline(always, settings)
    assert [s.status for s in again.steps] == ["ran", "skipped"]


def test_failing_step_names_step_cell_and_notebook_and_keeps_earlier_state(workspace, settings):
    with pytest.raises(StepFailed) as caught:
        run_pipeline(load_spec("failing", workspace), settings)
    err = caught.value
    message = str(err)
    assert "step 'boom' (2/2, notebooks/03_boom.ipynb) failed at In [" in message
    assert "AssertionError: boom requested" in message
    assert err.exec_count is not None and err.cell_index == 3  # after papermill's injected cell
    assert str(err.notebook) in message and err.notebook.is_file()
    assert err.notebook.parent == err.run.run_dir and err.notebook.name == "02_boom.ipynb"

    run_dir = err.run.run_dir
    assert [s.status for s in err.run.steps] == ["ran", "failed"] and err.run.status == "failed"
    assert (run_dir / "01_prepare.ipynb").is_file() and (run_dir / "prepare.txt").is_file()
    assert (run_dir / "boom_started.txt").is_file() and not (run_dir / "boom_done.txt").exists()
    state = json.loads((settings.reports_path / "failing" / STATE_FILE).read_text())["steps"]
    assert set(state) == {"prepare"} and state["prepare"]["run_id"] == err.run.run_id

    parent = MlflowClient(settings.mlflow_tracking_uri).get_run(err.run.mlflow_run_id)
    assert parent.info.status == "FAILED"
    assert parent.data.tags["step.boom.status"] == "failed"

    # fixing the failure re-runs only the failed step
    fixed = run_pipeline(apply_overrides(load_spec("failing", workspace), ["boom.fail=false"]), settings)
    assert [s.status for s in fixed.steps] == ["skipped", "ran"]


def test_missing_parameters_tag_fails_before_anything_runs(workspace, settings):
    (workspace / "pipelines" / "untagged.yaml").write_text(
        "steps:\n  - {name: prepare, notebook: notebooks/01_prepare.ipynb}\n"
        "  - {name: untagged, notebook: notebooks/04_untagged.ipynb, parameters: {season: 1}}\n"
    )
    with pytest.raises(
        SpecError, match=r"step 'untagged': notebooks/04_untagged\.ipynb has no cell tagged 'parameters'"
    ):
        run_pipeline(load_spec("untagged", workspace), settings)
    assert not settings.reports_path.exists() and not settings.registry_path.exists()


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.treshold=0.9", "step 'train': parameter(s) treshold not defined in the parameters cell"),
        ("seson=2012", "parameter(s) seson not defined in any step's parameters cell"),
    ],
)
def test_parameter_typos_fail_before_anything_runs(workspace, settings, override, expected):
    spec = apply_overrides(load_spec("demo", workspace), [override])
    with pytest.raises(SpecError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        run_pipeline(spec, settings)
    assert not settings.reports_path.exists()


def test_unknown_kernel_fails_before_anything_runs(workspace, settings):
    with pytest.raises(SpecError, match="no Jupyter kernel named 'nope'"):
        run_pipeline(load_spec("demo", workspace), settings, kernel="nope")


def test_declared_parameters_reads_assignments_even_with_quoted_comments(tmp_path, notebook_writer):
    write_notebook = notebook_writer

    cell = 'models = None  # e.g. ["elo", "dixon_coles"] (None = default)\nseason: int = 2012\nrun_dir = ""'
    assert declared_parameters(write_notebook(tmp_path / "a.ipynb", [cell])) == [
        "models",
        "season",
        "run_dir",
    ]
    assert declared_parameters(write_notebook(tmp_path / "b.ipynb", ["%matplotlib inline\nx = 1"])) == []
    assert declared_parameters(write_notebook(tmp_path / "c.ipynb", ["x = 1"], tagged=False)) is None


def test_a_step_reads_only_its_share_of_an_input_folder(workspace, settings):
    """``{name}`` in an input is the step's parameter: a step is rerun when its own file changes,
    not when another step's does (one model's tuned parameters retrain that model only)."""
    spec = load_spec("demo", workspace)
    train = spec.steps[1].model_copy(update={"inputs": ["data/prepared.json", "tuned/{threshold}.json"]})
    spec = spec.model_copy(update={"steps": [spec.steps[0], train]})
    (workspace / "tuned").mkdir()
    run_pipeline(spec, settings)
    (workspace / "tuned" / "0.9.json").write_text("{}")  # another step's share
    assert [s.status for s in run_pipeline(spec, settings).steps] == ["skipped", "skipped"]
    (workspace / "tuned" / "0.5.json").write_text("{}")  # its own
    assert [s.status for s in run_pipeline(spec, settings).steps] == ["skipped", "ran"]
    unknown = train.model_copy(update={"inputs": ["{nope}"]})
    broken = spec.model_copy(update={"steps": [spec.steps[0], unknown]})
    with pytest.raises(SpecError, match="input '\\{nope\\}' names 'nope' that is not a parameter"):
        run_pipeline(broken, settings)


def test_a_step_on_the_source_folder_reruns_when_it_or_the_day_changes(workspace, settings, monkeypatch):
    """The ingest's setup: ``inputs: ['{data_source}']`` and ``valid_for: day``. An unchanged
    source folder on the same day skips the step; a changed file, the next day or a URL source
    (whose content is not hashed) runs it."""
    import datetime as dt

    from scoreline.config import Settings
    from scoreline.pipeline import runner

    source = workspace.parent / "source"
    source.mkdir()
    (source / "E0_2223.csv").write_text("a,b\n1,2\n")
    spec = load_spec("demo", workspace)
    prepare = spec.steps[0].model_copy(update={"inputs": ["{data_source}"], "valid_for": "day"})
    spec = spec.model_copy(update={"steps": [prepare]})
    on_folder = Settings(home=settings.home, data_source=str(source))

    def statuses(current: Settings) -> list[str]:
        return [s.status for s in run_pipeline(spec, current).steps]

    assert statuses(on_folder) == ["ran"]
    assert statuses(on_folder) == ["skipped"]
    (source / "E0_2223.csv").write_text("a,b\n1,3\n")
    assert statuses(on_folder) == ["ran"]

    class Tomorrow(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + dt.timedelta(days=1)

    monkeypatch.setattr(runner, "datetime", Tomorrow)
    assert statuses(on_folder) == ["ran"]
    assert statuses(on_folder) == ["skipped"]
    on_url = Settings(home=settings.home, data_source="https://example.invalid/data")
    assert statuses(on_url) == ["ran"]
