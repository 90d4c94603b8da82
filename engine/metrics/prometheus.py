"""The operations metrics as Prometheus metrics: a scrape endpoint (``labelloop metrics serve``) or a push to a
Pushgateway.

When to use what:

* :class:`OpsCollector` ``(source, *, project)``: a prometheus-client collector that calls ``source()`` for a fresh
  :class:`~labelloop.engine.metrics.ops.OpsMetrics` (and optional drift report) at scrape time, at most once per
  ``min_interval_s``; register it in a ``CollectorRegistry``.
* :func:`serve` ``(registry, *, port, host)``: the HTTP endpoint in a daemon thread, on 127.0.0.1 by default (the
  numbers name annotators: expose them beyond the machine only on purpose).
* :func:`push_summary` ``(url, summary, *, project)``: one push of a summary to a Pushgateway (the cycle does it
  when ``ops.pushgateway_url`` is set; :func:`push_if_configured`).

Metric names follow Prometheus conventions (``_total`` counters, ``_seconds`` units, ``_ratio`` for shares);
every series carries the ``project`` label. A measure that is not defined yet (no labels, no rate configured, no
drift check) is left out rather than exported as 0.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, push_to_gateway, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from labelloop.engine.metrics.ops import OpsMetrics, Stat

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from labelloop.engine.config import ProjectConfig

log = logging.getLogger(__name__)

__all__ = ["OpsCollector", "Snapshot", "families", "push_if_configured", "push_summary", "registry_for", "serve"]

#: What a collector exports: the ops metrics and, when a drift check ran, its report as a dict
#: (:meth:`labelloop.engine.metrics.drift.DriftReport.as_dict`).
Snapshot = tuple[OpsMetrics, Mapping[str, Any] | None]


def _summary(name: str, doc: str, stat: Stat, project: str) -> Metric:
    """A Prometheus summary (quantiles 0.5 and 0.9, count, sum) from a :class:`Stat`."""
    m = Metric(name, doc, "summary")
    labels = {"project": project}
    if stat.n and stat.median is not None and stat.p90 is not None and stat.mean is not None:
        m.add_sample(name, {**labels, "quantile": "0.5"}, stat.median)
        m.add_sample(name, {**labels, "quantile": "0.9"}, stat.p90)
        m.add_sample(f"{name}_sum", labels, stat.mean * stat.n)
    else:
        m.add_sample(f"{name}_sum", labels, 0.0)
    m.add_sample(f"{name}_count", labels, float(stat.n))
    return m


def families(ops: OpsMetrics, drift: Mapping[str, Any] | None, *, project: str) -> list[Metric]:
    """Every metric family for one snapshot (pure: what :class:`OpsCollector` and :func:`push_summary` export)."""
    p = {"project": project}
    o = ops.overall
    out: list[Metric] = []

    labels = CounterMetricFamily("labelloop_labels", "Live labels by source (human: one per item and annotator).",
                                 labels=["project", "source"])  # fmt: skip
    for source, n in ops.labels_by_source.items():
        labels.add_metric([project, source], float(n))
    out.append(labels)

    answers = CounterMetricFamily("labelloop_answers", "Human answers (labels and skips) by annotator.",
                                  labels=["project", "annotator", "kind"])  # fmt: skip
    for name, g in ops.per_annotator.items():
        answers.add_metric([project, name, "label"], float(g.labels))
        answers.add_metric([project, name, "skip"], float(g.skips))
    out.append(answers)

    def gauge(name: str, doc: str, value: float | int | None, **extra: str) -> None:
        if value is None:
            return
        g = GaugeMetricFamily(name, doc, labels=[*p, *extra])
        g.add_metric([project, *extra.values()], float(value))
        out.append(g)

    gauge("labelloop_backlog_tasks", "Pushed round tasks without an answer.", o.backlog)
    gauge("labelloop_review_backlog_tasks", "Review-queue tasks without an answer.", ops.review_backlog)
    gauge("labelloop_labels_per_annotated_hour", "Labels per hour of annotation lead time.",
          o.labels_per_annotated_hour)  # fmt: skip
    gauge("labelloop_labels_per_active_hour", "Labels per wall-clock active annotator-hour.", o.labels_per_active_hour)
    out.append(_summary("labelloop_lead_time_seconds", "Annotation lead time per answer.", o.lead_time_s, project))
    out.append(_summary("labelloop_turnaround_seconds", "Push to first answer per task.", o.turnaround_s, project))
    gauge("labelloop_prelabel_acceptance_ratio", "Share of pre-labelled labels that kept the pre-label.",
          o.acceptance.rate)  # fmt: skip
    by_version = GaugeMetricFamily(
        "labelloop_prelabel_acceptance_by_model_ratio",
        "Pre-label acceptance per model version.",
        labels=["project", "model_version"],
    )
    for version, acc in ops.acceptance_by_model_version.items():
        if acc.rate is not None:
            by_version.add_metric([project, version], acc.rate)
    out.append(by_version)
    gauge("labelloop_auto_label_ratio", "Share of resolved labels that are auto-labels.", ops.auto_label_share)
    gauge("labelloop_cost_per_label", "Annotation cost per label (configured rates).", o.cost_per_label,
          currency=ops.currency)  # fmt: skip
    gauge("labelloop_labels_saved_estimate", "Labels saved against random sampling (estimate).",
          ops.labels_saved.estimated)  # fmt: skip
    if drift is not None:
        gauge("labelloop_drift_alert", "1 when the last drift check raised an alert.", 1.0 if drift["alert"] else 0.0)
        mmd = drift.get("mmd") or {}
        gauge("labelloop_drift_mmd_p_value", "Embedding MMD permutation p-value of the last drift check.",
              mmd.get("p_value"))  # fmt: skip
        shift = drift.get("label_shift") or {}
        gauge("labelloop_drift_psi", "Predicted-label PSI of the last drift check.", shift.get("psi"))
        gauge("labelloop_drift_confidence_drop", "Mean confidence drop of the last drift check.",
              drift.get("confidence_drop"))  # fmt: skip
    return out


class OpsCollector(Collector):
    """Collects a fresh snapshot from ``source()`` at scrape time, reused for ``min_interval_s`` seconds so that a
    busy scraper does not re-read the store on every request."""

    def __init__(self, source: Callable[[], Snapshot], *, project: str, min_interval_s: float = 15.0) -> None:
        self.source = source
        self.project = project
        self.min_interval_s = float(min_interval_s)
        self._lock = threading.Lock()
        self._cached: Snapshot | None = None
        self._at = -float("inf")

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._at >= self.min_interval_s:
                self._cached = self.source()
                self._at = now
            return self._cached

    def collect(self) -> Iterator[Metric]:
        ops, drift = self.snapshot()
        yield from families(ops, drift, project=self.project)


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


def registry_for(ops: OpsMetrics, drift: Mapping[str, Any] | None = None, *, project: str) -> CollectorRegistry:
    """A new registry holding one fixed snapshot (for pushes and tests)."""
    registry = CollectorRegistry()
    registry.register(_Fixed(families(ops, drift, project=project)))
    return registry


def serve(registry: CollectorRegistry, *, port: int, host: str = "127.0.0.1") -> tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread; stop with ``server.shutdown()``.
    ``port=0`` picks a free port (read it from ``server.server_port``)."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics endpoint host=%s port=%d", host, server.server_port)
    return server, thread


def push_summary(
    url: str,
    summary: OpsMetrics,
    *,
    project: str,
    drift: Mapping[str, Any] | None = None,
    job: str = "labelloop",
    timeout: float = 10.0,
) -> None:
    """Push one snapshot to the Pushgateway at ``url`` (grouping key ``project``); replaces that group's metrics.
    Network errors propagate (``OSError`` / ``urllib.error.URLError``), naming the gateway."""
    try:
        push_to_gateway(url, job=job, registry=registry_for(summary, drift, project=project),
                        grouping_key={"project": project}, timeout=timeout)  # fmt: skip
    except OSError as err:
        raise OSError(f"push to Pushgateway {url} failed: {err}") from err
    log.info("pushed ops metrics gateway=%s job=%s project=%s", url, job, project)


def push_if_configured(cfg: ProjectConfig, summary: OpsMetrics, *, drift: Mapping[str, Any] | None = None) -> bool:
    """:func:`push_summary` to ``cfg.ops.pushgateway_url`` when set; returns whether it pushed."""
    if not cfg.ops.pushgateway_url:
        return False
    push_summary(cfg.ops.pushgateway_url, summary, project=cfg.project, drift=drift)
    return True
