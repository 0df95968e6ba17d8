"""
The run's source check: one task, first in every generated pipeline DAG, that checks the sources
of every partition and lets only the changed ones run.

Why one task for the run rather than one per partition: each task Airflow runs is a process start
and a worker slot (about a second on a small machine). A nightly run where 1 of 100 partitions
changed used to start 100 check tasks to skip 99 partitions; now it starts one. An unchanged
partition's first tasks are skipped by this branch directly, the rest of its chain by the
scheduler (the default ``all_success`` trigger rule), and neither starts a process.

What each partition gets, decided in ``execute``:
- changed (or the run is forced): its stages run; the checked fingerprints are this task's
  ``return_value`` XCom, a list of ``{partition, fingerprints}``, which the partition's commit reads;
- unchanged, or left out by the run's ``partitions`` param: skipped, the reason in this task's log;
- a source that cannot be read: the partition's ``sources_unreadable`` task runs and fails with the
  reason, so that partition fails alone and the others go on, as before;
- the control API unreachable after this task's retries: the task fails, and with it every
  partition of the run (each reported through its ``PartitionFailureNotifier``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow.providers.standard.operators.branch import BaseBranchOperator
from airflow.sdk.exceptions import AirflowSkipException

from tandem_airflow.hooks.tandem_api import TandemApiHook
from tandem_airflow.notifications.pipeline_outcomes import PartitionFailureNotifier
from tandem_airflow.utils.late_import import import_late
from tandem_airflow.utils.partition import PipelinePartition
from tandem_airflow.utils.sources import SourceUnreadableError, validate_sources

CHECK_TASK_ID = "check_sources"
#: A partition's task that fails it when one of its sources could not be read.
UNREADABLE_TASK_ID = "sources_unreadable"
#: XCom key of the check: ``{partition label: why its sources could not be read}``.
UNREADABLE_XCOM_KEY = "unreadable"
#: Partitions checked at once (threads of the one check task; Airflow's comms to its supervisor
#: take a lock, so connection lookups from several threads are safe).
CHECK_CONCURRENCY = 8


def _task_id(partition: PipelinePartition, task: str) -> str:
    """A partition task's id: generated DAGs put a keyed partition's tasks in a group of its key."""
    return f"{partition.key}.{task}" if partition.key is not None else task


class SourceCheckOperator(BaseBranchOperator):
    """
    Checks the sources of ``partitions`` and branches to the partitions that changed.

    :param partitions: the run's partitions, each with its tasks in a task group of its key (or at
        the DAG's top level when the pipeline is not keyed: then there is one partition).
    :param sources: the pipeline's sources (``utils/sources.py``), checked for each partition.
    """

    # Nothing is rendered: partition keys and source commands reach the check as they are.
    template_fields: Sequence[str] = ()
    ui_color = "#e8f0fe"

    def __init__(self, *, partitions: Sequence[PipelinePartition], sources: list[dict[str, Any]], **kwargs: Any) -> None:
        validate_sources(sources)
        if len({p.key for p in partitions}) != len(partitions):
            raise ValueError("each partition of a source check needs its own key")
        # Failing for good (retries spent) fails every partition of the run: each is reported.
        kwargs.setdefault("on_failure_callback", [PartitionFailureNotifier(p) for p in partitions])
        super().__init__(task_id=CHECK_TASK_ID, **kwargs)
        self.partitions = list(partitions)
        self.sources = copy.deepcopy(sources)

    def _first_tasks(self, partition: PipelinePartition) -> list[str]:
        """The partition's tasks right after the check, but for its ``sources_unreadable``."""
        unreadable = _task_id(partition, UNREADABLE_TASK_ID)
        prefix = f"{partition.key}." if partition.key is not None else ""
        return sorted(t for t in self.downstream_task_ids if t.startswith(prefix) and t != unreadable)

    def decide(self, context: Any) -> tuple[list[str], list[dict[str, Any]], dict[str, str]]:
        """The tasks to follow, the changed partitions' fingerprints and the unreadable ones' reasons."""
        check = import_late("tandem_airflow.utils.fingerprints", "check_partition_sources", "the source check")
        params = context.get("params") or {}
        chosen = params.get("partitions")
        force = bool(params.get("force"))
        included = []
        for partition in self.partitions:
            label = partition.label(context)
            if chosen and label not in chosen and partition.key not in chosen:
                self.log.info("partition %r skipped: this run covers only partitions %s", label, list(chosen))
            else:
                included.append((partition, label))

        hook = TandemApiHook()  # one connection read and one HTTP client for every partition

        def outcome(item: tuple[PipelinePartition, str]) -> tuple[str, Any]:
            partition, label = item
            try:
                return "changed", check(partition.pipeline_id, label, copy.deepcopy(self.sources), force, hook=hook, **context)
            except AirflowSkipException:
                return "unchanged", None  # check_partition_sources logged why
            except SourceUnreadableError as err:
                return "unreadable", str(err)

        # Each check is a few calls to the control API and reads of its sources, mostly waiting:
        # checked side by side, 100 partitions take about a second instead of eight. (An error other
        # than the two above, e.g. the API unreachable, fails the task, which retries as a whole.)
        with ThreadPoolExecutor(max_workers=max(1, min(CHECK_CONCURRENCY, len(included)))) as pool:
            outcomes = list(pool.map(outcome, included))
        checked: list[dict[str, Any]] = []
        unreadable: dict[str, str] = {}
        follow: list[str] = []
        for (partition, label), (kind, value) in zip(included, outcomes):
            if kind == "changed":
                checked.append(value)
                follow.extend(self._first_tasks(partition))
            elif kind == "unreadable":
                self.log.error("partition %r fails: %s", label, value)
                unreadable[label] = value
                follow.append(_task_id(partition, UNREADABLE_TASK_ID))
        return follow, checked, unreadable

    def execute(self, context: Any) -> list[dict[str, Any]]:
        follow, checked, unreadable = self.decide(context)
        ti = context["ti"]
        # Pushed before branching: a branch that skips anything ends execute() by raising.
        ti.xcom_push(key="return_value", value=checked)
        ti.xcom_push(key=UNREADABLE_XCOM_KEY, value=unreadable)
        self.log.info("%d of %d partition(s) run, %d fail on a source", len(checked), len(self.partitions), len(unreadable))
        self.do_branch(context, follow)
        return checked  # reached only when nothing was skipped: the value pushed above
