"""
The DAG files tandem generates from pipeline specs (services/pipelines/dag-generator.ts), loaded
with a real DagBag: the golden files in services/pipelines/__golden__ are exactly what the generator
writes (the TypeScript golden test keeps them in step), so these tests need no Node.

- every golden file imports with zero errors, with the expected tasks, dependencies, schedule,
  time zone and partition groups;
- one DAG really runs (``dag.test()``, in process) with a stand-in for the fingerprint client:
  the run's one source check skips a partition whose sources did not change with everything
  downstream of it, the others run; a partition whose source cannot be read fails alone;
  ``force`` and ``partitions`` in the run conf work; and bash receives the spec's command and env
  byte for byte — ``{{ ds }}`` and ``{% if %}`` are not rendered.
"""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest

from airflow.dag_processing.dagbag import DagBag

from dag_test_db import serialize_for_dag_test
from fingerprint_stand_in import FingerprintStandIn

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "services" / "pipelines" / "__golden__"


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> DagBag:
    folder = tmp_path_factory.mktemp("generated")
    for path in sorted(GOLDEN.glob("*.py")):
        shutil.copy(path, folder / path.name)
    return DagBag(dag_folder=str(folder), safe_mode=False)


def edges(dag) -> set[tuple[str, str]]:
    return {(task.task_id, down) for task in dag.tasks for down in task.downstream_task_ids}


def test_every_generated_dag_imports(bag):
    assert len(list(GOLDEN.glob("*.py"))) >= 4
    assert bag.import_errors == {}, "\n\n".join(f"{p}:\n{e}" for p, e in bag.import_errors.items())
    assert sorted(bag.dag_ids) == sorted(f"tandem__{p.stem.removeprefix('tandem__')}" for p in GOLDEN.glob("*.py"))


def test_key_partitions_are_one_task_group_each(bag):
    dag = bag.dags["tandem__kb-refresh"]
    assert dag.timetable.expression == "30 1 * * *"
    assert str(dag.timetable.timezone) == "Europe/Berlin"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert sorted(dag.task_group.children) == ["cardiology", "check_sources", "oncology", "radiology"]
    check = dag.get_task("check_sources")
    assert [p.key for p in check.partitions] == ["cardiology", "oncology", "radiology"]
    for key in ("cardiology", "oncology", "radiology"):
        chain = [f"{key}.chunk", f"{key}.embed", f"{key}.golden-queries", f"{key}.commit_fingerprints"]
        assert {(a, b) for a, b in edges(dag) if a.startswith(f"{key}.")} == set(zip(chain, chain[1:]))
    assert check.downstream_task_ids == {f"{k}.{t}" for k in ("cardiology", "oncology", "radiology") for t in ("chunk", "sources_unreadable")}
    # No other edge crosses partitions: one partition's skip or failure cannot reach another.
    assert all(a.split(".")[0] == b.split(".")[0] for a, b in edges(dag) if a != "check_sources")
    assert dag.get_task("cardiology.chunk").retries == 2
    assert dag.get_task("cardiology.embed").retry_delay.total_seconds() == 300


def test_date_partitions_and_a_diamond_of_stages(bag):
    dag = bag.dags["tandem__daily-ingest"]
    assert dag.timetable.expression == "0 6 * * 1-5"
    assert str(dag.timetable.timezone) == "America/New_York"
    # Midnight of the start date in the schedule's zone (Airflow keeps it in UTC).
    assert dag.start_date.isoformat() == "2026-01-01T05:00:00+00:00"
    assert edges(dag) == {
        ("check_sources", "load"),
        ("check_sources", "sources_unreadable"),
        ("load", "reconcile"),
        ("load", "report"),
        ("reconcile", "archive"),
        ("report", "archive"),
        ("archive", "commit_fingerprints"),
    }
    [partition] = dag.get_task("check_sources").partitions
    assert (partition.key, partition.by_date) == (None, True)
    assert set(dag.params.keys()) == {"force", "partitions"}


def test_manual_pipeline_keyed_by_date(bag):
    dag = bag.dags["tandem__discharge-summaries"]
    assert type(dag.timetable).__name__ == "NullTimetable"
    partition = dag.get_task("ward-b.commit_fingerprints").python_callable.args[0]
    assert (partition.key, partition.by_date) == ("ward-b", True)
    assert partition.label({"ds": "2026-06-02"}) == "ward-b:2026-06-02"
    # The handoff stage is the deferrable hand-off operator, bound to its partition.
    review = dag.get_task("ward-b.review")
    assert type(review).__name__ == "TemporalHandoffOperator"
    assert (review.partition, review.workflow_type, review.department) == (partition, "review", "cardiology")
    assert review.workflow_input == {"escalateAfterHours": 24, "reviewers": ["physician"]}


def test_hostile_strings_arrive_verbatim(bag):
    dag = bag.dags["tandem__hostile"]
    assert dag.description == "\"\"\" ''' {{ ds }} {% raw %} \\ \n import os; os.system('x') \u00e9 \U0001f600"
    bash = dag.get_task("class")
    assert bash.template_fields == ()
    assert bash.env == {"HOSTILE": "{% v %} {{ k }}"}
    python = dag.get_task("def")
    assert python.op_kwargs == {} and list(python.op_args) == []
    assert python.python_callable.args[2] == {"'\"": ["\\", "\u2028", None, 1.5, -3], "None": "True"}


# --- a real run ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runnable(bag, tmp_path_factory):
    """The DAGs serialized to the metadata DB, as dag.test() needs them."""
    serialize_for_dag_test(bag)
    return bag


def run(dag, monkeypatch, tmp_path, unchanged: set[str], conf: dict | None = None, unreadable: frozenset[str] = frozenset()):
    stand_in = FingerprintStandIn(unchanged, unreadable)
    monkeypatch.setitem(sys.modules, "tandem_airflow.utils.fingerprints", stand_in.module())
    monkeypatch.setenv("PIPELINE_TEST_OUT", str(tmp_path))
    dag_run = dag.test(run_conf=conf or {})
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    return dag_run, states, stand_in


def test_unchanged_partition_skips_only_itself_and_commands_are_not_templated(runnable, monkeypatch, tmp_path):
    dag = runnable.dags["tandem__skip-per-partition"]
    dag_run, states, stand_in = run(dag, monkeypatch, tmp_path, unchanged={"beta"})
    assert states["check_sources"] == "success"
    for key in ("alpha", "gamma"):
        for task in ("write", "check", "commit_fingerprints"):
            assert states[f"{key}.{task}"] == "success", (key, task, states)
        assert states[f"{key}.sources_unreadable"] == "skipped"
    for task in ("write", "check", "commit_fingerprints", "sources_unreadable"):
        assert states[f"beta.{task}"] == "skipped", (task, states)
    assert sorted(stand_in.committed) == ["alpha", "gamma"]
    assert dag_run.state == "success"
    # One hook (one connection read, one HTTP client) for all three partitions' checks.
    assert len(stand_in.hooks) == 3 and stand_in.hooks[0] is not None and len({id(h) for h in stand_in.hooks}) == 1
    # What bash got is the spec's text: Jinja never saw it.
    assert (tmp_path / "alpha.txt").read_text() == "{{ ds }}|{% if True %}rendered{% endif %}|{{ dag_run.conf }}"
    assert not (tmp_path / "beta.txt").exists()


def test_force_and_chosen_partitions_from_run_conf(runnable, monkeypatch, tmp_path):
    dag = runnable.dags["tandem__skip-per-partition"]
    _, states, stand_in = run(dag, monkeypatch, tmp_path, unchanged={"alpha", "beta", "gamma"}, conf={"force": True, "partitions": ["gamma"]})
    assert states["gamma.commit_fingerprints"] == "success"
    assert states["alpha.write"] == states["beta.write"] == "skipped"
    # Partitions left out are skipped before any source is read; the chosen one is forced.
    assert stand_in.checked == [("gamma", True)]
    assert stand_in.committed == ["gamma"]


def test_a_partition_whose_source_cannot_be_read_fails_alone(runnable, monkeypatch, tmp_path):
    dag = runnable.dags["tandem__skip-per-partition"]
    dag_run, states, stand_in = run(dag, monkeypatch, tmp_path, unchanged=set(), unreadable=frozenset({"beta"}), conf={"force": False, "partitions": None})
    assert states["check_sources"] == "success"
    assert states["beta.sources_unreadable"] == "failed"
    assert states["beta.write"] == states["beta.commit_fingerprints"] == "skipped"
    for key in ("alpha", "gamma"):
        assert states[f"{key}.commit_fingerprints"] == "success"
        assert states[f"{key}.sources_unreadable"] == "skipped"
    assert sorted(stand_in.committed) == ["alpha", "gamma"]
    assert dag_run.state == "failed"
