"""tandem's Airflow side: hooks, operators and triggers used by the DAGs tandem generates."""

from __future__ import annotations

__version__ = "0.1.0"
