"""A BashOperator for user commands: nothing of it goes through Jinja (see ``pipeline_stages``)."""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.bash import BashOperator

from tandem_airflow.utils.partition import PipelinePartition


class UntemplatedBashOperator(BashOperator):
    """A BashOperator whose command and env are used exactly as given: nothing is Jinja-rendered."""

    template_fields = ()
    template_ext = ()
    template_fields_renderers: dict[str, str] = {}

    def __init__(self, *, partition: PipelinePartition, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.partition = partition

    def execute(self, context: Any) -> Any:
        self.env = {**(self.env or {}), **self.partition.env(context)}
        return super().execute(context)
