"""Prometheus metrics of the web process, served at ``/metrics``.

One registry per web app (not the library's global one), so tests can run several apps in one
process without "duplicated timeseries" errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "sitrep_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "sitrep_http_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.webhooks = Counter(
            "sitrep_webhooks", "Sentry webhooks by outcome", ["outcome"], registry=r
        )
        self.commands = Counter(
            "sitrep_commands", "Slash commands by subcommand", ["command"], registry=r
        )
        self.outbox_pending = Gauge(
            "sitrep_outbox_pending", "Outbox items waiting to be delivered", registry=r
        )
