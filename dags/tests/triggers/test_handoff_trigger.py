"""
``HandoffTrigger`` against a stand-in for the control API's ``/v1/handoffs``: serialize() round
trip; long poll until the workflow ends (success ends the task from the triggerer with the result as
XCom, other outcomes resume it); 404; the API down for a while (refused connections, then 503) →
retries with growing, capped backoff, logged, and nothing lost when it comes back.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import threading

from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from handoff_api import DECISION, HANDOFF_ID, QUOTED_PATH, SERVICE_KEY, ControlApiStandIn, api, free_port, serve, state, use_connection  # noqa: F401
from tandem_airflow.triggers.handoff import HandoffTrigger


def events_of(trigger: HandoffTrigger, timeout: float = 20.0) -> list[TriggerEvent]:
    async def collect():
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), timeout))


# --- trigger ---------------------------------------------------------------------------------------


def test_trigger_serialize_round_trips_through_airflow_serde():
    from airflow.sdk.serde import deserialize, serialize

    trigger = HandoffTrigger(
        HANDOFF_ID, tandem_conn_id="tandem_other", wait_ms=5_000, backoff_base_seconds=0.5, backoff_max_seconds=8, end_from_trigger=False
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "tandem_airflow.triggers.handoff.HandoffTrigger"
    # What the task runner stores and the triggerer rebuilds the trigger from.
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "handoff_id": HANDOFF_ID,
        "tandem_conn_id": "tandem_other",
        "wait_ms": 5_000,
        "backoff_base_seconds": 0.5,
        "backoff_max_seconds": 8,
        "end_from_trigger": False,
    }


def test_trigger_long_polls_until_success_and_ends_the_task_with_the_result(api):
    api.polls = [(200, state("pending")), (200, state("pending")), (200, state("succeeded", result=DECISION))]

    events = events_of(HandoffTrigger(HANDOFF_ID))

    assert len(events) == 1
    assert isinstance(events[0], TaskSuccessEvent)
    # The result reaches XCom through the control API (Airflow's REST API), not the event.
    assert events[0].xcoms is None
    assert [(r.method, r.path, r.query) for r in api.requests] == [("GET", QUOTED_PATH, {"waitMs": ["25000"]})] * 3 + [
        ("POST", f"{QUOTED_PATH}/xcom", {})
    ]
    assert {r.authorization for r in api.requests} == {f"Bearer {SERVICE_KEY}"}


def test_when_the_result_cannot_be_written_as_xcom_the_task_resumes_on_a_worker_with_it(api):
    api.publishes = [(503, {"title": "Airflow is not available", "status": 503})]
    events = events_of(HandoffTrigger(HANDOFF_ID))
    assert [type(e) for e in events] == [TriggerEvent]
    assert events[0].payload["status"] == "succeeded" and events[0].payload["result"] == DECISION


def test_trigger_without_the_fast_path_resumes_the_task_with_the_state(api):
    events = events_of(HandoffTrigger(HANDOFF_ID, end_from_trigger=False))
    assert [type(e) for e in events] == [TriggerEvent]
    assert events[0].payload["status"] == "succeeded" and events[0].payload["result"] == DECISION


def test_a_rejected_review_resumes_the_task_to_fail_it_with_the_reason(api):
    rejected = state("rejected", result={"outcome": "rejected"}, reason='rejected by dr-a: "wrong dose"')
    api.polls = [(200, state("pending")), (200, rejected)]

    events = events_of(HandoffTrigger(HANDOFF_ID))

    assert [type(e) for e in events] == [TriggerEvent]
    assert events[0].payload == rejected


def test_unknown_handoff_is_a_failure_event(api):
    api.polls = [(404, {"title": "Not found", "status": 404, "detail": f"no hand-off {HANDOFF_ID}"})]
    events = events_of(HandoffTrigger(HANDOFF_ID))
    assert len(api.requests) == 1
    assert [type(e) for e in events] == [TriggerEvent]
    assert events[0].payload["status"] == "error"
    assert events[0].payload["reason"] == f"hand-off {HANDOFF_ID} is unknown to the control API"


def test_a_refused_key_is_a_failure_event_naming_the_connection(api):
    api.polls = [(403, {"title": "Not allowed", "status": 403})]
    (event,) = events_of(HandoffTrigger(HANDOFF_ID))
    assert event.payload["status"] == "error"
    assert "HTTP 403" in event.payload["reason"] and "'tandem_default'" in event.payload["reason"]


def test_api_down_then_back_retries_with_growing_capped_backoff_and_loses_nothing(monkeypatch, capsys):
    """Refused connections, then 503s (the API restarting), then the outcome: one success event."""
    port = free_port()
    stand_in = ControlApiStandIn(polls=[(503, {"title": "unavailable"}), (503, {"title": "unavailable"}), (200, state("succeeded", result=DECISION))])
    use_connection(monkeypatch, f"http://127.0.0.1:{port}")
    servers = []
    # The API comes up while the trigger is backing off; nothing listens on the port until then.
    comes_back = threading.Timer(0.4, lambda: servers.append(serve(stand_in.handler(), port=port)[0]))
    comes_back.start()
    base, cap = 0.01, 0.04
    try:
        events = events_of(HandoffTrigger(HANDOFF_ID, backoff_base_seconds=base, backoff_max_seconds=cap))
    finally:
        comes_back.cancel()
        for server in servers:
            server.shutdown()
            server.server_close()

    assert [type(e) for e in events] == [TaskSuccessEvent]
    assert [r.method for r in stand_in.requests] == ["GET", "GET", "GET", "POST"]
    # Airflow's structlog writes the trigger's log lines to stdout.
    lines = capsys.readouterr().out.splitlines()
    retries = [line for line in lines if "control API unreachable" in line]
    assert all("[warning" in line for line in retries)
    refused = [line for line in retries if "(ConnectError" in line]
    unavailable = [line for line in retries if "(HTTP 503)" in line]
    assert len(refused) >= 3 and len(unavailable) == 2 and len(retries) == len(refused) + 2
    assert f"hand-off {HANDOFF_ID}: control API unreachable (ConnectError" in retries[0]
    delays = [float(re.search(r"retrying in ([0-9.]+)s", line).group(1)) for line in retries]
    assert delays == [min(cap, base * 2**i) for i in range(len(delays))]
    assert any(f"control API reachable again after {len(retries)} failed poll(s)" in line for line in lines)


