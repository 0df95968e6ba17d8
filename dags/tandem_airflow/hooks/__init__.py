"""Hooks: how Airflow code reaches systems outside Airflow (here, tandem's control API)."""
