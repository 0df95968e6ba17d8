"""
The trigger a deferred ``TemporalHandoffOperator`` waits on: it long-polls the control API
(``GET /v1/handoffs/{id}?waitMs=``) until the hand-off's workflow ends, in the triggerer's event
loop, so the waiting task holds no worker slot.

On success it has the control API write the workflow result as the task's ``return_value`` XCom,
then ends the task straight from the triggerer (a ``TaskSuccessEvent``): resuming a task on a
worker costs a task process start, seconds, while this costs two small writes. Every other outcome is a plain
``TriggerEvent`` whose payload is the hand-off's state, so ``execute_complete`` fails the task
with the workflow's reason through Airflow's normal failure path (retries, callbacks).

While the control API is down (restart, deploy, network) the trigger keeps the task deferred and
retries with exponential backoff, forever: the workflow keeps running in Temporal, and the first
poll that gets through reports its outcome, however long ago it ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

from tandem_airflow.hooks.tandem_api import TandemApiHook

#: How long one poll waits for an outcome on the API side; below the API's cap (30 s).
DEFAULT_WAIT_MS = 25_000
#: Added to ``waitMs`` for the HTTP timeout: an answer slower than that is a hung connection.
REQUEST_SLACK_SECONDS = 15.0
DEFAULT_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_BACKOFF_MAX_SECONDS = 30.0

#: ``status`` of the events the trigger makes up itself (the API's statuses are the others).
ERROR_STATUS = "error"


def handoff_path(handoff_id: str) -> str:
    # Hand-off ids contain ':' and Airflow run ids may contain '+', '/' …: one path segment.
    return f"/v1/handoffs/{quote(handoff_id, safe='')}"


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: base, 2·base, 4·base … capped."""
    return min(cap, base * 2 ** (failures - 1))


class HandoffTrigger(BaseTrigger):
    """
    Waits for a hand-off to end.

    :param handoff_id: the hand-off (and Temporal workflow) id the start answered.
    :param tandem_conn_id: Airflow connection with the control API's URL and service key.
    :param wait_ms: how long each long poll asks the API to wait.
    :param backoff_base_seconds: first retry delay while the API is unreachable (doubles, capped).
    :param backoff_max_seconds: longest retry delay.
    :param end_from_trigger: on success, end the task here with the result as XCom instead of
        resuming it on a worker.
    """

    def __init__(
        self,
        handoff_id: str,
        tandem_conn_id: str = TandemApiHook.default_conn_name,
        wait_ms: int = DEFAULT_WAIT_MS,
        backoff_base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_max_seconds: float = DEFAULT_BACKOFF_MAX_SECONDS,
        end_from_trigger: bool = True,
    ) -> None:
        super().__init__()
        self.handoff_id = handoff_id
        self.tandem_conn_id = tandem_conn_id
        self.wait_ms = wait_ms
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.end_from_trigger = end_from_trigger

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "handoff_id": self.handoff_id,
                "tandem_conn_id": self.tandem_conn_id,
                "wait_ms": self.wait_ms,
                "backoff_base_seconds": self.backoff_base_seconds,
                "backoff_max_seconds": self.backoff_max_seconds,
                "end_from_trigger": self.end_from_trigger,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = TandemApiHook(tandem_conn_id=self.tandem_conn_id, timeout=self.wait_ms / 1000 + REQUEST_SLACK_SECONDS)
        path = handoff_path(self.handoff_id)
        self.log.info("hand-off %s: deferred, waiting for its workflow (long poll GET %s)", self.handoff_id, path)
        failures = 0
        async with await hook.async_client() as client:
            while True:
                problem, state = await self._poll(client, path)
                if problem is not None:
                    failures += 1
                    delay = backoff_delay(failures, self.backoff_base_seconds, self.backoff_max_seconds)
                    self.log.warning(
                        "hand-off %s: control API unreachable (%s), retrying in %gs", self.handoff_id, problem, delay
                    )
                    await asyncio.sleep(delay)
                    continue
                if failures:
                    self.log.info("hand-off %s: control API reachable again after %d failed poll(s)", self.handoff_id, failures)
                    failures = 0
                assert state is not None
                if state.get("status") == "pending":
                    continue
                yield await self._event(client, path, state)
                return

    async def _poll(self, client: httpx.AsyncClient, path: str) -> tuple[str | None, dict[str, Any] | None]:
        """``(problem, None)`` when the poll should be retried later, else ``(None, state)``."""
        try:
            response = await client.get(path, params={"waitMs": self.wait_ms})
        except httpx.TransportError as err:  # refused, reset, DNS, timeout
            detail = str(err)
            return (f"{type(err).__name__}: {detail}" if detail else type(err).__name__), None
        status = response.status_code
        if status >= 500 or status == 429:
            return f"HTTP {status}", None
        if status == 404:
            return None, self._error(f"hand-off {self.handoff_id} is unknown to the control API")
        if status in (401, 403):
            return None, self._error(
                f"the control API refused the service key (HTTP {status}) while waiting for hand-off "
                f"{self.handoff_id}; check the key in the Airflow connection {self.tandem_conn_id!r}"
            )
        if status != 200:
            return None, self._error(f"the control API answered HTTP {status} for hand-off {self.handoff_id}: {response.text[:500]}")
        try:
            state = response.json()
        except ValueError:  # a proxy's error page while the API restarts
            return f"HTTP 200 without JSON: {response.text[:100]!r}", None
        return None, state

    def _error(self, reason: str) -> dict[str, Any]:
        return {"handoffId": self.handoff_id, "status": ERROR_STATUS, "reason": reason}

    async def _event(self, client: httpx.AsyncClient, path: str, state: dict[str, Any]) -> TriggerEvent:
        status = state.get("status")
        if status == "succeeded" and self.end_from_trigger and await self._publish_result(client, path):
            self.log.info("hand-off %s: workflow succeeded; ending the task from the triggerer", self.handoff_id)
            # The result is already the task's return_value XCom (written by the control API).
            return TaskSuccessEvent()
        self.log.info("hand-off %s: workflow ended %s; resuming the task", self.handoff_id, status)
        return TriggerEvent(state)

    async def _publish_result(self, client: httpx.AsyncClient, path: str) -> bool:
        """
        Has the control API write the result as the task's ``return_value`` XCom through Airflow's
        REST API. Not ``TaskSuccessEvent(xcoms=…)``: Airflow 3.3 stores those JSON-encoded twice,
        so ``xcom_pull`` would hand downstream tasks a string instead of the result. When the write
        fails the task resumes on a worker instead, where ``execute_complete`` returns the result.
        """
        try:
            response = await client.post(f"{path}/xcom")
        except httpx.TransportError as err:
            self.log.warning("hand-off %s: could not have the result written as XCom (%s); resuming on a worker", self.handoff_id, err)
            return False
        if response.status_code != 200:
            self.log.warning(
                "hand-off %s: writing the result as XCom answered HTTP %s; resuming on a worker", self.handoff_id, response.status_code
            )
            return False
        return True
