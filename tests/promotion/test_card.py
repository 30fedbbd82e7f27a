"""The model card's staking-gate section, from the verdicts the matchday stores."""

from __future__ import annotations

import json

from scoreline.evaluation.strategies_gate import GateVerdict, stored_verdicts, verdicts_path
from scoreline.promotion.card import staking_section


def _store(reports, season, verdicts):
    path = verdicts_path(reports, "E0", season)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"policy": "k", "season": season, "verdicts": verdicts}))


def test_the_card_shows_the_newest_seasons_verdicts_and_their_clv_intervals(tmp_path):
    staked = GateVerdict(
        "sharp_soft",
        True,
        "CLV interval above zero under multiplicative and shin",
        (2019, 2020, 2021),
        1140,
        812,
        {"multiplicative": (0.031, 0.024, 0.038), "shin": (0.012, 0.004, 0.019)},
    )
    paper = GateVerdict(
        "model_edge",
        False,
        "CLV interval not above zero under multiplicative and shin",
        (2019, 2020, 2021),
        1140,
        301,
        {"multiplicative": (-0.05, -0.06, -0.04), "shin": (-0.07, -0.08, -0.06)},
    )
    _store(tmp_path, 2021, {"model_edge": {"staked": True}})  # an older season: not shown
    _store(tmp_path, 2022, {v.strategy: v.to_dict() for v in (staked, paper)})
    stored = stored_verdicts(tmp_path, "E0")
    assert stored is not None and stored[0] == 2022
    text = staking_section("E0", stored)
    assert "Season 2022/23" in text
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "STAKE" in lines["sharp_soft"] and "2019-2021" in lines["sharp_soft"]
    assert "+1.20% [+0.40%, +1.90%]" in lines["sharp_soft"] and "812" in lines["sharp_soft"]
    assert "paper" in lines["model_edge"] and "-7.00% [-8.00%, -6.00%]" in lines["model_edge"]


def test_without_a_stored_verdict_or_a_sharp_close_nothing_stakes(tmp_path):
    assert stored_verdicts(tmp_path, "E0") is None
    assert "No verdict yet" in staking_section("E0", None)
    assert "paper bets" in staking_section("NBA", None)
