"""
Hook for tandem's control API: the one place that speaks HTTP to it.

The launcher creates the Airflow connection ``tandem_default`` (type ``http``): ``host`` is the
control API's base URL and ``password`` is the service-role API key. DAG code never sees the key;
tasks and triggers get it from the connection at run time.

Two sides, one hook:

- sync, for operators, task callables and callbacks: the hand-off start (riding out an API restart
  for about half a minute), a hand-off's current state, the fingerprint endpoints, and the two
  reports of a pipeline's outcome (a partition's failure, a DAG run's end), which ride out a
  restart the same way;
- async (``httpx.AsyncClient``), for triggers, which must not block the triggerer's event loop:
  ``async_session()`` gives the hand-off long poll (retried with capped backoff, without limit,
  while the API is unreachable) and the XCom write over the one client its event loop shares
  (``shared_async_client``): a triggerer with a thousand waiting hand-offs holds one connection
  pool and one TLS context, not a thousand.

Callers get parsed JSON or one of two errors: ``TandemApiUnreachable`` (connection refused, reset,
timed out …, after whatever retrying the call does) and ``TandemApiStatusError`` (an HTTP answer
the call does not accept, with the problem+json text). What a status means for a task — fail at
once, or leave it to Airflow's retries — is the caller's decision; the hook only reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict
from urllib.parse import quote

import httpx
from airflow.sdk import BaseHook

from tandem_airflow import __version__

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: Pauses before the 2nd … 6th attempt of a hand-off start while the API restarts (~30 s in all).
START_RETRY_DELAYS_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0)

#: No cap on connections: every waiting trigger holds one long poll open at a time, and a pool
#: capped below the number of waiting triggers would queue polls until they time out. Idle
#: connections are kept for reuse by the next poll (each trigger polls again at once).
SHARED_CLIENT_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=60.0)


class TandemApiConnectionError(ValueError):
    """The ``tandem_default`` connection is missing something the hook needs."""


class TandemApiUnreachable(Exception):
    """No HTTP answer from the control API (refused, reset, DNS, timeout)."""

    def __init__(self, base_url: str, cause: httpx.TransportError) -> None:
        self.base_url = base_url
        self.cause = cause
        super().__init__(f"the control API at {base_url} is unreachable ({cause})")


class TandemApiStatusError(Exception):
    """The control API answered with a status the call does not accept."""

    def __init__(self, status: int, problem: str, text: str = "") -> None:
        self.status = status
        #: problem+json ``detail`` (or ``title``) and each ``errors[].path: message``.
        self.problem = problem
        #: The raw body (at most 500 characters), for messages that quote it.
        self.text = text
        super().__init__(f"HTTP {status}: {problem}")


# --- what the control API answers (shared/contracts/handoffs.ts, fingerprints.ts) --------------

HandoffStatus = Literal["pending", "succeeded", "failed", "cancelled", "terminated", "timed-out", "rejected", "expired"]


class HandoffLinks(TypedDict):
    workflow: str
    temporalUi: NotRequired[str]


class HandoffResumer(TypedDict):
    """tandem's own Airflow identity, the one user a parked hand-off's HITL detail is assigned to."""

    id: str
    name: str


class HandoffState(TypedDict):
    """``HandoffState`` of shared/contracts/handoffs.ts (``created`` only in a start's answer)."""

    handoffId: str
    workflowId: str
    runId: str
    workflowType: str
    department: str
    pipelineId: str | None
    partition: str | None
    airflow: NotRequired[dict[str, Any]]
    status: HandoffStatus
    result: NotRequired[Any]
    reason: NotRequired[str]
    startedAt: str
    closedAt: str | None
    links: HandoffLinks
    created: NotRequired[bool]
    #: In the answer to a parked start: the Airflow user who resumes the parked task (tandem's own).
    resumer: NotRequired[HandoffResumer]


class FingerprintCheck(TypedDict):
    changed: bool
    reasons: list[str]


@dataclass(frozen=True)
class TandemApiSettings:
    """Where the control API is and how to authenticate to it."""

    base_url: str
    service_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.service_key}",
            "Accept": "application/json",
            "User-Agent": f"tandem-airflow/{__version__}",
        }

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def __repr__(self) -> str:  # never print the key
        return f"TandemApiSettings(base_url={self.base_url!r}, service_key='***')"


def settings_from_connection(conn: Connection) -> TandemApiSettings:
    """
    Build the settings from an Airflow connection.

    ``host`` may be a full URL (``http://127.0.0.1:8787``, what the launcher writes) or a bare host
    name, in which case ``schema`` (default ``http``) and ``port`` complete it.
    """
    host = (conn.host or "").strip()
    if not host:
        raise TandemApiConnectionError(
            f"Airflow connection {conn.conn_id!r} has no host; set it to the control API URL, "
            "e.g. http://127.0.0.1:8787 (the tandem launcher does this for tandem_default)"
        )
    if "://" in host:
        base_url = host
    else:
        scheme = (conn.schema or "http").strip() or "http"
        base_url = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    if not conn.password:
        raise TandemApiConnectionError(
            f"Airflow connection {conn.conn_id!r} has no password; it must hold tandem's service API key"
        )
    return TandemApiSettings(base_url=base_url.rstrip("/"), service_key=conn.password)


def handoff_path(handoff_id: str) -> str:
    # Hand-off ids contain ':' and Airflow run ids may contain '+', '/' …: one path segment.
    return f"/v1/handoffs/{quote(handoff_id, safe='')}"


def pipeline_run_path(pipeline_id: str, run_id: str) -> str:
    return f"/v1/pipelines/{quote(pipeline_id, safe='')}/runs/{quote(run_id, safe='')}"


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: base, 2·base, 4·base … capped."""
    return min(cap, base * 2 ** (failures - 1))


def problem_text(response: httpx.Response) -> str:
    """The problem+json ``detail`` (or ``title``) and each ``errors[].path: message``."""
    try:
        problem = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if not isinstance(problem, Mapping):
        return str(problem)[:500]
    text = str(problem.get("detail") or problem.get("title") or response.reason_phrase)
    issues = [
        f"{issue.get('path') or '(root)'}: {issue.get('message')}"
        for issue in problem.get("errors") or []
        if isinstance(issue, Mapping)
    ]
    return f"{text} ({'; '.join(issues)})" if issues else text


def _status_error(response: httpx.Response) -> TandemApiStatusError:
    return TandemApiStatusError(response.status_code, problem_text(response), response.text[:500])


def _transport_problem(err: httpx.TransportError) -> str:
    detail = str(err)
    return f"{type(err).__name__}: {detail}" if detail else type(err).__name__


#: Event loop → connection settings → its client. Weak on the loop: a closed and dropped loop
#: takes its clients along (their connections belong to that loop and cannot be used elsewhere).
_shared_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[TandemApiSettings, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def shared_async_client(settings: TandemApiSettings) -> httpx.AsyncClient:
    """
    The ``httpx.AsyncClient`` every trigger of the running event loop uses for these settings.

    One client per trigger cost the triggerer about 0.6 MiB per waiting hand-off (each client
    builds its own TLS context and connection pool); shared, a waiting trigger costs its open
    connection. Never closed by a trigger: it lives as long as its loop (the triggerer's, for the
    process's life). Timeouts are per request, so triggers with different waits share it too.
    """
    loop = asyncio.get_running_loop()
    clients = _shared_clients.setdefault(loop, {})
    client = clients.get(settings)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(base_url=settings.base_url, headers=settings.headers, limits=SHARED_CLIENT_LIMITS)
        clients[settings] = client
    return client


#: (Process id, connection settings) → the sync client of that process. Keyed by process too: a
#: forked child must not use connections its parent opened.
_sync_clients: dict[tuple[int, TandemApiSettings], httpx.Client] = {}
_sync_clients_lock = threading.Lock()


def shared_sync_client(settings: TandemApiSettings) -> httpx.Client:
    """
    The ``httpx.Client`` every sync call of this process makes with these settings.

    Building a client costs tens of milliseconds of CPU (its TLS context), more than a call to
    the API on loopback: the run's source check, which calls the API twice per partition from
    several threads, spent most of its seconds building clients when each call had its own.
    A client is safe to share between threads; it lives as long as the process. Timeouts are
    per request.
    """
    key = (os.getpid(), settings)
    with _sync_clients_lock:
        client = _sync_clients.get(key)
        if client is None or client.is_closed:
            client = httpx.Client(base_url=settings.base_url, headers=settings.headers, limits=SHARED_CLIENT_LIMITS)
            _sync_clients[key] = client
        return client


def _fingerprint_sources(fingerprints: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"source": name, **fp} for name, fp in fingerprints.items()]


class TandemApiHook(BaseHook):
    """
    Talks to tandem's control API with the service key from an Airflow connection.

    :param tandem_conn_id: connection holding the API URL (host) and service key (password).
    :param timeout: seconds per HTTP request.
    """

    conn_name_attr = "tandem_conn_id"
    default_conn_name = "tandem_default"
    conn_type = "http"
    hook_name = "tandem control API"

    def __init__(self, tandem_conn_id: str = default_conn_name, timeout: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tandem_conn_id = tandem_conn_id
        self.timeout = timeout
        self._settings: TandemApiSettings | None = None

    def get_conn(self) -> TandemApiSettings:
        """The control API's base URL and service key (the connection is read once per hook)."""
        if self._settings is None:
            self._settings = settings_from_connection(self.get_connection(self.tandem_conn_id))
        return self._settings

    async def aget_conn(self) -> TandemApiSettings:
        """Async variant for triggers, which must not block the triggerer's event loop."""
        if self._settings is None:
            self._settings = settings_from_connection(await self.aget_connection(self.tandem_conn_id))
        return self._settings

    def url(self, path: str) -> str:
        """An absolute URL of the control API (for links shown to people)."""
        return self.get_conn().url(path)

    # --- sync: operators and task callables ----------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return shared_sync_client(self.get_conn()).request(method, path, timeout=self.timeout, **kwargs)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._send(method, path, **kwargs)
        except httpx.TransportError as err:
            raise TandemApiUnreachable(self.get_conn().base_url, err) from err

    def get_version(self) -> dict[str, Any]:
        """``GET /v1/version``: proves the URL and the key work. Raises ``httpx.HTTPStatusError`` on 4xx/5xx."""
        response = self._send("GET", "/v1/version")
        response.raise_for_status()
        return response.json()

    def test_connection(self) -> tuple[bool, str]:
        """Used by Airflow's "Test connection" button when connection testing is enabled."""
        try:
            version = self.get_version()
        except Exception as err:  # report, do not raise: this is a UI check
            return False, str(err)
        return True, f"tandem control API reachable: {version}"

    def _post_riding_out_restarts(self, what: str, path: str, body: Mapping[str, Any] | None, backoff_scale: float) -> Any:
        """
        POST an idempotent call, riding out a control API restart (refused connections, 5xx) for
        about half a minute; parsed JSON of a 200/201.

        :raises TandemApiStatusError: any answer but 200/201 (a 5xx only on the last attempt).
        :raises TandemApiUnreachable: no answer on the last attempt either.
        """
        for attempt, delay in enumerate([*START_RETRY_DELAYS_SECONDS, None], start=1):
            try:
                response = self._request("POST", path, **({"json": dict(body)} if body is not None else {}))
            except TandemApiUnreachable as err:
                if delay is None:
                    raise
                problem = str(err.cause) or type(err.cause).__name__
            else:
                if response.status_code in (200, 201):
                    return response.json()
                if response.status_code < 500 or delay is None:
                    raise _status_error(response)
                problem = f"HTTP {response.status_code}"
            self.log.warning("%s: control API unavailable (%s), attempt %d; retrying in %gs", what, problem, attempt, delay)
            time.sleep(delay * backoff_scale)
        raise AssertionError("unreachable")

    def start_handoff(self, body: Mapping[str, Any], *, backoff_scale: float = 1.0) -> HandoffState:
        """
        ``POST /v1/handoffs`` (start or attach), riding out a control API restart (refused
        connections, 5xx) for about half a minute: the start is idempotent, and a restart of the
        API should not cost a try of every task that starts a hand-off meanwhile.

        :param backoff_scale: multiplies the pauses between attempts (tests set it near 0).
        :raises TandemApiStatusError: any answer but 200/201 (a 5xx only on the last attempt).
        :raises TandemApiUnreachable: no answer on the last attempt either.
        """
        return self._post_riding_out_restarts("hand-off start", "/v1/handoffs", body, backoff_scale)

    def report_partition_failure(self, body: Mapping[str, Any], *, backoff_scale: float = 1.0) -> dict[str, Any]:
        """
        ``POST /v1/fingerprints/fail``: a task of the partition failed for good. Idempotent (one
        event per partition and run), so it rides out an API restart like the hand-off start.
        Answers the partition's recorded last run.
        """
        return self._post_riding_out_restarts("partition failure report", "/v1/fingerprints/fail", body, backoff_scale)

    def report_run_finished(self, pipeline_id: str, run_id: str, *, backoff_scale: float = 1.0) -> dict[str, Any]:
        """
        ``POST /v1/pipelines/{id}/runs/{run_id}/finished``: the DAG run ended. The API reads the
        state and partitions from Airflow itself; idempotent, retried like the hand-off start.
        """
        return self._post_riding_out_restarts(
            "run end report", f"{pipeline_run_path(pipeline_id, run_id)}/finished", None, backoff_scale
        )

    def get_handoff(self, handoff_id: str, *, wait_ms: int = 0) -> HandoffState:
        """
        ``GET /v1/handoffs/{id}?waitMs=``: the state now, or once the workflow closes within
        ``wait_ms`` (the request's timeout grows by that much). Any answer but 200 raises.
        """
        with httpx.Client(base_url=self.get_conn().base_url, headers=self.get_conn().headers, timeout=self.timeout + wait_ms / 1000) as client:
            response = client.get(handoff_path(handoff_id), params={"waitMs": wait_ms})
        if response.status_code != 200:
            raise _status_error(response)
        return response.json()

    def _fingerprints(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        # Any failure is a plain exception (httpx's own): the source check and the commit are
        # idempotent, so Airflow's retries of those tasks ride out an API restart.
        response = self._send(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def committed_fingerprints(self, pipeline_id: str, partition: str) -> dict[str, dict[str, Any]]:
        """``{source: {"kind", "identity", "value", …}}`` last committed for the partition."""
        answer = self._fingerprints("GET", "/v1/fingerprints", params={"pipelineId": pipeline_id, "partition": partition})
        return {item["source"]: item for item in answer["sources"]}

    def check_fingerprints(
        self, pipeline_id: str, partition: str, run_id: str, force: bool, fingerprints: Mapping[str, Mapping[str, Any]]
    ) -> FingerprintCheck:
        """Whether the partition changed; the API records the values as pending for ``run_id``."""
        body = {
            "pipelineId": pipeline_id,
            "partition": partition,
            "runId": run_id,
            "force": force,
            "sources": _fingerprint_sources(fingerprints),
        }
        return self._fingerprints("POST", "/v1/fingerprints/check", json=body)  # type: ignore[return-value]

    def commit_fingerprints(
        self, pipeline_id: str, partition: str, run_id: str, fingerprints: Mapping[str, Mapping[str, Any]] | None
    ) -> dict[str, Any]:
        """Make the checked values the committed ones; without ``fingerprints`` the API uses the pending ones."""
        body: dict[str, Any] = {"pipelineId": pipeline_id, "partition": partition, "runId": run_id}
        if fingerprints is not None:
            body["sources"] = _fingerprint_sources(fingerprints)
        return self._fingerprints("POST", "/v1/fingerprints/commit", json=body)

    # --- async: triggers -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def async_session(self) -> AsyncIterator[AsyncTandemApiSession]:
        """The async calls over the event loop's shared client (``shared_async_client``), with this hook's timeout."""
        settings = await self.aget_conn()
        yield AsyncTandemApiSession(self, shared_async_client(settings), timeout=self.timeout)


class AsyncTandemApiSession:
    """
    The async calls of ``TandemApiHook``, bound to an open client (see ``async_session``); each
    request carries ``timeout``, so one shared client serves callers with different waits.
    """

    def __init__(self, hook: TandemApiHook, client: httpx.AsyncClient, timeout: float | None = None) -> None:
        self.hook = hook
        self.client = client
        self.timeout = hook.timeout if timeout is None else timeout

    async def wait_for_handoff(
        self,
        handoff_id: str,
        *,
        wait_ms: int,
        backoff_base_seconds: float,
        backoff_max_seconds: float,
        log: Any = None,
    ) -> HandoffState:
        """
        One long poll, ``GET /v1/handoffs/{id}?waitMs=``: the state when the workflow ended or
        ``wait_ms`` passed (then still ``pending``). While the API is unreachable — refused or
        reset connections, timeouts, 5xx, 429, a 200 that is not JSON (a proxy's page while the
        API restarts) — it retries after ``backoff_base_seconds``, doubling up to
        ``backoff_max_seconds``, without limit: the workflow keeps running in Temporal, and the
        first poll that gets through reports its outcome.

        :param log: where the retries are logged (the trigger's log, so they show as its lines).
        :raises TandemApiStatusError: any other answer (404, 401/403, other 4xx).
        """
        log = log or self.hook.log
        path = handoff_path(handoff_id)
        failures = 0
        while True:
            problem, state = await self._poll_once(path, wait_ms)
            if problem is None:
                if failures:
                    log.info("hand-off %s: control API reachable again after %d failed poll(s)", handoff_id, failures)
                assert state is not None
                return state
            failures += 1
            delay = backoff_delay(failures, backoff_base_seconds, backoff_max_seconds)
            log.warning("hand-off %s: control API unreachable (%s), retrying in %gs", handoff_id, problem, delay)
            await asyncio.sleep(delay)

    async def _poll_once(self, path: str, wait_ms: int) -> tuple[str | None, HandoffState | None]:
        """``(problem, None)`` when the poll should be retried later, else ``(None, state)``."""
        try:
            response = await self.client.get(path, params={"waitMs": wait_ms}, timeout=self.timeout)
        except httpx.TransportError as err:  # refused, reset, DNS, timeout
            return _transport_problem(err), None
        status = response.status_code
        if status >= 500 or status == 429:
            return f"HTTP {status}", None
        if status != 200:
            raise _status_error(response)
        try:
            return None, response.json()
        except ValueError:
            return f"HTTP 200 without JSON: {response.text[:100]!r}", None

    async def start_handoff(self, body: Mapping[str, Any]) -> HandoffState:
        """
        ``POST /v1/handoffs`` (start or attach), one attempt: the trigger that starts a task from
        the triggerer hands every failure to a worker, whose ``execute`` retries and sorts them.

        :raises TandemApiUnreachable: no answer.
        :raises TandemApiStatusError: any answer but 200/201.
        """
        try:
            response = await self.client.post("/v1/handoffs", json=dict(body), timeout=self.timeout)
        except httpx.TransportError as err:
            raise TandemApiUnreachable(str(self.client.base_url).rstrip("/"), err) from err
        if response.status_code not in (200, 201):
            raise _status_error(response)
        return response.json()

    async def publish_handoff_result(self, handoff_id: str) -> None:
        """
        ``POST /v1/handoffs/{id}/xcom``: the control API writes a succeeded hand-off's result as its
        task's ``return_value`` XCom through Airflow's REST API. Not retried: the caller has a
        fallback (resuming the task on a worker).

        :raises TandemApiUnreachable: no answer.
        :raises TandemApiStatusError: any answer but 200.
        """
        await self._handoff_action(handoff_id, "xcom")

    async def complete_handoff_task(self, handoff_id: str) -> None:
        """
        ``POST /v1/handoffs/{id}/complete-task``: the control API writes a succeeded hand-off's
        result as its task's ``return_value`` XCom and marks the deferred task ``success`` through
        Airflow's REST API, at once. Not retried: the caller ends the task with its event instead.

        :raises TandemApiUnreachable: no answer.
        :raises TandemApiStatusError: any answer but 200 (409: the task is not deferred in the
            try the hand-off serves; 404 from a control API older than the route).
        """
        await self._handoff_action(handoff_id, "complete-task")

    async def _handoff_action(self, handoff_id: str, action: str) -> None:
        """One ``POST /v1/handoffs/{id}/<action>`` without a body, once; 200 or an error."""
        try:
            response = await self.client.post(f"{handoff_path(handoff_id)}/{action}", timeout=self.timeout)
        except httpx.TransportError as err:
            raise TandemApiUnreachable(str(self.client.base_url).rstrip("/"), err) from err
        if response.status_code != 200:
            raise _status_error(response)
