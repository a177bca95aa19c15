"""core.events.Subscribers: a bus's subscriptions indexed by topic."""

from __future__ import annotations

from core.events import RECENT_IDS, RECENT_SLACK, Event, Subscribers, Subscription


def test_an_event_reaches_the_subscriptions_of_its_topic_once_and_no_others() -> None:
    subscribers = Subscribers()
    ann, bob, both = Subscription(["user:ann"]), Subscription(["user:bob"]), Subscription(["user:ann", "room"])
    for sub in (ann, bob, both):
        subscribers.add(sub)
    subscribers.offer(Event(1, "user:ann", "tick", {}))
    subscribers.offer(Event(2, "room", "tick", {}))
    subscribers.offer(Event(3, "nobody", "tick", {}))
    assert [e.id for e in ann.take()] == [1]
    assert bob.take() == []
    assert [e.id for e in both.take()] == [1, 2]
    assert subscribers.topics() == ["room", "user:ann", "user:bob"]


def test_a_subscription_that_leaves_leaves_no_topic_behind() -> None:
    subscribers = Subscribers()
    first, second = Subscription(["user:ann", "room"]), Subscription(["room"])
    subscribers.add(first)
    subscribers.add(second)
    subscribers.discard(first)
    assert subscribers.topics() == ["room"]
    subscribers.discard(second)
    subscribers.discard(second)  # twice is harmless
    assert subscribers.topics() == []
    subscribers.offer(Event(1, "room", "tick", {}))
    assert first.take() == []
    assert second.take() == []


def test_a_subscriber_closed_while_offered_does_not_break_the_fan_out() -> None:
    subscribers = Subscribers()
    subs = [Subscription(["room"]) for _ in range(5)]
    for sub in subs:
        sub.listen(lambda _event: [subscribers.discard(s) for s in subs[:3]])
        subscribers.add(sub)
    subscribers.offer(Event(1, "room", "tick", {}))
    assert all(sub.last_id == 1 for sub in subs)


def test_a_subscription_drops_an_event_it_saw_among_its_last_ids_and_stays_small() -> None:
    sub = Subscription(["room"])
    for n in [5, 3, 4, 5, 3, 6]:  # out of order, and repeats (a replay overlapping live delivery)
        sub.offer(Event(n, "room", "tick", {}))
    assert [e.id for e in sub.take()] == [5, 3, 4, 6]
    delivered: list[int] = []
    sub.listen(lambda event: delivered.append(event.id))
    newest = 6 + RECENT_IDS + RECENT_SLACK + 1
    for n in range(7, newest + 1):
        sub.offer(Event(n, "room", "tick", {}))
    assert delivered == list(range(7, newest + 1))
    # The last RECENT_IDS ids are still recognised; the oldest were forgotten, RECENT_SLACK at a time.
    sub.offer(Event(newest - RECENT_IDS + 1, "room", "tick", {}))
    sub.offer(Event(3, "room", "tick", {}))
    assert delivered[-1] == 3
    assert len(delivered) == newest - 6 + 1
