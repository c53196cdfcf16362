"""Shipping metrics through Airflow's own metrics setup (StatsD, Datadog or OpenTelemetry).

Metrics go wherever ``[metrics]`` sends the metrics of the process that ships (the worker or the
triggerer); without a metrics backend they cost nothing. Never raises.
"""

from __future__ import annotations

from airflow_platform_plugins.stats import Metrics

PREFIX = "remote_task_log"

METRICS = Metrics(PREFIX)
incr = METRICS.incr
timing = METRICS.timing
