"""Monitoring of the champions in service: input drift against the training window (Evidently),
live forecast quality on settled predictions, threshold alerts and Prometheus gauges
(:mod:`.monitor` runs them; :mod:`.summaries` finds the latest run).

Nothing is imported here, so the service can read :mod:`.summaries` without loading the monitor's
dependencies; Evidently is imported only when a drift report runs."""
