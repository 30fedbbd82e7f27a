"""Serving: the forecasts a champion gives (``forecast``), the prediction store (``store``) and the
BentoML service on top of them (``service``). Importing this package imports nothing heavy."""
