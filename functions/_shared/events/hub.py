"""In-process fan-out of sequenced events to the streams open on this instance.

Each stream gets a bounded queue. A stream that falls a whole queue behind is cut off with a
``stream.overflow`` marker (its queue is emptied at once, so memory stays bounded); the client
reconnects with Last-Event-ID and catches up from the outbox.
"""

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum

from functions._shared.errors import RateLimited
from functions._shared.events.outbox import EventFrame


class StreamEnd(Enum):
    OVERFLOW = "overflow"
    SHUTDOWN = "shutdown"


StreamItem = EventFrame | StreamEnd


@dataclass(eq=False)
class Subscription:
    topic: str
    queue: "asyncio.Queue[StreamItem]"
    # The last seq fanned out when this subscription began: replay covers up to here, the
    # queue everything after.
    live_from_seq: int
    ended: bool = field(default=False)


class EventHub:
    def __init__(self, *, queue_size: int, max_streams: int) -> None:
        self.queue_size = queue_size
        self.max_streams = max_streams
        self.last_seq = 0
        self._subscriptions: dict[str, set[Subscription]] = defaultdict(set)
        self._count = 0

    @property
    def stream_count(self) -> int:
        return self._count

    def subscribers(self, topic: str) -> int:
        return len(self._subscriptions.get(topic, ()))

    def subscribe(self, topic: str) -> Subscription:
        if self._count >= self.max_streams:
            raise RateLimited(
                "Too many event streams are open on this instance.", retry_after_seconds=5
            )
        # +1: room for the end marker even when the queue is full of events.
        subscription = Subscription(
            topic=topic, queue=asyncio.Queue(self.queue_size + 1), live_from_seq=self.last_seq
        )
        self._subscriptions[topic].add(subscription)
        self._count += 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        topic_subscriptions = self._subscriptions.get(subscription.topic)
        if topic_subscriptions is not None and subscription in topic_subscriptions:
            topic_subscriptions.discard(subscription)
            self._count -= 1
            if not topic_subscriptions:
                del self._subscriptions[subscription.topic]

    def publish(self, frames: list[EventFrame]) -> None:
        for frame in frames:
            for subscription in list(self._subscriptions.get(frame.topic, ())):
                if subscription.queue.qsize() >= self.queue_size:
                    self._end(subscription, StreamEnd.OVERFLOW)
                else:
                    subscription.queue.put_nowait(frame)
            self.last_seq = max(self.last_seq, frame.seq)

    def close_all(self) -> None:
        for topic_subscriptions in list(self._subscriptions.values()):
            for subscription in list(topic_subscriptions):
                self._end(subscription, StreamEnd.SHUTDOWN)

    def _end(self, subscription: Subscription, reason: StreamEnd) -> None:
        self.unsubscribe(subscription)
        subscription.ended = True
        while not subscription.queue.empty():
            subscription.queue.get_nowait()
        subscription.queue.put_nowait(reason)
