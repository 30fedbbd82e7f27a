"""Scoreline: sports match forecasting from notebooks to production."""

__version__ = "0.1.0"
