"""Monitoring of the champions in service: input drift against the training window (Evidently),
live forecast quality on settled predictions, threshold alerts and Prometheus gauges.

Evidently is imported only when a drift report runs."""

from scoreline.monitoring.monitor import MonitorResult, evaluate, monitor, monitoring_dir
from scoreline.monitoring.policy import MonitoringPolicy, load_monitoring_policy

__all__ = ["MonitorResult", "MonitoringPolicy", "evaluate", "load_monitoring_policy", "monitor",
           "monitoring_dir"]
