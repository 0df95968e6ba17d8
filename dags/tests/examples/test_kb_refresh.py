"""The example pipeline's stages and the evaluation gate they end with."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tandem_airflow.examples.kb_refresh import _search, build_index, golden_queries
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


# --- publishing for the kb.refresh workflow's evaluation -------------------------------------

ALIAS = "kb:clinical-ai:tandem__kb-eval"


def in_task(conf):
    """Runs ``build_index`` as inside a task of a DAG run with this conf."""
    from airflow.sdk.execution_time.context import set_current_context

    return set_current_context({"dag_run": SimpleNamespace(conf=conf)})


def test_a_kb_refresh_run_publishes_the_index_under_the_state_dir(data_dir, tmp_path, monkeypatch):
    state_dir = tmp_path / "state"
    monkeypatch.setenv("TANDEM_STATE_DIR", str(state_dir))
    with in_task({"department": "clinical-ai", "alias": ALIAS, "newVersion": "v1 🚀", "partitions": ["cardiology"]}):
        built = build_index("cardiology", str(data_dir))
    # Same segment rule as evaluation.ts: anything outside [A-Za-z0-9._-] becomes one "_" per character.
    published = state_dir / "kb-index" / "kb_clinical-ai_tandem__kb-eval" / "v1__" / "cardiology.json"
    assert built["published"] == str(published)
    assert published.read_text() == Path(built["index"]).read_text()
    assert json.loads(published.read_text())["titles"] == {"af.md": "Atrial fibrillation", "hf.md": "Heart failure guideline"}
    assert [p.name for p in published.parent.iterdir()] == ["cardiology.json"]  # no temp file left behind


def test_without_a_state_dir_or_refresh_conf_nothing_is_published(data_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("TANDEM_STATE_DIR", raising=False)
    with caplog.at_level(logging.INFO, logger="tandem_airflow.examples.kb_refresh"), in_task({"alias": ALIAS, "newVersion": "v1"}):
        built = build_index("cardiology", str(data_dir))
    assert "published" not in built
    assert "TANDEM_STATE_DIR is not set" in caplog.text

    monkeypatch.setenv("TANDEM_STATE_DIR", str(tmp_path / "state"))
    with in_task({"partitions": ["cardiology"]}):  # a pipeline run, not a kb.refresh
        assert "published" not in build_index("cardiology", str(data_dir))
    assert "published" not in build_index("cardiology", str(data_dir))  # outside any task
    assert not (tmp_path / "state").exists()


def test_search_ranks_like_the_worker_evaluation():
    # The same case as "ranks like _search" in services/worker/activities/evaluation.test.ts.
    index = {"heart": ["b.md", "a.md"], "failure": ["b.md", "c.md"], "guideline": ["c.md"]}
    assert _search(index, "Heart FAILURE guideline, heart") == ["b.md", "a.md", "c.md"]
    assert _search(index, "nothing matches") == []
