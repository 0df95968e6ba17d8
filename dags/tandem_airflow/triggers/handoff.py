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

from collections.abc import AsyncIterator
from typing import Any, Literal, TypedDict

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

from tandem_airflow.hooks.tandem_api import (
    AsyncTandemApiSession,
    HandoffState,
    TandemApiHook,
    TandemApiStatusError,
    TandemApiUnreachable,
    handoff_path,
)

#: How long one poll waits for an outcome on the API side; below the API's cap (30 s).
DEFAULT_WAIT_MS = 25_000
#: Added to ``waitMs`` for the HTTP timeout: an answer slower than that is a hung connection.
REQUEST_SLACK_SECONDS = 15.0
DEFAULT_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_BACKOFF_MAX_SECONDS = 30.0

#: ``status`` of the events the trigger makes up itself (the API's statuses are the others).
ERROR_STATUS: Literal["error"] = "error"


class HandoffErrorPayload(TypedDict):
    """Payload of the event for an answer that is no hand-off state (unknown hand-off, refused key …)."""

    handoffId: str
    status: Literal["error"]
    reason: str


#: What ``execute_complete`` receives in a ``TriggerEvent``: the hand-off's final state as the API
#: answered it (any status but ``pending``; ``succeeded`` when the XCom write failed or
#: ``end_from_trigger`` is off), or an error the trigger made up.
HandoffEventPayload = HandoffState | HandoffErrorPayload


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

    def hook(self) -> TandemApiHook:
        return TandemApiHook(tandem_conn_id=self.tandem_conn_id, timeout=self.wait_ms / 1000 + REQUEST_SLACK_SECONDS)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        self.log.info("hand-off %s: deferred, waiting for its workflow (long poll GET %s)", self.handoff_id, handoff_path(self.handoff_id))
        async with self.hook().async_session() as api:
            while True:
                try:
                    state = await api.wait_for_handoff(
                        self.handoff_id,
                        wait_ms=self.wait_ms,
                        backoff_base_seconds=self.backoff_base_seconds,
                        backoff_max_seconds=self.backoff_max_seconds,
                        log=self.log,
                    )
                except TandemApiStatusError as err:
                    yield TriggerEvent(self._error(self._reason_for(err)))
                    return
                if state.get("status") == "pending":
                    continue
                yield await self._event(api, state)
                return

    def _reason_for(self, err: TandemApiStatusError) -> str:
        if err.status == 404:
            return f"hand-off {self.handoff_id} is unknown to the control API"
        if err.status in (401, 403):
            return (
                f"the control API refused the service key (HTTP {err.status}) while waiting for hand-off "
                f"{self.handoff_id}; check the key in the Airflow connection {self.tandem_conn_id!r}"
            )
        return f"the control API answered HTTP {err.status} for hand-off {self.handoff_id}: {err.text}"

    def _error(self, reason: str) -> HandoffErrorPayload:
        return {"handoffId": self.handoff_id, "status": ERROR_STATUS, "reason": reason}

    async def _event(self, api: AsyncTandemApiSession, state: HandoffState) -> TriggerEvent:
        status = state.get("status")
        if status == "succeeded" and self.end_from_trigger and await self._publish_result(api):
            self.log.info("hand-off %s: workflow succeeded; ending the task from the triggerer", self.handoff_id)
            # The result is already the task's return_value XCom (written by the control API).
            return TaskSuccessEvent()
        self.log.info("hand-off %s: workflow ended %s; resuming the task", self.handoff_id, status)
        payload: HandoffEventPayload = state
        return TriggerEvent(payload)

    async def _publish_result(self, api: AsyncTandemApiSession) -> bool:
        """
        Has the control API write the result as the task's ``return_value`` XCom through Airflow's
        REST API. Not ``TaskSuccessEvent(xcoms=…)``: Airflow 3.3 stores those JSON-encoded twice,
        so ``xcom_pull`` would hand downstream tasks a string instead of the result. When the write
        fails the task resumes on a worker instead, where ``execute_complete`` returns the result.
        """
        try:
            await api.publish_handoff_result(self.handoff_id)
        except TandemApiUnreachable as err:
            self.log.warning(
                "hand-off %s: could not have the result written as XCom (%s); resuming on a worker", self.handoff_id, err.cause
            )
            return False
        except TandemApiStatusError as err:
            self.log.warning(
                "hand-off %s: writing the result as XCom answered HTTP %s; resuming on a worker", self.handoff_id, err.status
            )
            return False
        return True
