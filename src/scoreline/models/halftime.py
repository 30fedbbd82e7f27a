"""NBA half-time forecasts of the final margin and total.

At half-time we know the first-half score (``home_ht_score`` / ``away_ht_score`` = Q1 + Q2
points), the pre-game closing lines (``spread_home``, ``total_line``) and, for most games up to
2022-23, the second-half lines posted at the break (``h2_total_line`` and the *unsigned*
``h2_spread_unsigned``). All of these are known at half-time, so they are legitimate features.

The baseline (:func:`halftime_baseline`) adds half of the pre-game expectation to the
half-time score: margin = ht margin - spread_home / 2, total = ht total + total_line / 2.

Sign of the second-half spread
------------------------------
The source gives the second-half spread without saying who gives it. Its size is, very
closely, the absolute value of a linear combination of the pre-game spread and the half-time
margin: on 2007-08 .. 2022-23 NBA games ``|h2 spread| ≈ |0.61 (-spread_home) - 0.30 ht_margin|``
(robust fit; residual RMSE 0.8 points, correlation 0.95), whereas signing it with the pre-game
favourite alone reproduces the size with correlation 0.41 only. The market's second-half line
is its expected second-half home margin, so :class:`H2LineMap` fits that *reconstruction*
``z = a (-spread_home) + b ht_margin + c`` to the unsigned lines of the training games (market
data only, no results) and signs each posted line with ``sign(z)``. Where ``|z|`` is below
``sign_threshold`` points (default 1.0, about the reconstruction's RMSE) the two signs are not
told apart and the line is not used (its feature is 0, the no-news value); a line of 0 needs
no sign. With the map fitted on seasons before 2021-22, of the 19,822 games with a second-half
line the sign is inferred for 82.6%, 3.8% have a 0 line and 13.6% stay undecided. Where the
pre-game favourite and ``sign(z)`` disagree (about a fifth of games), the ``sign(z)``-signed
line predicts the second-half margin with MSE 98.7 against 117.1 for the favourite's sign.

The model does not use the lines directly but their *news*: ``h2_spread_news = sign(z) *
h2_spread - z`` and ``h2_total_news = h2_total_line - (fitted reconstruction from total_line and
ht total)``, so a game without second-half lines (2022-23 onwards in this data) simply has zero
news and the rest of the model is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Self

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import ndtr
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import Ridge

from scoreline.models.conformal import RollingConformal

__all__ = [
    "H2LineMap",
    "HalftimeForecast",
    "HalftimeLearner",
    "HalftimeModel",
    "halftime_baseline",
    "halftime_features",
]


class HalftimeLearner(Enum):
    RIDGE = "ridge"
    LIGHTGBM = "lightgbm"


def _col(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def halftime_scores(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(ht_margin, ht_total)``: home minus away and home plus away first-half points."""
    home, away = _col(frame, "home_ht_score"), _col(frame, "away_ht_score")
    return home - away, home + away


def final_scores(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(margin, total)`` of the final score (overtime included)."""
    home, away = _col(frame, "home_score"), _col(frame, "away_score")
    return home - away, home + away


def halftime_baseline(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Baseline ``(final margin, final total)``: the half-time score plus half of the pre-game
    expectation (``-spread_home / 2`` and ``total_line / 2``)."""
    ht_margin, ht_total = halftime_scores(frame)
    return ht_margin - _col(frame, "spread_home") / 2, ht_total + _col(frame, "total_line") / 2


@dataclass(frozen=True)
class H2LineMap:
    """How the second-half lines follow from pre-game lines and the half-time score.

    ``spread_coef``: ``(a, b, c)`` of the reconstructed signed second-half spread (expected
    second-half home margin) ``z = a (-spread_home) + b ht_margin + c``, fitted so that ``|z|``
    matches the posted unsigned line. ``total_coef``: ``(intercept, total_line, ht_total)`` of
    the least-squares reconstruction of ``h2_total_line``. ``sign_threshold``: points of
    ``|z|`` below which the sign is left undecided.
    """

    spread_coef: tuple[float, float, float]
    total_coef: tuple[float, float, float]
    sign_threshold: float
    spread_rmse: float

    @classmethod
    def fit(cls, frame: pd.DataFrame, sign_threshold: float = 1.0) -> H2LineMap:
        """Fit both reconstructions on the rows of ``frame`` with lines (no results used)."""
        ht_margin, ht_total = halftime_scores(frame)
        pre, total = -_col(frame, "spread_home"), _col(frame, "total_line")
        h2 = _col(frame, "h2_spread_unsigned")
        ok = np.isfinite(h2) & np.isfinite(pre) & np.isfinite(ht_margin)
        if ok.sum() < 50:  # too few lines to learn from: the map then never signs a line
            spread_coef, rmse = (0.0, 0.0, 0.0), np.nan
        else:
            x = np.column_stack([pre[ok], ht_margin[ok], np.ones(ok.sum())])
            fit = least_squares(lambda p: h2[ok] - np.abs(x @ p), x0=[0.6, -0.3, 0.0], loss="soft_l1")
            spread_coef = (float(fit.x[0]), float(fit.x[1]), float(fit.x[2]))
            rmse = float(np.sqrt(np.mean((h2[ok] - np.abs(x @ fit.x)) ** 2)))
        h2t = _col(frame, "h2_total_line")
        ok = np.isfinite(h2t) & np.isfinite(total) & np.isfinite(ht_total)
        if ok.sum() < 50:
            total_coef = (0.0, 0.5, 0.0)
        else:
            x = np.column_stack([np.ones(ok.sum()), total[ok], ht_total[ok]])
            coef = np.linalg.lstsq(x, h2t[ok], rcond=None)[0]
            total_coef = (float(coef[0]), float(coef[1]), float(coef[2]))
        return cls(spread_coef, total_coef, sign_threshold, rmse)

    def expected_h2_spread(self, frame: pd.DataFrame) -> np.ndarray:
        """``z``: the reconstructed signed second-half line, as an expected home margin."""
        a, b, c = self.spread_coef
        ht_margin, _ = halftime_scores(frame)
        return a * -_col(frame, "spread_home") + b * ht_margin + c

    def signed_h2_spread(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(signed line as expected second-half home margin, sign_known)``; the line is NaN
        where missing or where the sign is undecided (``|z| < sign_threshold`` and line > 0)."""
        h2 = _col(frame, "h2_spread_unsigned")
        z = self.expected_h2_spread(frame)
        known = np.isfinite(h2) & np.isfinite(z) & ((np.abs(z) >= self.sign_threshold) | (h2 == 0))
        return np.where(known, np.sign(z) * h2, np.nan), known

    def expected_h2_total(self, frame: pd.DataFrame) -> np.ndarray:
        _, ht_total = halftime_scores(frame)
        i, b_total, b_ht = self.total_coef
        return i + b_total * _col(frame, "total_line") + b_ht * ht_total


FEATURES = ("ht_margin", "ht_total", "pregame_spread_margin", "total_line")
LINE_FEATURES = ("h2_spread_news", "h2_total_news")


def halftime_features(
    frame: pd.DataFrame, line_map: H2LineMap | None = None, pregame_margin: bool = False
) -> pd.DataFrame:
    """The model's inputs, aligned to ``frame.index`` (points, home perspective).

    ``pregame_spread_margin`` = ``-spread_home``. With a ``line_map``: the second-half lines'
    news beyond their reconstruction (0 where the line is missing or its sign undecided). With
    ``pregame_margin``: the frame's ``pregame_margin`` column (a point-in-time pre-game model
    forecast of the home margin, e.g. from a walk-forward :class:`MarginModel`).
    """
    ht_margin, ht_total = halftime_scores(frame)
    out = pd.DataFrame(
        {
            "ht_margin": ht_margin,
            "ht_total": ht_total,
            "pregame_spread_margin": -_col(frame, "spread_home"),
            "total_line": _col(frame, "total_line"),
        },
        index=frame.index,
    )
    if line_map is not None:
        signed, _ = line_map.signed_h2_spread(frame)
        news = signed - line_map.expected_h2_spread(frame)
        out["h2_spread_news"] = np.where(np.isfinite(news), news, 0.0)
        news = _col(frame, "h2_total_line") - line_map.expected_h2_total(frame)
        out["h2_total_news"] = np.where(np.isfinite(news), news, 0.0)
    if pregame_margin:
        out["pregame_margin"] = _col(frame, "pregame_margin")
    return out


@dataclass(frozen=True)
class HalftimeForecast:
    """Final-score forecasts at half-time, one entry per fixture (points, home perspective).

    ``intervals``: ``lower_XX`` / ``upper_XX`` columns for ``margin_`` and ``total_`` (e.g.
    ``margin_lower_80``), split-conformal from the model's calibration residuals.
    """

    margin: np.ndarray
    total: np.ndarray
    margin_sd: float
    total_sd: float
    intervals: pd.DataFrame

    def home_win(self) -> np.ndarray:
        """P(home wins) under Normal(margin, margin_sd)."""
        return ndtr(self.margin / self.margin_sd)


class HalftimeModel(BaseEstimator):
    """Half-time forecasts of the final margin and total (NBA).

    Two regressions (``learner``: ridge by default, or LightGBM) predict the second-half margin
    and total from :func:`halftime_features`; the final forecast adds them to the half-time
    score. ``use_h2_lines``: use the second-half lines' news (see the module docstring for the
    sign of the spread). ``use_pregame_margin``: also use a ``pregame_margin`` column.

    Calibration is split-conformal and point-in-time within ``fit``: the regressions are first
    fitted on all but the latest ``calibration_size`` training games, whose out-of-sample
    residuals fill the :class:`RollingConformal` calibrators (and set ``margin_sd_`` /
    ``total_sd_``); the final regressions are then refitted on every training game. Rows lacking
    the half-time score or a pre-game line are dropped from training and predicted as NaN.
    """

    def __init__(
        self,
        learner: HalftimeLearner = HalftimeLearner.RIDGE,
        alpha: float = 1.0,
        use_h2_lines: bool = True,
        use_pregame_margin: bool = False,
        sign_threshold: float = 1.0,
        levels: tuple[float, ...] = (0.8, 0.95),
        calibration_size: int = 2000,
        lgbm_params: dict | None = None,
    ):
        self.learner = learner
        self.alpha = alpha
        self.use_h2_lines = use_h2_lines
        self.use_pregame_margin = use_pregame_margin
        self.sign_threshold = sign_threshold
        self.levels = levels
        self.calibration_size = calibration_size
        self.lgbm_params = lgbm_params

    def _regressor(self):
        if HalftimeLearner(self.learner) is HalftimeLearner.LIGHTGBM:
            from lightgbm import LGBMRegressor

            params = {
                "n_estimators": 300,
                "learning_rate": 0.03,
                "num_leaves": 15,
                "min_child_samples": 50,
                "verbose": -1,
                **(self.lgbm_params or {}),
            }
            return LGBMRegressor(**params)
        return Ridge(alpha=self.alpha)

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        return halftime_features(
            frame, self.line_map_ if self.use_h2_lines else None, self.use_pregame_margin
        )

    def fit(self, matches: pd.DataFrame) -> Self:
        data = matches.sort_values("date", kind="stable")
        self.line_map_ = H2LineMap.fit(data, self.sign_threshold) if self.use_h2_lines else None
        x = self._features(data)
        margin, total = final_scores(data)
        ht_margin, ht_total = halftime_scores(data)
        ok = x.notna().all(axis=1).to_numpy() & np.isfinite(margin) & np.isfinite(total)
        x, y = x.loc[ok], np.column_stack([margin - ht_margin, total - ht_total])[ok]
        if len(x) <= self.calibration_size + 100:
            raise ValueError(f"need more than {self.calibration_size + 100} usable games, got {len(x)}")
        self.feature_names_ = list(x.columns)

        split = len(x) - self.calibration_size
        early = [clone(self._regressor()).fit(x.iloc[:split], y[:split, j]) for j in range(2)]
        residual = np.column_stack([y[split:, j] - early[j].predict(x.iloc[split:]) for j in range(2)])
        self.margin_sd_ = float(np.sqrt(np.mean(residual[:, 0] ** 2)))
        self.total_sd_ = float(np.sqrt(np.mean(residual[:, 1] ** 2)))
        self.conformal_ = {}
        for j, target in enumerate(("margin", "total")):
            calibrator = RollingConformal(self.levels, window=self.calibration_size, min_residuals=30)
            self.conformal_[target] = calibrator.update(residual[:, j], 0.0)
        self.margin_regressor_, self.total_regressor_ = (
            clone(self._regressor()).fit(x, y[:, j]) for j in range(2)
        )
        return self

    def predict_final(self, fixtures: pd.DataFrame) -> HalftimeForecast:
        x = self._features(fixtures)
        ok = x.notna().all(axis=1).to_numpy()
        ht_margin, ht_total = halftime_scores(fixtures)
        margin = np.full(len(fixtures), np.nan)
        total = np.full(len(fixtures), np.nan)
        if ok.any():
            margin[ok] = ht_margin[ok] + self.margin_regressor_.predict(x.loc[ok])
            total[ok] = ht_total[ok] + self.total_regressor_.predict(x.loc[ok])
        intervals = pd.concat(
            [
                self.conformal_[name].intervals(mean).add_prefix(f"{name}_")
                for name, mean in (("margin", margin), ("total", total))
            ],
            axis=1,
        )
        return HalftimeForecast(
            margin, total, self.margin_sd_, self.total_sd_, intervals.set_axis(fixtures.index)
        )
