"""
Test isolation: every Airflow setting comes from a fresh temporary AIRFLOW_HOME, so these tests
never read or write a running tandem stack (its DB, its DAGs folder, its connections), whatever
the shell that runs pytest has exported.

This runs before any test module imports Airflow — Airflow reads its configuration on import.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

DAGS_ROOT = Path(__file__).resolve().parent.parent
GENERATED_DAGS = DAGS_ROOT / "generated"

for _name in list(os.environ):
    if _name == "AIRFLOW_HOME" or _name.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")):
        del os.environ[_name]

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="tandem-airflow-tests-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(GENERATED_DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(_AIRFLOW_HOME / "logs"),
    }
)


def pytest_unconfigure(config) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
