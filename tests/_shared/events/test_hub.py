import pytest

from functions._shared.errors import RateLimited
from functions._shared.events.hub import EventHub, StreamEnd
from functions._shared.events.outbox import EventFrame


def envelope(seq: int, topic: str = "dashboard") -> EventFrame:
    return EventFrame(seq=seq, topic=topic, sse=f"id: {seq}\n\n".encode())


def test_events_reach_only_subscribers_of_their_topic() -> None:
    hub = EventHub(queue_size=10, max_streams=10)
    dashboard = hub.subscribe("dashboard")
    approvals = hub.subscribe("approvals")

    hub.publish([envelope(1, "dashboard")])

    assert dashboard.queue.get_nowait().seq == 1  # type: ignore[union-attr]
    assert approvals.queue.empty()
    assert hub.last_seq == 1


def test_subscriber_a_whole_queue_behind_is_ended_with_overflow_and_its_queue_freed() -> None:
    hub = EventHub(queue_size=3, max_streams=10)
    slow = hub.subscribe("dashboard")

    hub.publish([envelope(seq) for seq in range(1, 6)])

    assert slow.queue.qsize() == 1
    assert slow.queue.get_nowait() is StreamEnd.OVERFLOW
    assert hub.subscribers("dashboard") == 0
    assert hub.stream_count == 0


def test_streams_beyond_the_instance_limit_are_429() -> None:
    hub = EventHub(queue_size=3, max_streams=2)
    hub.subscribe("dashboard")
    hub.subscribe("approvals")

    with pytest.raises(RateLimited):
        hub.subscribe("dashboard")


def test_close_all_ends_every_stream_with_shutdown() -> None:
    hub = EventHub(queue_size=3, max_streams=10)
    subscriptions = [hub.subscribe("dashboard"), hub.subscribe("approvals")]
    hub.publish([envelope(1)])

    hub.close_all()

    assert [s.queue.get_nowait() for s in subscriptions] == [StreamEnd.SHUTDOWN] * 2
    assert hub.stream_count == 0


def test_new_subscription_starts_live_after_the_last_fanned_out_event() -> None:
    hub = EventHub(queue_size=3, max_streams=10)
    hub.publish([envelope(41), envelope(42)])

    assert hub.subscribe("dashboard").live_from_seq == 42
