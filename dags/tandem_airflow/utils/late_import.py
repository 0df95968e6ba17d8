"""
Imports that happen when a task runs, not when its DAG is parsed: a DAG parses even where a later
feature's module is missing, and the task that needs it fails saying what to upgrade.
"""

from __future__ import annotations

import importlib
from typing import Any


def import_late(module: str, name: str, needed_for: str) -> Any:
    """``module.name``, or a RuntimeError naming what ``needed_for`` lacks and the fix."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise RuntimeError(
            f"{needed_for} needs {module}.{name}, which this tandem_airflow does not provide ({err}); "
            "upgrade the tandem_airflow package in the Airflow environment"
        ) from err
