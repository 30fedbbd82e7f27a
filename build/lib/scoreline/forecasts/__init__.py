"""Forecasts: how a fixture's forecast is made by a champion (:mod:`.forecaster`), what the
answer holds (:mod:`.answer`), and loading the champion from the registry (:mod:`.champion`)."""

from scoreline.forecasts.answer import Forecasts
from scoreline.forecasts.forecaster import Forecaster, UnknownTeam

__all__ = ["Forecaster", "Forecasts", "UnknownTeam"]
