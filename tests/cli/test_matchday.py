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


def test_bets_report_on_college_football_lines_and_nfl_says_why_there_is_no_clv(
    settings, monkeypatch, real_data
):
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    args = ["bets", "report", "--competition", "CFB", "--from-season", "2023", "--source", str(real_data)]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    rows = {(r["strategy"], r["scope"]): r for r in payload["figures"]}
    assert {("consensus", "pooled"), ("consensus", "2023"), ("consensus", "2024")} <= set(rows)
    shop = rows[("consensus", "pooled")]
    assert shop["n_bets"] > 100 and shop["n_clv_spread"] > 0
    assert shop["clv_spread_lo"] <= shop["clv_spread"] <= shop["clv_spread_hi"]
    assert shop["roi_lo"] <= shop["roi"] <= shop["roi_hi"]
    assert set(payload["skipped"]) == {"sharp_soft", "model_edge"} and payload["gate"] == {}
    assert any("-110" in note for note in payload["notes"])

    nfl = CliRunner().invoke(main, ["bets", "report", "--competition", "NFL", "--source", str(real_data)])
    assert nfl.exit_code == 0, nfl.output
    assert "no backtest predictions" in nfl.output and "consensus: skipped" in nfl.output
    mixed = CliRunner().invoke(main, ["bets", "report", "--competition", "NBA", "--competition", "E0"])
    assert mixed.exit_code == 2 and "alone" in mixed.output
