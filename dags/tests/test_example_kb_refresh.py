"""The example pipeline's stages and the evaluation gate they end with."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tandem_airflow.examples.kb_refresh import build_index, golden_queries
from tandem_airflow.operators.evaluation import run_evaluation


@pytest.fixture
def data_dir(tmp_path):
    (tmp_path / "cardiology").mkdir()
    (tmp_path / "cardiology" / "hf.md").write_text("# Heart failure guideline\nTherapy.\n")
    (tmp_path / "cardiology" / "af.md").write_text("# Atrial fibrillation\nAnticoagulation.\n")
    return tmp_path


def fake_ti(built):
    return SimpleNamespace(task_id="cardiology.evaluate", xcom_pull=lambda task_ids: built if task_ids == "cardiology.build_index" else None)


def test_index_then_golden_queries_find_every_document(data_dir):
    built = build_index("cardiology", str(data_dir))
    assert built["documents"] == 2
    assert golden_queries("cardiology", ti=fake_ti(built)) == {"score": 1.0, "queries": 2, "hits": 2}


def test_failure_marker_fails_build_index(data_dir):
    (data_dir / "_fail").mkdir()
    (data_dir / "_fail" / "cardiology").write_text("")
    with pytest.raises(RuntimeError, match="fails on purpose"):
        build_index("cardiology", str(data_dir))


def test_evaluation_gate_passes_and_blocks(data_dir):
    built = build_index("cardiology", str(data_dir))
    common = {"pipeline_id": "kb-refresh", "department": "clinical-ai", "stage_id": "evaluate", "partition": "cardiology"}
    passed = run_evaluation(**common, suite="tandem_airflow.examples.kb_refresh:golden_queries", min_score=0.8, ti=fake_ti(built))
    assert passed["score"] == 1.0 and passed["minScore"] == 0.8
    with pytest.raises(AirflowFailException, match="scored 0.500 < 0.800"):
        run_evaluation(**common, suite="tests_eval_suites:half", min_score=0.8)
    with pytest.raises(AirflowFailException, match="must name a callable"):
        run_evaluation(**common, suite="golden-v1", min_score=0.8)
