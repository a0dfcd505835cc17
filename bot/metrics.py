"""Prometheus metrics of the bot itself, on a registry per app (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ingest_alerts = Counter("oncall_ingest_alerts", "Alerts received by webhook",
                                     ["source", "outcome"], registry=r)
        self.ingest_requests = Counter("oncall_ingest_requests", "Webhook requests answered",
                                       ["source", "code"], registry=r)
        self.outbox_depth = Gauge("oncall_outbox_depth", "Outbox intents not yet delivered",
                                  registry=r)
        self.outbox_oldest_age = Gauge("oncall_outbox_oldest_pending_seconds",
                                       "Age of the oldest undelivered outbox intent", registry=r)
        self.slack_calls = Counter("oncall_slack_calls", "Slack Web API calls by outcome",
                                   ["method", "outcome"], registry=r)
        self.delivery_latency = Histogram(
            "oncall_delivery_latency_seconds", "From state change committed to Slack said ok",
            ["kind"], buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900), registry=r)
        self.outbound_calls = Counter("oncall_outbound_calls", "Pager and webhook calls by outcome",
                                      ["target", "outcome"], registry=r)
        self.delivery_failed = Counter("oncall_delivery_failed",
                                       "Intents given up as undeliverable", ["kind", "error"],
                                       registry=r)
        self.journal_views = Counter("oncall_journal_views", "Shared journal pages served",
                                     ["kind"], registry=r)
        self.outbox_failed = Gauge("oncall_outbox_failed",
                                   "Intents failed for good and not retried (see `oncall-bot "
                                   "outbox --failed`)", ["kind"], registry=r)
