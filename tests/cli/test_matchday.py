"""``scoreline bets report``: every strategy's figures and the gate's verdicts."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from scoreline.cli import main


def test_bets_report_json_is_one_object_with_every_scope(settings, monkeypatch, real_data):
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    args = ["bets", "report", "--competition", "E0", "--from-season", "2020", "--source", str(real_data)]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    rows = {(r["strategy"], r["scope"]): r for r in payload["figures"]}
    assert {("sharp_soft", "pooled"), ("sharp_soft", "E0"), ("sharp_soft", "2022")} <= set(rows)
    sharp = rows[("sharp_soft", "pooled")]
    assert sharp["n_matches"] == 3 * 380 and sharp["n_bets"] > 100
    assert sharp["clv_shin_lo"] <= sharp["clv_shin"] <= sharp["clv_shin_hi"]
    assert ("consensus@b365", "pooled") in rows
    assert set(payload["skipped"]) == {"model_edge", "model_market"}  # no backtest in this workspace
    assert payload["gate"]["sharp_soft"]["seasons"] == [2020, 2021, 2022]
    folder = Path(payload["report_dir"])  # the figures, every bet and the pictures
    for name in ("figures.csv", "summary.json", "bets_sharp_soft.csv", "bankroll.png", "clv_histogram.png"):
        assert (folder / name).is_file(), name
    assert (folder / "bets_per_season.png").is_file() and payload["mlflow_run_id"] is None
    table = CliRunner().invoke(main, [*args, "--scope", "all"])
    assert table.exit_code == 0 and "sharp_soft" in table.output and "staking gate" in table.output
    lines = table.output.splitlines()[:-1]  # the last names the report folder, however long
    assert max(map(len, lines)) <= 100, max(lines, key=len)  # fits a 100-column terminal


def test_bets_report_names_a_missing_source(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    result = CliRunner().invoke(main, ["bets", "report", "--source", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no football-data season files" in result.output
