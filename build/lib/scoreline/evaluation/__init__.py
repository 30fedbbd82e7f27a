"""Scoring forecasts: proper scores, calibration, paired comparisons."""
