"""
One run date per run: ``{ds}`` in a source path (the source check) and in a hand-off input (the
hand-off start) both come from ``utils.context.run_date``. Airflow 3 may run a DAG without a
logical date; its task context then has no ``ds`` (nor a data interval), and the date is the run's
``run_after`` for both.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from tandem_airflow.hooks.tandem_api import TandemApiHook
from tandem_airflow.operators.handoff import handoff_start_request
from tandem_airflow.operators.pipeline_stages import PipelinePartition, check_sources_task
from tandem_airflow.utils.context import run_date

RUN_AFTER = datetime(2026, 6, 3, 23, 30, tzinfo=timezone.utc)


def context_of(run_id: str, **fields) -> dict:
    """A task context as Airflow 3's task runner builds it (``ds`` only with a logical date)."""
    ti = SimpleNamespace(dag_id="tandem__notes", run_id=run_id, task_id="ward-a.x", map_index=-1, try_number=1)
    dag_run = SimpleNamespace(run_id=run_id, conf={}, run_after=RUN_AFTER, logical_date=fields.get("logical_date"))
    return {"ti": ti, "run_id": run_id, "dag_run": dag_run, "params": {}, **({"ds": fields["ds"]} if "ds" in fields else {})}


def test_run_date_is_the_logical_date_else_the_run_after_date():
    assert run_date({"ds": "2026-06-02", "dag_run": SimpleNamespace(run_after=RUN_AFTER)}) == "2026-06-02"
    assert run_date({"dag_run": SimpleNamespace(run_after=RUN_AFTER)}) == "2026-06-03"
    assert run_date({"run_id": "r1"}) is None


@pytest.fixture
def checked(monkeypatch) -> list[dict]:
    """The control API's fingerprint check, recording what each source check sent."""
    sent: list[dict] = []
    monkeypatch.setattr(TandemApiHook, "committed_fingerprints", lambda self, pipeline_id, partition: {})

    def check(self, pipeline_id, partition, run_id, force, fingerprints):
        sent.append({"partition": partition, "fingerprints": fingerprints})
        return {"changed": True, "reasons": ["docs: changed"]}

    monkeypatch.setattr(TandemApiHook, "check_fingerprints", check)
    return sent


@pytest.mark.parametrize(
    ("fields", "day"),
    [
        ({"ds": "2026-06-02", "logical_date": datetime(2026, 6, 2, tzinfo=timezone.utc)}, "2026-06-02"),
        # Triggered without a logical date: no `ds` in the context.
        ({}, "2026-06-03"),
    ],
    ids=["logical date", "no logical date"],
)
def test_a_source_path_and_a_handoff_input_see_the_same_date(tmp_path, checked, fields, day):
    (tmp_path / day).mkdir()
    (tmp_path / day / "ward-a.txt").write_text(f"notes of {day}")
    partition = PipelinePartition("notes", "clinical-ai", "ward-a", True)
    sources = [{"id": "docs", "kind": "file", "path": str(tmp_path / "{ds}" / "ward-a.txt")}]
    context = context_of("manual__2026-06-03T23:30:00+00:00", **fields)

    check_sources_task([partition], sources).decide(context)
    body = handoff_start_request(
        context, workflow_type="review.request", workflow_input={"title": "notes of {ds}"}, department="clinical-ai", partition=partition
    )

    # The source check read the file of that date (a literal "{ds}" directory does not exist) …
    (sent,) = checked
    assert sent["fingerprints"]["docs"]["identity"] == "sha256:" + hashlib.sha256(f"notes of {day}".encode()).hexdigest()
    # … and the hand-off got the same date, under the same partition label.
    assert body["input"] == {"title": f"notes of {day}"}
    assert sent["partition"] == body["partition"] == f"ward-a:{day}"
