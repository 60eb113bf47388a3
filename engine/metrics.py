"""Prometheus metrics the engine reports (served by `coachbot serve` at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INBOUND = Counter(
    "coachbot_inbound_messages_total",
    "Inbound messages by channel and outcome (processed, duplicate, failed).",
    ["channel", "outcome"],
)
ROUTED = Counter("coachbot_turns_routed_total", "Turns by the route that handled them.", ["route"])
CRISIS_FLAGS = Counter(
    "coachbot_crisis_flags_total", "Conversations flagged for a crisis statement.", ["channel"]
)
TURN_SECONDS = Histogram(
    "coachbot_turn_seconds",
    "Time to process one inbound message, from claim to stored reply.",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
