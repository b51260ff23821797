"""Realtime events: a transactional outbox, a sequencer, local SSE relay, Supabase broadcast."""

from functions._shared.events.outbox import InvalidEventError, emit
from functions._shared.events.schemas import (
    APPROVALS_TOPIC,
    DASHBOARD_TOPIC,
    EventEnvelope,
    EventType,
    conversation_topic,
)

__all__ = [
    "APPROVALS_TOPIC",
    "DASHBOARD_TOPIC",
    "EventEnvelope",
    "EventType",
    "InvalidEventError",
    "conversation_topic",
    "emit",
]
