"""The prediction store: every forecast given, the results that settle them, their scores."""

from scoreline.predictions.copy import copy_store
from scoreline.predictions.store import PredictionStore
from scoreline.predictions.tables import FeatureVector

__all__ = ["FeatureVector", "PredictionStore", "copy_store"]
