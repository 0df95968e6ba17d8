"""
``TandemApiHook``: the connection, and each call of its sync side (local HTTP server) and async
side (``httpx.MockTransport``, and a local server for the session as a trigger opens it): the
headers, retries on 5xx / unreachable with the delays the operator and trigger rely on, and
immediate failure on a 4xx.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import ThreadingHTTPServer

import httpx
import pytest
from airflow.sdk import Connection

from handoff_api import HANDOFF_ID, QUOTED_PATH, ControlApiStandIn, free_port, state
from json_http import JsonHandler, serve
from tandem_airflow import __version__
from tandem_airflow.hooks import tandem_api
from tandem_airflow.hooks.tandem_api import (
    AsyncTandemApiSession,
    TandemApiConnectionError,
    TandemApiHook,
    TandemApiStatusError,
    TandemApiUnreachable,
    settings_from_connection,
)

SERVICE_KEY = "tdm_svc_test-key-0123456789"


def make_connection(**fields) -> Connection:
    return Connection(conn_id="tandem_default", conn_type="http", **fields)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"host": "http://127.0.0.1:8787"}, "http://127.0.0.1:8787"),
        ({"host": "https://tandem.example.org/"}, "https://tandem.example.org"),
        ({"host": "http://tandem.internal/base/"}, "http://tandem.internal/base"),
        ({"host": "tandem.internal", "port": 8787}, "http://tandem.internal:8787"),
        ({"host": "tandem.internal", "schema": "https"}, "https://tandem.internal"),
    ],
)
def test_base_url_from_connection(fields, expected):
    settings = settings_from_connection(make_connection(password=SERVICE_KEY, **fields))
    assert settings.base_url == expected
    assert settings.url("/v1/version") == f"{expected}/v1/version"


def test_headers_carry_the_service_key_as_bearer():
    settings = settings_from_connection(make_connection(host="http://127.0.0.1:8787", password=SERVICE_KEY))
    assert settings.headers["Authorization"] == f"Bearer {SERVICE_KEY}"
    assert SERVICE_KEY not in repr(settings)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": SERVICE_KEY}, "has no host"),
        ({"host": "http://127.0.0.1:8787"}, "has no password"),
    ],
)
def test_incomplete_connection_is_a_clear_error(fields, message):
    with pytest.raises(TandemApiConnectionError, match=message):
        settings_from_connection(make_connection(**fields))


class _VersionHandler(JsonHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self):  # noqa: N802 (http.server API)
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != f"Bearer {SERVICE_KEY}":
            self._send(401, {"title": "unauthorized"})
        elif self.path == "/v1/version":
            self._send(200, {"version": "0.1.0"})
        else:
            self._send(404, {"title": "not found"})



@pytest.fixture
def control_api():
    _VersionHandler.seen = []
    server, url = serve(_VersionHandler)
    yield url
    server.shutdown()
    server.server_close()


def test_get_version_reads_the_connection_and_calls_v1_version(control_api, monkeypatch):
    # The same way the launcher's connection reaches a task: a connection Airflow resolves by id.
    conn = make_connection(host=control_api, password=SERVICE_KEY)
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", conn.as_json())

    assert TandemApiHook().get_version() == {"version": "0.1.0"}
    assert _VersionHandler.seen == [("/v1/version", f"Bearer {SERVICE_KEY}")]


def test_wrong_key_surfaces_as_http_error(control_api, monkeypatch):
    import httpx

    conn = make_connection(host=control_api, password="tdm_svc_wrong-key-000000")
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", conn.as_json())
    with pytest.raises(httpx.HTTPStatusError, match="401"):
        TandemApiHook().get_version()
    ok, message = TandemApiHook().test_connection()
    assert not ok and "401" in message


# --- the calls: sync side (operators, task callables), against a local HTTP server ------------------

STARTED = {**state("pending"), "created": True}
UNAVAILABLE = (503, {"title": "Service unavailable", "status": 503})


class RecordingHandler(JsonHandler):
    """Answers from ``script`` (``(status, body)`` per request, the last repeating); records headers."""

    script: list[tuple[int, object]] = []
    seen: list[dict] = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        type(self).seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": json.loads(self.rfile.read(length)) if length else None}
        )
        script = type(self).script
        status, body = script.pop(0) if len(script) > 1 else script[0]
        self._send(status, body)

    do_GET = do_POST = _answer  # noqa: N815


@pytest.fixture
def server(monkeypatch):
    RecordingHandler.script, RecordingHandler.seen = [(200, {})], []
    httpd, url = serve(RecordingHandler)
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", make_connection(host=url, password=SERVICE_KEY).as_json())
    yield RecordingHandler
    httpd.shutdown()
    httpd.server_close()


def test_every_call_sends_the_service_key_json_and_the_package_version(server):
    server.script = [(201, STARTED)]
    assert TandemApiHook().start_handoff({"workflowType": "review.request"}) == STARTED
    (request,) = server.seen
    assert (request["method"], request["path"], request["body"]) == ("POST", "/v1/handoffs", {"workflowType": "review.request"})
    assert request["headers"]["Authorization"] == f"Bearer {SERVICE_KEY}"
    assert request["headers"]["Accept"] == "application/json"
    assert request["headers"]["User-Agent"] == f"tandem-airflow/{__version__}"


def test_start_rides_out_5xx_then_succeeds(server, monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr(tandem_api.time, "sleep", pauses.append)
    server.script = [UNAVAILABLE, (502, {}), (201, STARTED)]
    assert TandemApiHook().start_handoff({}, backoff_scale=0.5)["handoffId"] == HANDOFF_ID
    assert len(server.seen) == 3
    assert pauses == [0.5, 1.0]  # 1 s, 2 s … scaled


def test_start_gives_up_after_about_30_seconds_of_5xx(server, monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr(tandem_api.time, "sleep", pauses.append)
    server.script = [UNAVAILABLE]
    with pytest.raises(TandemApiStatusError) as raised:
        TandemApiHook().start_handoff({})
    assert raised.value.status == 503 and raised.value.problem == "Service unavailable"
    assert len(server.seen) == 6
    assert pauses == [1.0, 2.0, 4.0, 8.0, 15.0] and sum(pauses) == 30


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 429])
def test_start_fails_at_once_on_a_4xx(server, monkeypatch, status):
    monkeypatch.setattr(tandem_api.time, "sleep", lambda _: pytest.fail("a 4xx must not be retried"))
    server.script = [(status, {"title": "No", "detail": "input does not match", "errors": [{"path": "body.input.x", "message": "Required"}]})]
    with pytest.raises(TandemApiStatusError) as raised:
        TandemApiHook().start_handoff({})
    assert raised.value.status == status
    assert raised.value.problem == "input does not match (body.input.x: Required)"
    assert len(server.seen) == 1


def test_start_retries_refused_connections_until_the_api_is_up(monkeypatch):
    port = free_port()
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", make_connection(host=f"http://127.0.0.1:{port}", password=SERVICE_KEY).as_json())
    RecordingHandler.script, RecordingHandler.seen = [(201, STARTED)], []
    servers = []
    comes_back = threading.Timer(0.3, lambda: servers.append(serve(RecordingHandler, port=port)[0]))
    comes_back.start()
    try:
        assert TandemApiHook().start_handoff({}, backoff_scale=0.1)["handoffId"] == HANDOFF_ID
    finally:
        comes_back.cancel()
        for httpd in servers:
            httpd.shutdown()
            httpd.server_close()
    assert len(RecordingHandler.seen) == 1


def test_start_reports_an_api_that_never_answers(monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", make_connection(host=url, password=SERVICE_KEY).as_json())
    monkeypatch.setattr(tandem_api.time, "sleep", lambda _: None)
    with pytest.raises(TandemApiUnreachable) as raised:
        TandemApiHook().start_handoff({})
    assert raised.value.base_url == url and isinstance(raised.value.cause, httpx.ConnectError)


def test_get_handoff_asks_without_waiting_on_one_path_segment(server):
    server.script = [(200, state("succeeded")), (404, {"title": "Not found"})]
    assert TandemApiHook().get_handoff(HANDOFF_ID)["status"] == "succeeded"
    with pytest.raises(TandemApiStatusError, match="HTTP 404: Not found"):
        TandemApiHook().get_handoff(HANDOFF_ID)
    assert [r["path"] for r in server.seen] == [f"{QUOTED_PATH}?waitMs=0"] * 2


def test_fingerprint_calls_and_their_failures(server):
    server.script = [
        (200, {"sources": [{"source": "docs", "identity": "sha256:1"}]}),
        (200, {"changed": False, "reasons": ["all sources unchanged"]}),
        (200, {"committed": 1}),
        UNAVAILABLE,
    ]
    hook = TandemApiHook()
    assert hook.committed_fingerprints("kb", "a b") == {"docs": {"source": "docs", "identity": "sha256:1"}}
    fingerprints = {"docs": {"kind": "file", "identity": "sha256:1", "value": {}}}
    assert hook.check_fingerprints("kb", "a b", "r1", True, fingerprints)["changed"] is False
    assert hook.commit_fingerprints("kb", "a b", "r1", None) == {"committed": 1}
    # Not retried here and not AirflowFailException: Airflow's retries of the task ride it out.
    with pytest.raises(httpx.HTTPStatusError, match="503"):
        hook.commit_fingerprints("kb", "a b", "r1", fingerprints)
    assert [(r["method"], r["path"], r["body"]) for r in server.seen] == [
        ("GET", "/v1/fingerprints?pipelineId=kb&partition=a+b", None),
        ("POST", "/v1/fingerprints/check", {"pipelineId": "kb", "partition": "a b", "runId": "r1", "force": True, "sources": [{"source": "docs", "kind": "file", "identity": "sha256:1", "value": {}}]}),
        ("POST", "/v1/fingerprints/commit", {"pipelineId": "kb", "partition": "a b", "runId": "r1"}),
        ("POST", "/v1/fingerprints/commit", {"pipelineId": "kb", "partition": "a b", "runId": "r1", "sources": [{"source": "docs", "kind": "file", "identity": "sha256:1", "value": {}}]}),
    ]
    assert {r["headers"]["Authorization"] for r in server.seen} == {f"Bearer {SERVICE_KEY}"}


class _KeepAliveHandler(JsonHandler):
    """Keeps connections open (HTTP/1.1) and records the client port of each request."""

    protocol_version = "HTTP/1.1"
    peers: list[int] = []

    def do_GET(self):  # noqa: N802 (http.server API)
        type(self).peers.append(self.client_address[1])
        self._send(200, {"sources": []})


def test_sync_calls_of_a_process_share_one_client_and_its_connections(monkeypatch):
    # Building a client per call cost the run's source check most of its time (two calls for
    # each of 100 partitions): calls of any hook with the same connection reuse one client.
    _KeepAliveHandler.peers = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", make_connection(host=url, password=SERVICE_KEY).as_json())
    try:
        first, second = TandemApiHook(), TandemApiHook()
        for hook in (first, second, first):
            assert hook.committed_fingerprints("kb", "a") == {}
        assert tandem_api.shared_sync_client(first.get_conn()) is tandem_api.shared_sync_client(second.get_conn())
        assert len(_KeepAliveHandler.peers) == 3 and len(set(_KeepAliveHandler.peers)) == 1
        # Another connection (another API or key) gets its own client.
        other = settings_from_connection(make_connection(host=url, password="tdm_svc_other-key-000000"))
        assert tandem_api.shared_sync_client(other) is not tandem_api.shared_sync_client(first.get_conn())
    finally:
        for client in tandem_api._sync_clients.values():
            client.close()
        tandem_api._sync_clients.clear()
        httpd.shutdown()
        httpd.server_close()


# --- the calls: async side (triggers), against httpx.MockTransport and a local server ---------------


def session_over(answers: list, requests: list[httpx.Request]) -> AsyncTandemApiSession:
    """A session whose client answers from ``answers`` (a response, or an exception to raise)."""

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = httpx.AsyncClient(base_url="http://api.test", transport=httpx.MockTransport(handle))
    return AsyncTandemApiSession(TandemApiHook(), client)


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    recorded: list[float] = []

    async def no_wait(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(tandem_api.asyncio, "sleep", no_wait)
    return recorded


def wait(session: AsyncTandemApiSession, **options):
    return asyncio.run(session.wait_for_handoff(HANDOFF_ID, **{"wait_ms": 25_000, "backoff_base_seconds": 1.0, "backoff_max_seconds": 30.0, **options}))


def test_the_long_poll_retries_while_the_api_is_unreachable_then_returns_the_state(pauses):
    requests: list[httpx.Request] = []
    answers = [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.Response(503, json={"title": "unavailable"}),
        httpx.Response(429, json={"title": "slow down"}),
        httpx.Response(200, text="<html>proxy error</html>"),
        httpx.Response(200, json=state("succeeded")),
    ]
    assert wait(session_over(answers, requests))["status"] == "succeeded"
    assert len(requests) == 6
    assert {str(r.url) for r in requests} == {f"http://api.test{QUOTED_PATH}?waitMs=25000"}
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_the_long_poll_backs_off_to_30_seconds_and_never_gives_up(pauses):
    requests: list[httpx.Request] = []
    answers = [httpx.ConnectError("refused")] * 12 + [httpx.Response(200, json=state("pending"))]
    assert wait(session_over(answers, requests))["status"] == "pending"
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0] + [30.0] * 7


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_the_long_poll_reports_a_4xx_at_once(pauses, status):
    requests: list[httpx.Request] = []
    with pytest.raises(TandemApiStatusError) as raised:
        wait(session_over([httpx.Response(status, json={"title": "no"})], requests))
    assert raised.value.status == status and len(requests) == 1 and pauses == []


@pytest.mark.parametrize(("method", "action"), [("publish_handoff_result", "xcom"), ("complete_handoff_task", "complete-task")])
def test_publishing_the_result_or_completing_the_task_and_their_failures(method, action):
    requests: list[httpx.Request] = []
    session = session_over(
        [httpx.Response(200, json=state("succeeded")), httpx.Response(503, json={"title": "Airflow is not available"}), httpx.ConnectError("refused")],
        requests,
    )
    call = getattr(session, method)
    asyncio.run(call(HANDOFF_ID))
    with pytest.raises(TandemApiStatusError, match="503: Airflow is not available"):
        asyncio.run(call(HANDOFF_ID))
    with pytest.raises(TandemApiUnreachable):
        asyncio.run(call(HANDOFF_ID))
    assert [(r.method, r.url.raw_path.decode()) for r in requests] == [("POST", f"{QUOTED_PATH}/{action}")] * 3


def test_the_async_session_reads_the_connection_and_sends_the_key(monkeypatch):
    api = ControlApiStandIn(polls=[(200, state("pending"))])
    httpd, api.url = serve(api.handler())
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", make_connection(host=api.url, password=SERVICE_KEY).as_json())

    async def poll():
        async with TandemApiHook().async_session() as session:
            return await session.wait_for_handoff(HANDOFF_ID, wait_ms=10, backoff_base_seconds=0.01, backoff_max_seconds=0.01)

    try:
        assert asyncio.run(poll())["status"] == "pending"
    finally:
        httpd.shutdown()
        httpd.server_close()
    (request,) = api.requests
    assert (request.method, request.path, request.query, request.authorization) == ("GET", QUOTED_PATH, {"waitMs": ["10"]}, f"Bearer {SERVICE_KEY}")


# --- one client per event loop -------------------------------------------------------------------


def test_every_session_of_an_event_loop_shares_one_client_and_another_loop_gets_its_own(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", make_connection(host="http://127.0.0.1:9", password=SERVICE_KEY).as_json())

    async def clients_of_one_loop():
        async with TandemApiHook(timeout=5).async_session() as first, TandemApiHook(timeout=40).async_session() as second:
            # One client, each session with its own per-request timeout.
            return first.client, second.client, first.timeout, second.timeout

    a, b, timeout_a, timeout_b = asyncio.run(clients_of_one_loop())
    c, _, _, _ = asyncio.run(clients_of_one_loop())
    assert a is b and (timeout_a, timeout_b) == (5, 40)
    assert c is not a
    # Leaving a session does not close the shared client: the next trigger of the loop reuses it.
    assert not a.is_closed


def test_more_long_polls_than_a_default_pool_allows_are_all_in_flight_at_once(monkeypatch):
    """httpx caps a client at 100 connections by default; 120 waiting triggers must not queue behind it."""
    waiting = 120
    arrived = threading.Barrier(waiting, timeout=40)

    class Handler(JsonHandler):
        def do_GET(self):  # noqa: N802
            arrived.wait()  # answers only once every poll is open at the same time
            self._send(200, state("pending"))

    class Server(ThreadingHTTPServer):
        # http.server's default backlog (5) would drop simultaneous connects under load.
        request_queue_size = 256
        daemon_threads = True

    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", make_connection(host=url, password=SERVICE_KEY).as_json())

    async def poll():
        async with TandemApiHook(timeout=20).async_session() as session:
            return await session.wait_for_handoff(HANDOFF_ID, wait_ms=10_000, backoff_base_seconds=0.01, backoff_max_seconds=0.01)

    async def all_polls():
        return await asyncio.gather(*(poll() for _ in range(waiting)))

    try:
        states = asyncio.run(asyncio.wait_for(all_polls(), 60))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert [s["status"] for s in states] == ["pending"] * waiting
