"""A throwaway workspace with tiny parameterised notebooks and pipeline specs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

PREPARE = [
    'season = 2000\nlabel = "demo"\nrun_dir = ""\nparent_run_id = ""',
    "import json\nfrom pathlib import Path\n"
    "assert isinstance(season, int) and run_dir and parent_run_id\n"
    "Path('../data').mkdir(exist_ok=True)\n"
    "Path('../data/prepared.json').write_text(json.dumps({'season': season, 'label': label}))\n"
    "Path(run_dir, 'prepare.txt').write_text(str(season))",
]
TRAIN = [
    'season = 2000\nthreshold = 0.5\nrun_dir = ""\nparent_run_id = ""',
    "import json\nfrom pathlib import Path\nimport mlflow\n"
    "prepared = json.loads(Path('../data/prepared.json').read_text())\n"
    "assert prepared['season'] == season, prepared",
    # a nested run under the pipeline's parent, opened by the kernel itself
    "experiment = mlflow.get_run(parent_run_id).info.experiment_id\n"
    "with mlflow.start_run(experiment_id=experiment, run_name='train', nested=True,\n"
    "                      tags={'mlflow.parentRunId': parent_run_id}):\n"
    "    mlflow.log_metric('threshold', threshold)\n"
    "Path(run_dir, 'train.json').write_text(json.dumps({'threshold': threshold}))",
]
BOOM = [
    'fail = True\nrun_dir = ""\nparent_run_id = ""',
    "from pathlib import Path\nPath(run_dir, 'boom_started.txt').write_text('x')",
    "assert not fail, 'boom requested\\nsecond line'",
    "Path(run_dir, 'boom_done.txt').write_text('x')",
]

DEMO = """\
name: demo
description: prepare then train
parameters:
  season: 2000
steps:
  - name: prepare
    notebook: notebooks/01_prepare.ipynb
    parameters: {label: demo}
  - name: train
    notebook: notebooks/02_train.ipynb
    parameters: {threshold: 0.5}
    inputs: [data/prepared.json]
"""
FAILING = """\
name: failing
steps:
  - name: prepare
    notebook: notebooks/01_prepare.ipynb
  - name: boom
    notebook: notebooks/03_boom.ipynb
"""


def write_notebook(path: Path, sources: list[str], tagged: bool = True) -> Path:
    cells = [new_code_cell(source) for source in sources]
    if tagged:
        cells[0].metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "scoreline",
        "display_name": "Scoreline (.venv)",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


@pytest.fixture
def notebook_writer():
    """``write_notebook(path, sources, tagged=True)`` for tests that need their own notebooks."""
    return write_notebook


@pytest.fixture
def workspace(settings, monkeypatch) -> Path:
    """``settings.home`` laid out as a workspace (find_workspace recognises it), cwd inside it."""
    home = settings.home
    (home / "MLproject").write_text("name: throwaway\n")
    (home / "src" / "scoreline").mkdir(parents=True)
    (home / "notebooks").mkdir()
    (home / "pipelines").mkdir()
    write_notebook(home / "notebooks" / "01_prepare.ipynb", PREPARE)
    write_notebook(home / "notebooks" / "02_train.ipynb", TRAIN)
    write_notebook(home / "notebooks" / "03_boom.ipynb", BOOM)
    write_notebook(home / "notebooks" / "04_untagged.ipynb", PREPARE, tagged=False)
    (home / "pipelines" / "demo.yaml").write_text(DEMO)
    (home / "pipelines" / "failing.yaml").write_text(FAILING)
    (home / "requirements.lock").write_text("# lock\n")
    monkeypatch.chdir(home)
    monkeypatch.setenv("SCORELINE_HOME", str(home))
    assert "MLFLOW_TRACKING_URI" not in os.environ
    return home
