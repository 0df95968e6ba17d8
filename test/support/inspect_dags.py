"""
Test helper for services/pipelines/dag-generator.test.ts (and the generated-DAG tests): loads every generated DAG file of a folder
the way Airflow does, and prints one JSON document describing what Airflow actually got, so the
TypeScript test can compare it with the specs.

For each file: whether it parses (``ast``), every string constant in it, and the import errors of
a real ``DagBag``; for each DAG: schedule, tasks with their upstreams, and the values each stage
will run with (read back from the operators, not from the source text).

Usage: .venv/bin/python inspect_dags.py <folder> <output.json>   (Airflow state goes to a temporary home;
the JSON goes to a file because Airflow may log to stdout)
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

folder = Path(sys.argv[1]).resolve()
home = tempfile.mkdtemp(prefix="tandem-inspect-dags-")
for name in list(os.environ):
    if name == "AIRFLOW_HOME" or name.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")):
        del os.environ[name]
os.environ.update(
    {
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
)


def constants(source: str) -> list[str]:
    return sorted({node.value for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Constant) and isinstance(node.value, str)})


def stage_values(task) -> dict:
    """What the stage will run with: the operator's own attributes, as Airflow holds them."""
    if task.task_type == "TemporalHandoffOperator":
        return {"kind": "handoff", "workflow": task.workflow_type, "input": task.workflow_input, "template_fields": list(task.template_fields)}
    if task.task_type == "SourceCheckOperator":
        return {"kind": "check", "sources": task.sources, "partitions": [p.key for p in task.partitions]}
    if task.task_type == "UntemplatedBashOperator":
        return {"kind": "bash", "command": task.bash_command, "env": task.env, "template_fields": list(task.template_fields)}
    callable_ = getattr(task, "python_callable", None)
    if callable_ is None:
        return {"kind": task.task_type}
    name = callable_.func.__name__
    args = callable_.args
    common = {"op_args": list(task.op_args), "op_kwargs": dict(task.op_kwargs)}
    if name == "_fail_unreadable":
        return {"kind": "unreadable", **common}
    if name == "_commit_fingerprints":
        return {"kind": "commit", **common}
    if name == "_run_python":
        return {"kind": "python", "callable": args[1], "kwargs": args[2], **common}
    if name == "_run_k8s_job":
        return {"kind": "k8s_job", "job": args[2], **common}
    if name == "_run_evaluation":
        return {"kind": "evaluation", "suite": args[2], "min_score": args[3], **common}
    return {"kind": name, **common}


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag

    files = {}
    for path in sorted(folder.glob("*.py")):
        source = path.read_text()
        try:
            files[path.name] = {"parses": True, "constants": constants(source)}
        except SyntaxError as err:
            files[path.name] = {"parses": False, "error": str(err), "constants": []}
    bag = DagBag(dag_folder=str(folder), safe_mode=False)
    dags = {}
    for dag_id, dag in sorted(bag.dags.items()):
        partition = None
        tasks = {}
        for task in dag.tasks:
            values = stage_values(task)
            callable_ = getattr(task, "python_callable", None)
            if callable_ is not None and callable_.args and hasattr(callable_.args[0], "by_date"):
                p = callable_.args[0]
                partition = {"pipeline_id": p.pipeline_id, "department": p.department, "by_date": p.by_date}
            tasks[task.task_id] = {
                "upstream": sorted(task.upstream_task_ids),
                "retries": task.retries,
                "trigger_rule": str(task.trigger_rule),
                "values": values,
            }
        dags[dag_id] = {
            "file": Path(dag.fileloc).name,
            "description": dag.description,
            "timetable": type(dag.timetable).__name__,
            "cron": getattr(dag.timetable, "expression", None),
            "timezone": str(getattr(dag.timetable, "timezone", "")) or None,
            "tags": sorted(dag.tags),
            "partition": partition,
            "tasks": tasks,
        }
    errors = {Path(path).name: message for path, message in bag.import_errors.items()}
    # ensure_ascii keeps lone surrogates and every code point exact across the pipe.
    report = {"files": files, "import_errors": errors, "dags": dags}
    Path(sys.argv[2]).write_text(json.dumps(report, ensure_ascii=True))


try:
    main()
finally:
    shutil.rmtree(home, ignore_errors=True)
