"""The model card's staking section: the gate's newest verdicts, staked or paper, with the CLV."""

from __future__ import annotations

import json

from scoreline.config import Settings
from scoreline.promotion.card import _staking, gate_report_path, latest_staking_verdicts, staking_table

VERDICTS = {
    "sharp_soft": {
        "strategy": "sharp_soft",
        "staked": True,
        "reason": "CLV interval above zero under multiplicative and shin",
        "seasons": [2019, 2020, 2021],
        "n_matches": 5000,
        "n_bets": 1524,
        "clv": {
            "multiplicative": {"mean": 0.0105, "low": 0.0051, "high": 0.0162},
            "shin": {"mean": 0.0062, "low": 0.0009, "high": 0.0119},
        },
    },
    "model_edge": {
        "strategy": "model_edge",
        "staked": False,
        "reason": "CLV interval not above zero under multiplicative and shin",
        "seasons": [2019, 2020, 2021],
        "n_matches": 5000,
        "n_bets": 900,
        "clv": {
            "multiplicative": {"mean": -0.05, "low": -0.06, "high": -0.04},
            "shin": {"mean": float("nan"), "low": float("nan"), "high": float("nan")},
        },
    },
}


def test_the_newest_judged_season_is_read(tmp_path):
    settings = Settings(home=tmp_path)
    assert latest_staking_verdicts(settings, "E0") is None
    for season, verdicts in ((2021, {}), (2022, VERDICTS)):
        path = gate_report_path(settings, "E0", season)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"policy": "x", "season": season, "verdicts": verdicts}))
    assert latest_staking_verdicts(settings, "E0") == (2022, json.loads(json.dumps(VERDICTS)))
    assert latest_staking_verdicts(settings, "D1") is None


def test_staking_table_says_staked_or_paper_with_the_clv_interval():
    table = staking_table(VERDICTS).set_index("strategy")
    assert table.loc["sharp_soft", "money"] == "staked" and table.loc["model_edge", "money"] == "paper"
    assert table.loc["sharp_soft", "CLV shin %"] == "+0.62 [+0.09, +1.19]"
    assert table.loc["sharp_soft", "seasons"] == "2019-2021" and table.loc["sharp_soft", "bets"] == 1524
    assert table.loc["model_edge", "CLV shin %"] == ""  # no figure rather than "nan"
    section = _staking((2022, VERDICTS))
    assert "season 2022" in section and "| sharp_soft | staked |" in section
    assert "paper bets" in _staking(None)
