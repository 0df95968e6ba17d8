"""
What a generated pipeline DAG tells tandem about its outcomes, as Airflow notifiers (the callbacks
a DAG author would reach for, like a provider's Slack notifier):

- ``PartitionFailureNotifier``, the ``on_failure_callback`` of every task of a partition: the task
  failed for good (retries spent), so the partition failed in this run. Airflow runs it in the
  task's own process right after the failed state is recorded (or in the dag processor, for a task
  that died without running it). It sends the task id, the try and the exception's type and first
  line; tandem records the partition's failure and emits ``partition.failed`` (the message stays in
  tandem's store, never in the event).
- ``PipelineRunFinishedNotifier``, the DAG's ``on_success_callback`` and ``on_failure_callback``
  (the dag processor runs them when the run ends): it names the run only; tandem reads its state
  and partitions from Airflow's REST API and emits ``pipeline.run.finished``.

Both calls are idempotent and ride out a control API restart for about half a minute; a report
that still fails is logged by Airflow and does not change the task's or the run's state — and the
run's end records a failed partition whose own report was lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from tandem_airflow.hooks.tandem_api import TandemApiHook
from tandem_airflow.utils.context import run_id
from tandem_airflow.utils.partition import PipelinePartition

log = logging.getLogger(__name__)

#: The message of a failure is cut to its first line and this many characters.
MAX_MESSAGE = 500


def failure_error(exception: object) -> dict[str, str]:
    """``{type, message}`` of what failed the task: an exception, or the text Airflow gives instead."""
    if isinstance(exception, BaseException):
        kind, text = type(exception).__name__, str(exception)
    elif exception:
        # The dag processor passes a message (e.g. a heartbeat timeout) instead of an exception.
        kind, text = "TaskFailure", str(exception)
    else:
        kind, text = "unknown", ""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return {"type": kind, "message": first[:MAX_MESSAGE]}


def partition_failure_report(partition: PipelinePartition, context: Mapping[str, Any]) -> dict[str, Any]:
    """The ``POST /v1/fingerprints/fail`` body for the failed task instance in ``context``."""
    ti = context.get("ti") or context.get("task_instance")
    task = context.get("task")
    task_id = getattr(ti, "task_id", None) or getattr(task, "task_id", None) or "unknown"
    try_number = getattr(ti, "try_number", None)
    return {
        "pipelineId": partition.pipeline_id,
        "partition": partition.label(context),
        "runId": run_id(context),
        "taskId": task_id,
        "tryNumber": try_number if isinstance(try_number, int) else None,
        "error": failure_error(context.get("exception")),
    }


class _UntemplatedNotifier(BaseNotifier):
    """A notifier with nothing to render: pipeline ids and partition keys reach the API as they are."""

    template_fields = ()

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        # Nothing to render, so no Jinja environment is built either (the DAG in a callback's
        # context may be the scheduler's serialized one, which has none — as in ``dag.test()``).
        return None


class PartitionFailureNotifier(_UntemplatedNotifier):
    """
    ``on_failure_callback`` of a partition's tasks: reports the failure to tandem.

    :param partition: the partition the task belongs to (as the generated DAG binds it).
    :param tandem_conn_id: the connection with the control API's URL and service key.
    """

    def __init__(self, partition: PipelinePartition, tandem_conn_id: str = TandemApiHook.default_conn_name) -> None:
        super().__init__()
        self.partition = partition
        self.tandem_conn_id = tandem_conn_id

    def notify(self, context: Any) -> None:
        report = partition_failure_report(self.partition, context)
        answer = TandemApiHook(self.tandem_conn_id).report_partition_failure(report)
        log.info(
            "partition %r of pipeline %r reported failed in run %s (%s)",
            report["partition"], report["pipelineId"], report["runId"], answer.get("reason", "recorded"),
        )


class PipelineRunFinishedNotifier(_UntemplatedNotifier):
    """
    ``on_success_callback`` and ``on_failure_callback`` of a generated DAG: reports the run's end.

    :param pipeline_id: the tandem pipeline the DAG was generated from.
    :param tandem_conn_id: the connection with the control API's URL and service key.
    """

    def __init__(self, pipeline_id: str, tandem_conn_id: str = TandemApiHook.default_conn_name) -> None:
        super().__init__()
        self.pipeline_id = pipeline_id
        self.tandem_conn_id = tandem_conn_id

    def notify(self, context: Any) -> None:
        answer = TandemApiHook(self.tandem_conn_id).report_run_finished(self.pipeline_id, run_id(context))
        log.info(
            "run %s of pipeline %r reported %s: partitions %s",
            answer.get("runId"), self.pipeline_id, answer.get("state"), answer.get("partitions"),
        )
