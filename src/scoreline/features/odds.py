"""Market features and market benchmark probabilities from the match table's prices.

Point-in-time: football features come from PRE-CLOSING prices (``odds_{source}_{outcome}``),
quoted before kick-off. Closing prices (``*_close_*``) are the evaluation benchmark and become
features only when ``closing=True`` is passed. The American-sport lines in the store (NFL, NBA,
CFB) are all closing lines (see the adapters), so :func:`american_market_features` refuses to
run without ``closing=True``.

Probabilities come from :mod:`scoreline.features.market`. Outcome order is (home, draw, away)
for football and (home, away) for two-way sports.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd

from scoreline.data.prices_american import american_to_decimal
from scoreline.features.market import (
    DevigMethod,
    implied_probabilities,
    overround,
    spread_win_probability,
)

FOOTBALL_OUTCOMES = ("home", "draw", "away")
#: the de-vig methods market features are built with (the models' feature set)
FEATURE_METHODS = (DevigMethod.MULTIPLICATIVE, DevigMethod.POWER, DevigMethod.SHIN)
#: standard deviation (points) of the final home margin around the closing spread: round
#: figures in line with published estimates (NFL about 13.5-14, Stern 1991). A model that wants
#: a fitted value should fit it inside its walk-forward loop.
DEFAULT_SPREAD_SD = MappingProxyType({"NFL": 13.5, "NBA": 12.0, "CFB": 15.5})


def market_features(
    matches: pd.DataFrame,
    sources: Sequence[str] = ("b365", "pinnacle", "avg"),
    methods: Sequence[DevigMethod] = FEATURE_METHODS,
    closing: bool = False,
) -> pd.DataFrame:
    """De-vigged football 1X2 probabilities and booksums, aligned to ``matches.index``.

    Columns ``mkt_{source}_{method}_{home|draw|away}`` and ``mkt_{source}_overround``
    (booksum, sum of 1/odds); NaN where a source's prices are missing or unusable. Sources are
    bookmaker names (``b365``, ``pinnacle``, ``avg``, ``max``) and read pre-closing prices;
    ``closing=True`` reads ``odds_{source}_close_*`` instead and names the columns
    ``mkt_{source}_close_*``. A source spelled with ``close`` is rejected, so closing prices
    never enter by the back door.
    """
    out: dict[str, np.ndarray] = {}
    for source in sources:
        if "close" in source:
            raise ValueError(
                f"source {source!r}: pass the bookmaker name and closing=True for closing prices"
            )
        market = f"{source}_close" if closing else source
        odds = _odds_1x2(matches, market)
        # only priced rows go to the solvers: other sports' rows in a mixed table cost nothing
        priced = np.isfinite(odds).all(axis=1)
        for method in methods:
            probabilities = np.full(odds.shape, np.nan)
            probabilities[priced] = implied_probabilities(odds[priced], method).probabilities
            for j, outcome in enumerate(FOOTBALL_OUTCOMES):
                out[f"mkt_{market}_{method.value}_{outcome}"] = probabilities[:, j]
        out[f"mkt_{market}_overround"] = overround(odds)
    return pd.DataFrame(out, index=matches.index)


def market_structure(matches: pd.DataFrame, sharp: str = "pinnacle", soft: str = "b365") -> pd.DataFrame:
    """How the books disagree before kick-off, aligned to ``matches.index`` (PRE-CLOSING only;
    there is no closing variant: these are model inputs).

    Built from the files' own summaries across every book they survey (``odds_max_*``, the best
    price; ``odds_avg_*``, the average) and one sharp and one soft book:

    * ``mkt_best_{o}``: implied probability of the best price, 1 / max; ``mkt_best_booksum``:
      their sum (below 1 = a cross-book arbitrage);
    * ``mkt_dispersion_{o}``: 1 / avg - 1 / max, how far the best book sits from the consensus
      (0 when every book agrees); the consensus itself is ``mkt_avg_*`` (:func:`market_features`);
    * ``mkt_sharp_soft_{o}``: the sharp book's de-vigged (multiplicative) probability minus the
      soft book's: where the informed price disagrees with the public one;
    * ``mkt_overround_gap``: the soft book's booksum minus the sharp one's.

    NaN where a price a column needs is missing.
    """
    best = _inverse(matches, "max")
    average = _inverse(matches, "avg")
    sharp_p = market_probabilities(matches, sharp) if _priced(matches, sharp) else _blank(matches)
    soft_p = market_probabilities(matches, soft) if _priced(matches, soft) else _blank(matches)
    out: dict[str, np.ndarray] = {}
    for j, outcome in enumerate(FOOTBALL_OUTCOMES):
        out[f"mkt_best_{outcome}"] = best[:, j]
        out[f"mkt_dispersion_{outcome}"] = average[:, j] - best[:, j]
        out[f"mkt_sharp_soft_{outcome}"] = sharp_p[:, j] - soft_p[:, j]
    out["mkt_best_booksum"] = best.sum(axis=1)
    out["mkt_overround_gap"] = _booksum(matches, soft) - _booksum(matches, sharp)
    return pd.DataFrame(out, index=matches.index)


def american_market_features(
    matches: pd.DataFrame, spread_sd: float | np.ndarray, *, closing: bool = False
) -> pd.DataFrame:
    """Two-way market features from the closing lines, aligned to ``matches.index``.

    ``mkt_spread_home_prob``: P(home wins) from ``spread_home`` with the home margin
    ~ Normal(-spread_home, ``spread_sd`` points; a scalar or one value per row).
    ``mkt_ml_home_prob``: home probability from the moneylines, de-vigged multiplicatively;
    ``mkt_ml_overround``: their booksum. ``mkt_total_line``, ``mkt_spread_home``: the lines, in
    points. NaN where the line is missing.

    The store's American lines are closing lines, so this needs ``closing=True``: set it only
    where the closing line is a legitimate input (e.g. a model of the residual to the market).
    """
    if not closing:
        raise ValueError(
            "the American-sport lines are closing lines: pass closing=True to use them as features"
        )
    spread = _float(matches, "spread_home")
    moneylines = _moneyline_odds(matches)
    ml = implied_probabilities(moneylines)
    return pd.DataFrame(
        {
            "mkt_spread_home_prob": spread_win_probability(spread, spread_sd),
            "mkt_ml_home_prob": ml.probabilities[:, 0],
            "mkt_ml_overround": ml.overround,
            "mkt_total_line": _float(matches, "total_line"),
            "mkt_spread_home": spread,
        },
        index=matches.index,
    )


def market_probabilities(
    matches: pd.DataFrame,
    source: str = "pinnacle_close",
    method: DevigMethod = DevigMethod.MULTIPLICATIVE,
) -> np.ndarray:
    """Benchmark (n, 3) home/draw/away probabilities from ``odds_{source}_*`` prices.

    For evaluation, not for features: the default is Pinnacle's closing price. Rows sum to 1;
    all-NaN rows where the prices are missing or unusable.
    """
    return implied_probabilities(_odds_1x2(matches, source), method).probabilities


def spread_market_probabilities(matches: pd.DataFrame, sd: float | np.ndarray) -> np.ndarray:
    """Benchmark (n, 2) home/away win probabilities from the closing ``spread_home``.

    Home margin ~ Normal(-spread_home, ``sd`` points); NaN rows where the spread is missing.
    """
    home = spread_win_probability(_float(matches, "spread_home"), sd)
    return np.column_stack([home, 1.0 - home])


def spread_sd_per_row(matches: pd.DataFrame) -> np.ndarray:
    """:data:`DEFAULT_SPREAD_SD` for each row's ``competition`` (NaN where it has none)."""
    if "competition" not in matches:
        return np.full(len(matches), np.nan)
    codes = matches["competition"].astype("string")
    return codes.map(DEFAULT_SPREAD_SD).to_numpy(dtype=float, na_value=np.nan)


def _priced(matches: pd.DataFrame, market: str) -> bool:
    return all(f"odds_{market}_{outcome}" in matches for outcome in FOOTBALL_OUTCOMES)


def _booksum(matches: pd.DataFrame, market: str) -> np.ndarray:
    if not _priced(matches, market):
        return np.full(len(matches), np.nan)
    return overround(_odds_1x2(matches, market))


def _blank(matches: pd.DataFrame) -> np.ndarray:
    return np.full((len(matches), len(FOOTBALL_OUTCOMES)), np.nan)


def _inverse(matches: pd.DataFrame, market: str) -> np.ndarray:
    """1 / price of each 1X2 outcome; NaN where the price is missing or not above 1."""
    if not _priced(matches, market):
        return _blank(matches)
    odds = _odds_1x2(matches, market)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(odds > 1.0, 1.0 / odds, np.nan)


def _odds_1x2(matches: pd.DataFrame, market: str) -> np.ndarray:
    columns = [f"odds_{market}_{outcome}" for outcome in FOOTBALL_OUTCOMES]
    missing = [c for c in columns if c not in matches]
    if missing:
        raise KeyError(f"no {market!r} prices in the match table: missing {missing}")
    return np.column_stack([_float(matches, c) for c in columns])


def _moneyline_odds(matches: pd.DataFrame) -> np.ndarray:
    return np.column_stack(
        [
            american_to_decimal(_float(matches, "moneyline_home")),
            american_to_decimal(_float(matches, "moneyline_away")),
        ]
    )


def _float(matches: pd.DataFrame, column: str) -> np.ndarray:
    if column not in matches:
        return np.full(len(matches), np.nan)
    return pd.to_numeric(matches[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
