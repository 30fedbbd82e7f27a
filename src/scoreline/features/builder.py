"""The point-in-time feature table: form, market and any extra feature blocks side by side.

Every block is aligned to ``matches.index`` and is point-in-time on its own (see each module), so
the table is too. This module only wires blocks together; the work is in ``form`` and ``odds``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scoreline.config import Competition, Sport
from scoreline.features.form import rolling_form
from scoreline.features.odds import (
    american_market_features,
    market_features,
    market_structure,
    spread_sd_per_row,
)
from scoreline.features.ratings import EloParams, elo_ratings, pi_ratings

PARTS = ("form", "market")

#: Elo settings per competition. Football: a larger k because the margin-of-victory multiplier
#: is below 1 for one-goal results, promoted clubs start below average. American sports follow
#: FiveThirtyEight's published choices (home edge, between-season regression to the mean).
ELO_PARAMS: dict[str, EloParams] = {
    "football": EloParams(k=30.0, home_advantage=70.0, new_team_rating=1420.0),
    "NFL": EloParams(k=20.0, home_advantage=48.0, season_regression=1 / 3),
    "NBA": EloParams(k=20.0, home_advantage=100.0, season_regression=1 / 4),
    "CFB": EloParams(k=25.0, home_advantage=55.0, season_regression=1 / 3, new_team_rating=1300.0),
}


def elo_params(comp: Competition) -> EloParams:
    return ELO_PARAMS["football"] if comp.sport is Sport.FOOTBALL else ELO_PARAMS[comp.code]


def competition_features(matches: pd.DataFrame, comp: Competition) -> pd.DataFrame:
    """The standard point-in-time feature table of one competition: Elo (and pi-ratings for
    football, whose goal-based updates suit low-scoring games), form and pre-closing market."""
    extra = [elo_ratings(matches, elo_params(comp)).features]
    if comp.sport is Sport.FOOTBALL:
        extra.append(pi_ratings(matches).features)
    return feature_table(matches, extra=extra)


def feature_table(
    matches: pd.DataFrame,
    parts: Sequence[str] = PARTS,
    *,
    closing: bool = False,
    spread_sd: float | np.ndarray | None = None,
    extra: Sequence[pd.DataFrame] = (),
) -> pd.DataFrame:
    """Features for every row of ``matches``, aligned to ``matches.index``.

    ``parts``: ``"form"`` adds :func:`~scoreline.features.form.rolling_form`; ``"market"`` adds
    football features from pre-closing prices (:func:`~scoreline.features.odds.market_features`
    and :func:`~scoreline.features.odds.market_structure`) when any 1X2 price is present.
    American-sport line features need ``closing=True``, because the only lines in the store are
    closing lines; they then use ``spread_sd`` (points; default
    :data:`~scoreline.features.odds.DEFAULT_SPREAD_SD` by competition), and football switches to
    closing prices too.

    ``extra``: further blocks (e.g. ``elo_ratings(matches, params).features``) aligned to
    ``matches.index``, appended as they are; they must be point-in-time themselves.
    """
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown feature parts {sorted(unknown)}; known: {PARTS}")
    blocks: list[pd.DataFrame] = []
    if "form" in parts:
        blocks.append(rolling_form(matches))
    if "market" in parts:
        blocks.extend(_market_blocks(matches, closing, spread_sd))
    for block in extra:
        if not block.index.equals(matches.index):
            raise ValueError("extra feature blocks must be aligned to matches.index")
        blocks.append(block)
    if not blocks:
        return pd.DataFrame(index=matches.index)
    table = pd.concat(blocks, axis=1)
    duplicated = table.columns[table.columns.duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"feature columns produced twice: {duplicated}")
    return table


def _market_blocks(
    matches: pd.DataFrame, closing: bool, spread_sd: float | np.ndarray | None
) -> list[pd.DataFrame]:
    blocks = []
    football_prices = [
        c for c in matches.columns if c.startswith("odds_") and c.endswith(("_home", "_draw", "_away"))
    ]
    if football_prices and matches[football_prices].notna().any().any():
        sources = [
            s
            for s in ("b365", "pinnacle", "avg")
            if all(f"odds_{s}{'_close' if closing else ''}_{o}" in matches for o in ("home", "draw", "away"))
        ]
        blocks.append(market_features(matches, sources=sources, closing=closing))
        if not closing:  # the books' disagreement: pre-closing prices only
            blocks.append(market_structure(matches))
    has_lines = "spread_home" in matches and matches["spread_home"].notna().any()
    if closing and has_lines:
        sd = spread_sd_per_row(matches) if spread_sd is None else spread_sd
        blocks.append(american_market_features(matches, sd, closing=True))
    return blocks
