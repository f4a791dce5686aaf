"""Prometheus metrics of one server process: requests and latency per route, the build served, re-indexes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

if TYPE_CHECKING:
    from practice_finder.web.serving import ReindexRun, Service

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REINDEX_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app: tests make many apps)."""

    def __init__(self, service: Service) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pf_http_requests_total",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pf_http_request_duration_seconds",
            "Time from the request to the end of the response.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.reindex = Histogram(
            "pf_reindex_duration_seconds",
            "Duration of re-indexes run by this process.",
            ["trigger", "result"],
            buckets=REINDEX_BUCKETS,
            registry=self.registry,
        )
        self.active = (
            0  # HTTP requests in progress in this process (counted by Edge, on the event loop)
        )
        Gauge(
            "pf_http_requests_in_progress",
            "HTTP requests being served by this process.",
            registry=self.registry,
        ).set_function(lambda: self.active)
        self.registry.register(_IndexCollector(service))
        service.reindexer.listeners.append(self.observe_reindex)

    def observe_reindex(self, run: ReindexRun) -> None:
        self.reindex.labels(run.trigger, "ok" if run.ok else "error").observe(run.seconds or 0.0)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _IndexCollector:
    """Read at scrape time from the service: the build served, its record counts, writes not yet in it."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        index = self.service.index
        ready = GaugeMetricFamily("pf_index_ready", "1 while a usable index is loaded.")
        ready.add_metric([], 1.0 if index is not None and self.service.unhealthy is None else 0.0)
        yield ready
        usable = GaugeMetricFamily(
            "pf_write_log_usable",
            "1 while the write log takes writes (0: damaged, or ending before the build served).",
        )
        logged = self.service.check_log()
        usable.add_metric([], 1.0 if logged is not None else 0.0)
        yield usable
        if index is None:
            return
        info = InfoMetricFamily("pf_index", "The build being served.")
        manifest = index.manifest
        info.add_metric(
            [],
            {
                "build": index.build_id,
                "model": manifest.model.name,
                "built_at": manifest.built_at,
            },
        )
        yield info
        records = GaugeMetricFamily(
            "pf_index_records", "Records in the build being served.", labels=["kind"]
        )
        for kind, count in manifest.counts.items():
            records.add_metric([kind], float(count))
        yield records
        if logged is not None:
            pending = GaugeMetricFamily(
                "pf_pending_writes", "Records written since the build being served."
            )
            pending.add_metric(
                [], float(self.service.catalog.log.pending(self.service.served_seq()))
            )
            yield pending
        refused = GaugeMetricFamily(
            "pf_refused_builds", "Builds that could not be served (damaged or another model)."
        )
        refused.add_metric([], float(len(self.service.refused)))
        yield refused
