"""
The building blocks of the DAGs that tandem generates from pipeline specs
(services/pipelines/dag-generator.ts): one factory per stage kind, plus the run's source check
(``operators/source_check.py``) before them and each partition's fingerprint commit after them.

Why factories instead of operators spelled out in every generated file: the generated file stays a
short, readable list of literals, and what a stage kind means at run time is written (and tested)
once, here.

No user string is ever a Jinja template. Airflow renders an operator's ``template_fields`` before
``execute``; the factories therefore pass user values only through places that are never rendered:
``functools.partial`` arguments of a ``PythonOperator`` (whose templated ``op_args`` / ``op_kwargs``
stay empty) and a ``BashOperator`` subclass without template fields. A spec command containing
``{{ ds }}`` runs as the literal text ``{{ ds }}``.

Every task of a partition reports its failure to tandem (``on_failure_callback``, a
``PartitionFailureNotifier`` bound to the partition), and the DAG reports each run's end
(``PipelineRunFinishedNotifier``, which generated DAG files pass to ``DAG(...)``), so a failed
partition and a finished run are facts tandem records when they happen — see
``notifications/pipeline_outcomes.py``.

Nothing here talks to the network at import (DAG parse) time; modules of later features (the
fingerprint client, Kubernetes jobs, evaluation) are imported when a task runs, so a DAG parses
even where one of them is not installed yet and fails that task with a clear message instead. The
hand-off stage is a deferrable operator of its own (``operators/handoff.py``), built at parse time;
it talks to the control API only when it runs. A ``k8s_job`` stage is a hand-off to the
``gpu.batch`` flow, which runs the Job on Kubernetes.

This module is the DAG-building layer: it imports the operators and ``utils``, and nothing in the
package imports it back (generated DAG files do). ``PipelinePartition`` lives in
``utils/partition.py`` and is re-exported here because generated DAG files import it from here.
"""

from __future__ import annotations

import copy
import functools
import importlib
import re
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator

from tandem_airflow.notifications.pipeline_outcomes import PartitionFailureNotifier, PipelineRunFinishedNotifier
from tandem_airflow.operators.bash import UntemplatedBashOperator
from tandem_airflow.operators.source_check import CHECK_TASK_ID, UNREADABLE_TASK_ID, UNREADABLE_XCOM_KEY, SourceCheckOperator
from tandem_airflow.utils.late_import import import_late
from tandem_airflow.utils.partition import PipelinePartition
from tandem_airflow.utils.sources import SourceUnreadableError

__all__ = [
    "CHECK_TASK_ID",
    "COMMIT_TASK_ID",
    "CONTROL_API_RETRIES",
    "PipelinePartition",
    "PipelineRunFinishedNotifier",
    "UntemplatedBashOperator",
    "bash_stage",
    "check_sources_task",
    "commit_fingerprints_task",
    "evaluation_stage",
    "handoff_stage",
    "k8s_job_stage",
    "python_stage",
    "source_failure_task",
]

#: The source check and the fingerprint commit are idempotent calls to the control API: a restart
#: of the API (deploy, crash) must not fail a night's partition, so they retry for about a minute.
CONTROL_API_RETRIES: dict[str, Any] = {
    "retries": 4,
    "retry_delay": timedelta(seconds=5),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(seconds=60),
}
COMMIT_TASK_ID = "commit_fingerprints"


def _retry_args(retries: int, retry_delay_seconds: int) -> dict[str, Any]:
    return {"retries": retries, "retry_delay": timedelta(seconds=retry_delay_seconds)}


def _partition_task_args(partition: PipelinePartition) -> dict[str, Any]:
    """What every task of a partition carries: its failure, once retries are spent, is reported."""
    return {"on_failure_callback": PartitionFailureNotifier(partition)}


def _python_task(task_id: str, function: Any, partition: PipelinePartition, *args: Any, **operator_args: Any) -> PythonOperator:
    # The partial's arguments are plain attributes of the callable: never templated.
    return PythonOperator(
        task_id=task_id,
        python_callable=functools.partial(function, partition, *args),
        **_partition_task_args(partition),
        **operator_args,
    )


# --- the source check and the fingerprint commit --------------------------------------------------


def _fail_unreadable(partition: PipelinePartition, **context: Any) -> None:
    label = partition.label(context)
    reasons = context["ti"].xcom_pull(task_ids=CHECK_TASK_ID, key=UNREADABLE_XCOM_KEY) or {}
    raise SourceUnreadableError(reasons.get(label) or f"partition {label!r}: a source could not be read (see the {CHECK_TASK_ID} task's log)")


def _commit_fingerprints(partition: PipelinePartition, **context: Any) -> None:
    commit = import_late("tandem_airflow.utils.fingerprints", "commit_partition_fingerprints", "the fingerprint commit")
    commit(partition.pipeline_id, partition.label(context), **context)


def check_sources_task(partitions: list[PipelinePartition], sources: list[dict[str, Any]]) -> SourceCheckOperator:
    """
    First task of the run (``operators/source_check.py``): checks every partition's sources and
    lets only the changed ones run, unless the run is forced (``force`` param) or leaves a partition
    out (``partitions`` param); a skipped partition's tasks start no process. A source the generator
    would never write fails the DAG's parse here, naming the key, instead of a task at run time.
    """
    return SourceCheckOperator(partitions=partitions, sources=sources, **CONTROL_API_RETRIES)


def source_failure_task(partition: PipelinePartition) -> PythonOperator:
    """
    A partition's task that runs only when the check could not read one of its sources, and fails
    it with the reason: that partition fails, the others run. Skipped in every other run.
    """
    return _python_task(UNREADABLE_TASK_ID, _fail_unreadable, partition)


def commit_fingerprints_task(partition: PipelinePartition) -> PythonOperator:
    """Last task of a partition: runs only when all its stages succeeded (all_success)."""
    return _python_task(COMMIT_TASK_ID, _commit_fingerprints, partition, **CONTROL_API_RETRIES)


# --- stage kinds --------------------------------------------------------------------------------


def _run_python(partition: PipelinePartition, target: str, kwargs: dict[str, Any], **context: Any) -> Any:
    module_name, _, attribute = target.partition(":")
    function = getattr(importlib.import_module(module_name), attribute)
    return function(partition=partition.label(context), **copy.deepcopy(kwargs))


def python_stage(
    task_id: str,
    partition: PipelinePartition,
    *,
    callable: str,  # noqa: A002 - the spec's field name
    kwargs: dict[str, Any],
    retries: int,
    retry_delay_seconds: int,
) -> PythonOperator:
    """Calls ``package.module:function`` with ``partition=<label>`` and the spec's kwargs."""
    return _python_task(task_id, _run_python, partition, callable, kwargs, **_retry_args(retries, retry_delay_seconds))


def bash_stage(
    task_id: str,
    partition: PipelinePartition,
    *,
    command: str,
    env: dict[str, str],
    retries: int,
    retry_delay_seconds: int,
) -> UntemplatedBashOperator:
    """Runs the command with bash; ``TANDEM_PARTITION`` (and friends) tell it which partition."""
    return UntemplatedBashOperator(
        task_id=task_id,
        partition=partition,
        bash_command=command,
        env=dict(env),
        append_env=True,
        **_partition_task_args(partition),
        **_retry_args(retries, retry_delay_seconds),
    )


#: gpu.batch names its Job ``<name>-<7-character suffix>``: the name is a DNS label of at most 40.
_JOB_NAME_MAX = 40


def job_name(stage_id: str) -> str:
    """The stage id as a Kubernetes name: lower case, ``-`` for anything else, at most 40 long."""
    name = re.sub(r"[^a-z0-9-]+", "-", stage_id.lower()).strip("-")[:_JOB_NAME_MAX].rstrip("-")
    return name or "job"


def _job_resources(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Kubernetes-shaped requests/limits as gpu.batch takes them: quantities as strings, whole GPUs."""

    def side(values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key == "nvidia.com/gpu":
                if int(value) > 0:
                    out[key] = int(value)
            else:
                out[key] = str(value)
        return out

    return {"requests": side(resources.get("requests", {})), "limits": side(resources.get("limits", {}))}


def k8s_job_stage(
    task_id: str,
    partition: PipelinePartition,
    *,
    image: str,
    command: list[str],
    env: dict[str, str],
    resources: dict[str, dict[str, Any]],
    spot: bool,
    fault_tolerant: bool,
    retries: int,
    retry_delay_seconds: int,
    tandem_conn_id: str = "tandem_default",
) -> Any:
    """
    A Kubernetes Job as a hand-off: the ``gpu.batch`` durable flow runs it in the department's
    namespace (requests = limits, spot only when fault-tolerant, resumed from its checkpoint after
    a preemption) while this task waits deferred, holding no worker slot, for minutes or days.
    ``resources`` is Kubernetes-shaped; the flow's result (job id, checkpoint, preemptions) is
    the task's ``return_value`` XCom.
    """
    workflow_input = {
        "name": job_name(task_id),
        "image": image,
        "command": list(command),
        "env": dict(env),
        "resources": _job_resources(resources),
        "spot": spot,
        "faultTolerant": fault_tolerant,
    }
    return handoff_stage(
        task_id,
        partition,
        workflow="gpu.batch",
        input=workflow_input,
        retries=retries,
        retry_delay_seconds=retry_delay_seconds,
        tandem_conn_id=tandem_conn_id,
    )


def _run_evaluation(partition: PipelinePartition, stage_id: str, suite: str, min_score: float, **context: Any) -> Any:
    run_evaluation = import_late("tandem_airflow.operators.evaluation", "run_evaluation", "an evaluation stage")
    return run_evaluation(
        pipeline_id=partition.pipeline_id,
        department=partition.department,
        stage_id=stage_id,
        partition=partition.label(context),
        suite=suite,
        min_score=min_score,
        **context,
    )


def evaluation_stage(
    task_id: str,
    partition: PipelinePartition,
    *,
    suite: str,
    min_score: float,
    retries: int,
    retry_delay_seconds: int,
) -> PythonOperator:
    """The golden-query gate: fails (and so blocks the fingerprint commit) below ``min_score``."""
    return _python_task(
        task_id, _run_evaluation, partition, task_id, suite, min_score, **_retry_args(retries, retry_delay_seconds)
    )


def handoff_stage(
    task_id: str,
    partition: PipelinePartition,
    *,
    workflow: str,
    input: dict[str, Any],  # noqa: A002 - the spec's field name
    retries: int,
    retry_delay_seconds: int,
    wait: str = "triggerer",
    tandem_conn_id: str = "tandem_default",
) -> Any:
    """
    A durable Temporal workflow (review, LLM, promotion) started through the control API by the
    TemporalHandoffOperator, which waits without holding a worker slot — deferred to the triggerer
    (``wait="triggerer"``) or parked in ``awaiting_input`` until tandem resumes it
    (``wait="parked"``); the workflow's result is the task's ``return_value`` XCom. ``{partition}``
    (and ``{ds}``, ``{run_id}``…) in the input's strings are replaced when the task runs.
    """
    # Imported only by pipelines that have a hand-off stage, and not for an import cycle (the
    # operator never imports this module): it brings the trigger machinery along
    # (airflow.triggers.base), which measured 20-30 ms more per parse of every generated DAG.
    from tandem_airflow.operators.handoff import TemporalHandoffOperator

    return TemporalHandoffOperator(
        task_id=task_id,
        pipeline_id=partition.pipeline_id,
        department=partition.department,
        partition=partition,
        workflow_type=workflow,
        workflow_input=copy.deepcopy(input),
        tandem_conn_id=tandem_conn_id,
        wait=wait,
        **_partition_task_args(partition),
        **_retry_args(retries, retry_delay_seconds),
    )
