"""
A stand-in for the control API's ``/v1/handoffs`` (shared/contracts/handoffs.ts), shared by the
hand-off trigger and operator tests.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from airflow.sdk import Connection

from json_http import JsonHandler, serve

SERVICE_KEY = "tdm_svc_handoff-test-0123456789"
RUN_ID = "scheduled__2026-06-02T01:30:00+00:00"
HANDOFF_ID = f"handoff:tandem__discharge-summaries:{RUN_ID}:ward-a.review:-1"
QUOTED_PATH = "/v1/handoffs/handoff%3Atandem__discharge-summaries%3Ascheduled__2026-06-02T01%3A30%3A00%2B00%3A00%3Award-a.review%3A-1"
DECISION = {"outcome": "approved", "decidedBy": "dr-a", "artifactVersion": f"{RUN_ID}:ward-a:2026-06-02"}


def state(status: str, **fields: Any) -> dict[str, Any]:
    """A HandoffState as the control API answers it."""
    return {
        "handoffId": HANDOFF_ID,
        "workflowId": HANDOFF_ID,
        "runId": "0193-temporal-run",
        "workflowType": "review.request",
        "department": "clinical-ai",
        "pipelineId": "discharge-summaries",
        "partition": "ward-a:2026-06-02",
        "status": status,
        "startedAt": "2026-06-02T01:31:00.000Z",
        "closedAt": None if status == "pending" else "2026-06-02T01:41:00.000Z",
        "links": {"workflow": f"/v1/workflows/{QUOTED_PATH.rsplit('/', 1)[1]}"},
        **fields,
    }


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None


@dataclass
class ControlApiStandIn:
    """
    Answers ``POST /v1/handoffs`` and ``GET /v1/handoffs/{id}`` from scripts of ``(status, body)``,
    one per request, the last repeating; records every request.
    """

    url: str = ""
    starts: list[tuple[int, Any]] = field(default_factory=lambda: [(201, {**state("pending"), "created": True})])
    polls: list[tuple[int, Any]] = field(default_factory=lambda: [(200, state("succeeded", result=DECISION))])
    #: Answers to ``POST /v1/handoffs/{id}/xcom`` (the result written as the task's XCom).
    publishes: list[tuple[int, Any]] = field(default_factory=lambda: [(200, state("succeeded", result=DECISION))])
    #: Answers to ``POST /v1/handoffs/{id}/complete-task`` (the result written, the task marked success).
    completes: list[tuple[int, Any]] = field(default_factory=lambda: [(200, state("succeeded", result=DECISION))])
    requests: list[Request] = field(default_factory=list)

    def handler(self) -> type[JsonHandler]:
        api = self

        class Handler(JsonHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                api.answer(self, "GET", api.polls)

            def do_POST(self):  # noqa: N802
                if self.path.endswith("/xcom"):
                    api.answer(self, "POST", api.publishes)
                elif self.path.endswith("/complete-task"):
                    api.answer(self, "POST", api.completes)
                else:
                    api.answer(self, "POST", api.starts)

        return Handler

    def answer(self, handler: JsonHandler, method: str, script: list[tuple[int, Any]]) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        self.requests.append(Request(method, url.path, parse_qs(url.query), body, handler.headers.get("Authorization")))
        status, answer = script.pop(0) if len(script) > 1 else script[0]
        handler._send(status, answer)


def use_connection(monkeypatch, url: str) -> None:
    conn = Connection(conn_id="tandem_default", conn_type="http", host=url, password=SERVICE_KEY)
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", conn.as_json())


@pytest.fixture
def api(monkeypatch):
    stand_in = ControlApiStandIn()
    server, stand_in.url = serve(stand_in.handler())
    use_connection(monkeypatch, stand_in.url)
    yield stand_in
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
