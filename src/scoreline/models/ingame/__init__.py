"""In-game NBA models, walk-forward by season (fitted on earlier seasons only).

Two questions, each behind the scikit-learn contract (``__init__`` stores hyper-parameters,
``fit`` returns self, learned state ends in ``_``):

* **Half-time differential from the first 18 minutes** (:mod:`.patterns`): the live API's request
  shape, an 18-value pattern of home-minus-away differentials at minutes 1..18 plus the pre-game
  spread (and total). :class:`DejavuModel` (distance-weighted nearest historical patterns; its
  explanation names the matched games), :class:`PatternGBDT` (LightGBM on the pattern and lines)
  and :class:`PatternEnsemble` (their mean). ``predict(rows)`` -> :class:`HalftimeForecast`:
  ``forecast``, ``intervals`` (``lower_80``/``upper_80``/``lower_95``/``upper_95``,
  split-conformal, recalibrated on a rolling window by ``recalibrate``), ``levels`` (the coverage
  probability of each interval), ``explanations``.
* **Win probability and final margin at any game second** (:mod:`.states`): :class:`StateModel`,
  per-minute logistic and ridge models on the game state (score, time left, spread, total, runs,
  lead changes, ...; :func:`scoreline.features.ingame.states`), with per-minute conformal
  intervals on the margin. ``predict_proba(states)`` -> (home win, away win);
  ``predict_margin(states)`` -> :class:`MarginForecast`.

Anchors on the same games (:mod:`.anchors`): :class:`SternModel` (Stern's Brownian motion) and
:class:`SpreadShareModel` (current margin + remaining share of the spread), and
:func:`halftime_baseline`. The registered champion that bundles a state model and a pattern model
for the live loop is :class:`scoreline.tracking.ingame.InGamePyfunc`.
"""

from scoreline.models.ingame.anchors import (
    MarginForecast,
    SpreadShareModel,
    SternModel,
    game_minute,
    halftime_baseline,
    stern_mean,
)
from scoreline.models.ingame.patterns import (
    DejavuModel,
    HalftimeForecast,
    PatternEnsemble,
    PatternGBDT,
    PatternModel,
    interval_frame,
    pattern_features,
)
from scoreline.models.ingame.states import STATE_INPUTS, StateModel

__all__ = [
    "STATE_INPUTS",
    "DejavuModel",
    "HalftimeForecast",
    "MarginForecast",
    "PatternEnsemble",
    "PatternGBDT",
    "PatternModel",
    "SpreadShareModel",
    "StateModel",
    "SternModel",
    "game_minute",
    "halftime_baseline",
    "interval_frame",
    "pattern_features",
    "stern_mean",
]
