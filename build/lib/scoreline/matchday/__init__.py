"""The matchday loop: forecast and bet the coming fixtures with the champion (:mod:`.matchday`),
settle predictions and bets once results arrive (:mod:`.settle`), and replay a past season day
by day through ingest, matchday, settle, monitoring and weekly retraining (:mod:`.replay`).
Bets live in the prediction store's database (:mod:`.book`); the staking rules are the
backtest's (:mod:`.bets` over :mod:`scoreline.evaluation.betting`)."""

from scoreline.matchday.matchday import MatchdayResult, run_matchday
from scoreline.matchday.settle import SettleResult, run_settle

__all__ = ["MatchdayResult", "SettleResult", "run_matchday", "run_settle"]
