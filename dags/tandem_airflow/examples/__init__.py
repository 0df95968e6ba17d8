"""Stage callables of the example pipelines in examples/ (importable by Airflow's task runners)."""
