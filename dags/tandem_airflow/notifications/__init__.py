"""Notifiers (Airflow's ``BaseNotifier``) that report a pipeline's outcomes to tandem's control API."""
