"""What ``dag.test()`` needs before it can run a DAG parsed in a test: the DAGs in the metadata DB."""

from __future__ import annotations


def serialize_for_dag_test(bag) -> None:
    """Creates the metadata DB if needed and stores ``bag``'s DAGs in it, as the dag processor would."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db
    from airflow.utils.db import initdb

    initdb()
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
