"""What a pipeline run decided, read from the files its steps left."""

from __future__ import annotations

import json
from pathlib import Path

from scoreline.pipeline.outcome import outcome_lines, pipeline_outcome
from scoreline.pipeline.runner import PipelineRun, StepResult

SCORES = {
    "competition": "E0",
    "matches": 760,
    "reference": "market_pinnacle_close",
    "overall": [
        {"model": "base_rates", "rps": 0.233, "log_loss": 1.064, "accuracy": 0.457},
        {"model": "elo", "rps": 0.2002, "log_loss": 0.9711, "accuracy": 0.5434},
        {"model": "dixon_coles", "rps": 0.2001, "log_loss": 0.9759, "accuracy": 0.546},
        {"model": "market_pinnacle_close", "rps": 0.1933, "log_loss": 0.9494, "accuracy": 0.5658},
    ],
}


def promotion(promoted: bool) -> dict:
    failed = {"rule": "improvement", "metric": "rps", "comparison": "< -0.0005", "margin": -0.0012}
    return {
        "competition": "E0",
        "version": "4",
        "model_name": "elo",
        "promoted": promoted,
        "champion": "4" if promoted else "3",
        "previous": "3" if promoted else "2",
        "champion_before": "3",
        "champion_before_model": "dixon_coles",
        "gate": {"rows": [{**failed, "passed": promoted}]},
    }


def run_with(tmp_path: Path, promoted: bool) -> PipelineRun:
    backtest, promote = tmp_path / "earlier", tmp_path / "now"  # the backtest step was skipped
    backtest.mkdir()
    promote.mkdir()
    (backtest / "scores.json").write_text(json.dumps(SCORES))
    (promote / "promotion_E0.json").write_text(json.dumps(promotion(promoted)))
    (promote / "model_card_E0.md").write_text("# card\n")
    steps = [
        StepResult("backtest", "skipped", 0.0, backtest / "11_backtest.ipynb", "h", "earlier"),
        StepResult("promote", "ran", 1.0, promote / "12_promote.ipynb", "h"),
    ]
    return PipelineRun("weekly_training", "now", promote, steps)


def test_a_promotion_says_champion_before_and_after_next_to_the_market(tmp_path):
    outcome = pipeline_outcome(run_with(tmp_path, promoted=True))
    lines = outcome_lines(outcome)
    assert lines[0] == "E0: champion version 3 (dixon_coles) -> version 4 (elo): gate passed"
    assert lines[1] == "  backtest on 760 matches (RPS: lower is better)"
    assert lines[2].split() == [
        "candidate",
        "elo",
        "rps",
        "0.2002",
        "log",
        "loss",
        "0.9711",
        "accuracy",
        "0.543",
    ]
    assert lines[3].split()[:4] == ["best", "model", "dixon_coles", "rps"]
    assert lines[4].split()[:3] == ["market", "market_pinnacle_close", "rps"]
    assert lines[5] == f"  model card: {tmp_path / 'now' / 'model_card_E0.md'}"
    assert max(map(len, lines[:5])) <= 100


def test_a_rejection_says_the_champion_was_kept_and_why(tmp_path):
    outcome = pipeline_outcome(run_with(tmp_path, promoted=False))
    assert outcome["E0"]["decision"] == {
        "changed": False,
        "text": "champion kept (version 3), because version 4 (elo) failed improvement rps < -0.0005 "
        "(margin -0.0012)",
    }


def test_the_outcome_becomes_the_parent_run_s_description(settings, tmp_path):
    from mlflow import MlflowClient

    from scoreline.pipeline.outcome import describe_parent_run

    settings.registry_path.mkdir(parents=True)
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    experiment = client.create_experiment("pipeline-demo", artifact_location=(tmp_path / "a").as_uri())
    parent = client.create_run(experiment).info.run_id
    run = run_with(tmp_path, promoted=True)
    run.mlflow_run_id = parent
    describe_parent_run(settings, run, outcome_lines(pipeline_outcome(run)))
    note = client.get_run(parent).data.tags["mlflow.note.content"]
    assert "champion version 3 (dixon_coles) -> version 4 (elo)" in note and note.startswith("```")
