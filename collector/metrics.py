"""The collector's own Prometheus metrics: traffic, latency and protocol errors."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class OcppMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections = Gauge(
            "chargewatch_ocpp_connections",
            "Open OCPP WebSocket connections.",
            ["protocol"],
            registry=registry,
        )
        self.handshakes_refused = Counter(
            "chargewatch_ocpp_handshakes_refused",
            "WebSocket handshakes refused before a connection was opened.",
            ["reason"],
            registry=registry,
        )
        self.messages = Counter(
            "chargewatch_ocpp_messages",
            "OCPP calls received, by action and result (ok, or the CallError code sent).",
            ["action", "result"],
            registry=registry,
        )
        self.handling = Histogram(
            "chargewatch_ocpp_handling_seconds",
            "Time from receiving a call to sending its answer (journal commit included).",
            ["action"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )
        self.call_errors = Counter(
            "chargewatch_ocpp_call_errors",
            "CallErrors sent to chargers, by error code.",
            ["code"],
            registry=registry,
        )
        self.bad_frames = Counter(
            "chargewatch_ocpp_bad_frames",
            "Frames that were not well-formed OCPP-J messages, by reason.",
            ["reason"],
            registry=registry,
        )
        self.unexpected_responses = Counter(
            "chargewatch_ocpp_unexpected_responses",
            "CallResults/CallErrors from chargers that answer no call of ours.",
            registry=registry,
        )
        self.transaction_seq_gaps = Counter(
            "chargewatch_ocpp_transaction_seq_gaps",
            "OCPP 2.0.1 TransactionEvents missing: seqNo numbers skipped within a transaction.",
            registry=registry,
        )
        self.transaction_duplicates = Counter(
            "chargewatch_ocpp_transaction_duplicates",
            "OCPP 2.0.1 TransactionEvents ignored as a repeat (a seqNo already received).",
            registry=registry,
        )
        self.retried_calls = Counter(
            "chargewatch_ocpp_retried_calls",
            "Calls repeated with an already answered message id (answered from the log).",
            registry=registry,
        )
