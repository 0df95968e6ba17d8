"""
Source definitions: exactly the keys services/pipelines/dag-generator.ts writes (the spec's source
objects, shared/contracts/pipeline-spec.ts); anything else is an error naming the key, at DAG parse
time and again when the source check runs, before anything is read or sent to the control API.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tandem_airflow.operators.pipeline_stages import PipelinePartition, check_sources_task
from tandem_airflow.utils.fingerprints import check_partition_sources
from tandem_airflow.utils.sources import SOURCE_KEYS, InvalidSourceError, validate_source, validate_sources

GOLDEN = Path(__file__).resolve().parents[3] / "services" / "pipelines" / "__golden__"


def golden_sources() -> list[dict]:
    """The SOURCES literal of every golden DAG file, i.e. what the generator really emits."""
    found = []
    for path in sorted(GOLDEN.glob("*.py")):
        namespace: dict = {}
        block = re.search(r"^SOURCES = \[\n.*?^\]\n", path.read_text(), re.S | re.M)
        assert block, path
        exec(block.group(0), namespace)  # a list of literals
        found.extend(namespace["SOURCES"])
    return found


def test_every_source_the_generator_emits_is_accepted():
    sources = golden_sources()
    # The golden files cover every kind, with and without optional keys.
    assert {s["kind"] for s in sources} == set(SOURCE_KEYS)
    assert any("headers" in s for s in sources)
    for source in sources:
        validate_source(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        # Spellings an earlier version took silently: each is now named.
        ({"id": "docs", "kind": "file", "pattern": "/srv/*.md"}, "source 'docs' (file): unknown key 'pattern'; a file source has the keys id, kind, path"),
        ({"name": "docs", "kind": "file", "path": "/srv/a.md"}, "missing key 'id'"),
        ({"id": "docs", "type": "file", "path": "/srv/a.md"}, "source 'docs': unknown kind None"),
        ({"id": "db", "kind": "sql", "conn_id": "warehouse", "query": "SELECT 1"}, "source 'db' (sql): unknown key 'conn_id'"),
        ({"id": "db", "kind": "sql", "connection": "warehouse"}, "source 'db' (sql): missing key 'query'"),
        ({"id": "api", "kind": "http", "url": "https://x.example", "header": {"a": "b"}}, "source 'api' (http): unknown key 'header'"),
        ({"id": "docs", "kind": "glob", "path": "/srv/*.md"}, "source 'docs': unknown kind 'glob' (one of file, http, sql, command)"),
    ],
)
def test_a_key_the_generator_never_emits_is_an_error_naming_it(source, message):
    with pytest.raises(InvalidSourceError, match=re.escape(message)) as raised:
        validate_source(source)
    # Retrying cannot fix a definition: the task fails at once.
    assert isinstance(raised.value, AirflowFailException)


def test_duplicate_ids_are_an_error():
    with pytest.raises(InvalidSourceError, match="source 'a' is listed twice"):
        validate_sources([{"id": "a", "kind": "command", "command": "true"}] * 2)


def test_the_dag_does_not_parse_with_an_unknown_key():
    partition = PipelinePartition("kb", "clinical-ai", "cardiology", False)
    with pytest.raises(InvalidSourceError, match="unknown key 'glob'"):
        check_sources_task(partition, [{"id": "docs", "kind": "file", "path": "/srv/*.md", "glob": "/srv/*.md"}])


def test_the_source_check_rejects_it_before_calling_the_control_api(monkeypatch):
    # No connection is configured: a call to the control API would fail differently.
    monkeypatch.delenv("AIRFLOW_CONN_TANDEM_DEFAULT", raising=False)
    with pytest.raises(InvalidSourceError, match="source 'listing' \\(command\\): unknown key 'cmd'"):
        check_partition_sources("kb", "cardiology", [{"id": "listing", "kind": "command", "cmd": "ls"}], run_id="r1")
