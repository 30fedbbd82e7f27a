"""The matchday and settle notebooks are clean parameterised steps of their pipelines, and they
run: a week of real fixtures forecast and bet, then settled on the real results."""

from __future__ import annotations

import ast
import json

import nbformat
import pandas as pd
import pytest

from scoreline.matchday.book import BetBook
from scoreline.matchday.replay import snapshot_on
from scoreline.pipeline import load_spec
from scoreline.pipeline.runner import check_steps
from scoreline.predictions import PredictionStore

from .conftest import ROOT

PARAMETERS = {
    "matchday": {"competition", "days", "date", "fixtures", "run_dir", "parent_run_id"},
    "settle": {"competition", "date", "run_dir", "parent_run_id"},
}


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_notebook_is_a_clean_step_of_its_pipeline(name):
    book = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []) and book.metadata.kernelspec.name == "scoreline"
    assert {t.id for node in ast.parse(code[0].source).body for t in node.targets} == PARAMETERS[name]
    assert all(not c.outputs and len(c.source.splitlines()) <= 12 for c in code)
    assert code[-1].source.lstrip().startswith("assert") or "\nassert" in code[-1].source
    spec = load_spec(name, ROOT)
    check_steps(spec, ROOT, "scoreline")  # notebooks exist, tagged, parameters declared
    assert [s.notebook for s in spec.steps] == [f"notebooks/{name}.ipynb"] and spec.steps[0].always


@pytest.mark.realdata
def test_matchday_then_settle_notebooks_run(ws, e0, tmp_path):
    import papermill

    csv = tmp_path / "fixtures.csv"
    snapshot_on(e0, pd.Timestamp("2023-04-01"), 7).fixtures.to_csv(csv, index=False)
    for name, parameters in (
        ("matchday", {"date": "2023-04-01", "fixtures": str(csv)}),
        ("settle", {"date": "2023-04-10"}),
    ):
        papermill.execute_notebook(
            str(ROOT / "notebooks" / f"{name}.ipynb"),
            str(tmp_path / f"{name}.ipynb"),
            parameters={**parameters, "run_dir": str(tmp_path / "runs")},
            kernel_name="scoreline",
            cwd=str(ROOT / "notebooks"),
            progress_bar=False,
        )
    matchday = json.loads((tmp_path / "runs" / "matchday_E0.json").read_text())
    settle = json.loads((tmp_path / "runs" / "settle_E0.json").read_text())
    assert matchday["fixtures"] == matchday["predicted"] == 16 and matchday["bets"] > 0
    assert settle["n_settled"] == settle["n_bets"] == matchday["bets"]
    store = PredictionStore(ws.prediction_store)
    try:
        bets = BetBook(store).bets("E0")
    finally:
        store.close()
    staked = bets.loc[~bets["paper"].astype(bool)]  # paper bets are settled, never counted
    assert settle["pnl"] == pytest.approx(staked["pnl"].sum()) and (bets["status"] != "open").all()
    assert (ws.reports_path / "settle" / "E0" / "2023-04-10" / "summary.json").is_file()
