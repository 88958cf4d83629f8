"""EventFactory: the events a trigger makes on its hot path, with Nuclio's values."""

from __future__ import annotations

import datetime
import os
import uuid

from dh_serverless.core.events import EventFactory, EventIds, new_event
from dh_serverless.hookspecs import TriggerInfo

INFO = TriggerInfo("http", "web")


def test_an_event_has_nuclio_values():
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    event = EventFactory(INFO)(b'{"a": 1}', content_type="application/json", method="POST")
    assert event.trigger is INFO
    assert event.body == {"a": 1}  # Nuclio's body rule: exactly application/json
    assert event.size == 8
    assert uuid.UUID(event.id).version == 4
    assert str(uuid.UUID(event.id)) == event.id
    assert event.timestamp.tzinfo is None
    assert event.timestamp.microsecond == 0
    assert before <= event.timestamp <= before + datetime.timedelta(seconds=2)
    assert (event.shard_id, event.num_shards, event.topic, event.path) == (-1, 0, "", "/")
    assert event.headers == {}
    assert event.fields == {}


def test_ids_are_distinct_and_bodies_stay_bytes_unless_json():
    make = EventFactory(INFO)
    ids = {make().id for _ in range(10_000)}
    assert len(ids) == 10_000
    assert make(b"{}", content_type="text/plain").body == b"{}"


def test_a_decoded_body_is_taken_as_given_and_size_is_the_raw_size():
    event = EventFactory(INFO)(b"\x00" * 12, body=[1, 2, 3])
    assert event.body == [1, 2, 3]
    assert event.size == 12


def test_new_event_copies_headers_and_fields():
    headers = {"X-A": "1"}
    event = new_event(b"x", trigger=INFO, headers=headers, fields={"q": "v"})
    headers["X-B"] = "2"
    assert event.headers == {"X-A": "1"}
    assert event.fields == {"q": "v"}
    assert uuid.UUID(event.id).version == 4


def test_event_ids_are_uuid4_shaped_distinct_and_differ_between_triggers():
    first, second = EventIds(), EventIds()
    ids = [first() for _ in range(1000)]
    assert len(set(ids)) == 1000
    for value in (ids[0], ids[-1], second()):
        assert uuid.UUID(value).version == 4
        assert str(uuid.UUID(value)) == value
    assert first.prefix != second.prefix  # drawn from the OS for each
    assert ids[0].startswith(first.prefix)


def test_one_off_events_share_one_prefix_per_process_and_a_forked_child_draws_its_own():
    first, second = new_event(trigger=INFO).id, new_event(trigger=INFO).id
    assert first != second
    assert first[:24] == second[:24]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave at once
        os.write(write, new_event(trigger=INFO).id.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert uuid.UUID(child).version == 4
    assert child[:24] != first[:24]
