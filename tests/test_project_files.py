"""The committed pipeline specs, notebooks and MLproject agree with the code."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from scoreline.cli import main
from scoreline.pipeline import load_spec
from scoreline.pipeline.runner import check_steps

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["weekly_training", "weekly_training_us"])
def test_pipeline_specs_validate_against_their_notebooks(name):
    spec = load_spec(name, ROOT)
    check_steps(spec, ROOT, "scoreline")  # notebooks exist, tagged, parameters declared
    ingest = spec.steps[0]
    assert ingest.name == "ingest" and ingest.inputs == ["{data_source}"] and ingest.valid_for == "day"
    assert [s.name for s in spec.steps[-2:]] == ["backtest", "promote"]


def test_mlproject_entry_points_call_real_commands_and_notebooks():
    project = yaml.safe_load((ROOT / "MLproject").read_text())
    assert project["conda_env"] == "environment.yml"
    assert {"weekly_training", "ingest", "features", "train", "tune", "backtest", "promote"} <= set(
        project["entry_points"]
    )
    for entry in project["entry_points"].values():
        words = shlex.split(entry["command"])
        if words[0] == "scoreline":
            assert words[1] in main.commands
        else:
            assert words[0] == "papermill" and (ROOT / words[1]).is_file()
        for parameter in entry.get("parameters", {}):
            assert "{" + parameter + "}" in entry["command"]
