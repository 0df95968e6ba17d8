"""Every DAG file tandem has generated must import cleanly in a real DagBag."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from conftest import GENERATED_DAGS


def load(folder: Path) -> DagBag:
    # Examples stay out: conftest sets [core] load_examples = False (3.3 has no include_examples).
    return DagBag(dag_folder=str(folder), safe_mode=False)


def test_generated_dags_import_without_errors():
    bag = load(GENERATED_DAGS)
    assert bag.import_errors == {}, "\n\n".join(f"{path}:\n{err}" for path, err in bag.import_errors.items())
    for dag_id, dag in bag.dags.items():
        assert dag.task_dict, f"DAG {dag_id} has no tasks"


def test_dagbag_reports_a_broken_file(tmp_path):
    """The check above would catch a bad file: a broken DAG shows up as an import error."""
    (tmp_path / "broken.py").write_text("from airflow.sdk import DAG\nDAG(dag_id='broken', schedule=None\n")
    bag = load(tmp_path)
    assert list(bag.import_errors) == [str(tmp_path / "broken.py")]


def test_dagbag_loads_an_sdk_dag(tmp_path):
    (tmp_path / "tandem_probe.py").write_text(
        "from airflow.providers.standard.operators.bash import BashOperator\n"
        "from airflow.sdk import DAG\n"
        "with DAG(dag_id='tandem_probe', schedule=None):\n"
        "    BashOperator(task_id='echo', bash_command='echo ok')\n"
    )
    bag = load(tmp_path)
    assert bag.import_errors == {}
    assert list(bag.dags["tandem_probe"].task_dict) == ["echo"]


@pytest.mark.parametrize("name", [".gitkeep"])
def test_generated_folder_exists(name):
    assert (GENERATED_DAGS / name).exists()
