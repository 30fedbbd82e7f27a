"""``scoreline pipeline run|list``: progress lines, JSON, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from click.testing import CliRunner

from scoreline.cli import main


def test_pipeline_list_shows_specs_and_their_steps(workspace):
    (workspace / "pipelines" / "broken.yaml").write_text("steps: []\n")
    text = CliRunner().invoke(main, ["pipeline", "list"])
    assert text.exit_code == 0, text.output
    assert "demo: prepare then train" in text.output
    assert "1. prepare" in text.output and "notebooks/02_train.ipynb" in text.output
    assert "broken: INVALID" in text.output
    payload = json.loads(CliRunner().invoke(main, ["pipeline", "list", "--json"]).stdout)
    demo = next(p for p in payload["pipelines"] if p["name"] == "demo")
    assert [s["name"] for s in demo["steps"]] == ["prepare", "train"]


def test_pipeline_run_progress_skips_json_and_exit_codes(workspace):
    runner = CliRunner()
    first = runner.invoke(main, ["pipeline", "run", "demo"])
    assert first.exit_code == 0, first.output
    assert re.search(r"^\[1/2\] prepare \.\.\. ran \d+\.\d s$", first.output, re.M), first.output
    assert re.search(r"^\[2/2\] train \.\.\. ran \d+\.\d s$", first.output, re.M)
    run_id = re.search(r"^demo (\S+): 2 ran, 0 skipped", first.output, re.M).group(1)
    assert f"executed notebooks: {workspace.resolve() / 'reports' / 'demo' / run_id}" in first.output
    assert "make ui" in first.output and "experiment pipeline-demo" in first.output

    second = runner.invoke(main, ["pipeline", "run", "demo", "-p", "train.threshold=0.7", "--json"])
    assert second.exit_code == 0, second.output
    payload = json.loads(second.stdout)
    assert [(s["name"], s["status"]) for s in payload["steps"]] == [("prepare", "skipped"), ("train", "ran")]
    assert payload["steps"][0]["reused_run"] == run_id and payload["status"] == "finished"

    third = runner.invoke(main, ["pipeline", "run", "demo", "-p", "train.threshold=0.7"])
    assert f"[1/2] prepare ... skipped (unchanged since {run_id})" in third.output

    failed = runner.invoke(main, ["pipeline", "run", "failing"])
    assert failed.exit_code == 1
    assert "error: step 'boom' (2/2, notebooks/03_boom.ipynb) failed at In [" in failed.output
    assert "[2/2] boom ... failed" in failed.output

    typo = runner.invoke(main, ["pipeline", "run", "demo", "-p", "trian.threshold=1"])
    assert typo.exit_code == 2 and "no step 'trian'" in typo.output
    missing = runner.invoke(main, ["pipeline", "run", "nope"])
    assert missing.exit_code == 2 and "available: demo, failing" in missing.output


PATHS = [
    'source = None\nrun_dir = ""\nparent_run_id = ""',
    "from pathlib import Path\nfrom scoreline.config import Settings\n"
    "folder = Settings().data_source\n"
    "assert Path(folder).is_absolute() and Path(folder, 'soccer').is_dir(), folder\n"
    "assert source is None or Path(source, 'soccer').is_dir(), source",
]


def test_relative_paths_mean_what_they_mean_where_they_were_typed(workspace, notebook_writer, monkeypatch):
    """The kernel runs inside notebooks/: a relative SCORELINE_DATA_SOURCE or ``-p source=`` given
    at the workspace root must still name the folder under the root."""
    (workspace / "shared" / "soccer").mkdir(parents=True)
    notebook_writer(workspace / "notebooks" / "05_paths.ipynb", PATHS)
    (workspace / "pipelines" / "paths.yaml").write_text(
        "name: paths\nsteps:\n  - {name: read, notebook: notebooks/05_paths.ipynb, always: true}\n"
    )
    monkeypatch.setenv("SCORELINE_DATA_SOURCE", "shared")
    runner = CliRunner()
    env = runner.invoke(main, ["pipeline", "run", "paths"])
    assert env.exit_code == 0, env.output
    typed = runner.invoke(main, ["pipeline", "run", "paths", "-p", "source=./shared"])
    assert typed.exit_code == 0, typed.output

    monkeypatch.chdir(workspace / "notebooks")  # typed from a subfolder: ../shared is the same folder
    monkeypatch.setenv("SCORELINE_DATA_SOURCE", "../shared")
    below = runner.invoke(main, ["pipeline", "run", "paths", "-p", "source=../shared"])
    assert below.exit_code == 0, below.output


def test_a_pipeline_run_prints_no_mlflow_info_lines(workspace):
    """A fresh tracking store makes MLflow log its migrations at INFO; the command stays quiet."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_LOGGING_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", "from scoreline.cli import main; main()", "pipeline", "run", "demo"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "INFO" not in done.stderr and "INFO" not in done.stdout, done.stderr
    assert "2 ran, 0 skipped" in done.stdout


WORK = [
    'run_dir = ""\nparent_run_id = ""',
    "import sys\nfrom scoreline.progress import Progress\n"
    "with Progress(3, 'demo work', unit='items', interval=1e-9) as progress:\n"
    "    for i in range(3):\n"
    "        progress.advance(detail=f'item {i}')\n"
    "print('a warning that is not progress', file=sys.stderr)",
]


def test_a_step_s_progress_reaches_the_terminal_and_nothing_else_of_its_stderr(workspace, notebook_writer):
    notebook_writer(workspace / "notebooks" / "06_work.ipynb", WORK)
    (workspace / "pipelines" / "work.yaml").write_text(
        "name: work\nsteps:\n  - {name: work, notebook: notebooks/06_work.ipynb}\n"
    )
    result = CliRunner().invoke(main, ["pipeline", "run", "work"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    lines = lines[lines.index("[1/1] work ... ") :]  # after MLflow's lines (imported before the CLI ran)
    assert re.match(r"^    demo work: 1/3 items \(33%\) \| item 0 \| \d+s elapsed, ETA \d+s$", lines[1]), (
        lines
    )
    assert re.match(r"^\[1/1\] work \.\.\. ran \d+\.\d s$", lines[4]), (
        lines
    )  # after 3 updates (the last says 3/3: no repeated final line)
    assert "not progress" not in result.output
