"""The partition source check and fingerprint commit against a fake control API (same rule as the real one: compare identities)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowSkipException

from json_http import JsonHandler, serve
from tandem_airflow.utils import sources as partition_module
from tandem_airflow.utils.fingerprints import check_partition_sources, commit_partition_fingerprints
from tandem_airflow.utils.sources import SourceUnreadableError

SERVICE_KEY = "tdm_svc_test-key-0123456789"


class FakeFingerprintApi(JsonHandler):
    """Committed and pending fingerprints per (pipeline, partition), like /v1/fingerprints."""

    committed: dict[tuple[str, str], dict[str, dict]] = {}
    pending: dict[tuple[str, str, str], dict[str, dict]] = {}
    calls: list[str] = []

    def do_GET(self):  # noqa: N802
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        type(self).calls.append(f"GET {url.path}")
        sources = self.committed.get((query["pipelineId"], query["partition"]), {})
        self._send(200, {"sources": [{"source": k, **v} for k, v in sources.items()]})

    def do_POST(self):  # noqa: N802
        assert self.headers["Authorization"] == f"Bearer {SERVICE_KEY}"
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(f"POST {self.path}")
        key = (body["pipelineId"], body["partition"])
        if self.path == "/v1/fingerprints/check":
            before = self.committed.get(key, {})
            sources = {s["source"]: {k: v for k, v in s.items() if k != "source"} for s in body["sources"]}
            reasons = [
                f"{name}: changed" for name, fp in sources.items() if before.get(name, {}).get("identity") != fp["identity"]
            ]
            if body["force"]:
                reasons.insert(0, "forced")
            self.pending[(*key, body["runId"])] = sources
            self._send(200, {"changed": bool(reasons), "reasons": reasons or ["all sources unchanged"]})
        elif self.path == "/v1/fingerprints/commit":
            sources = self.pending.pop((*key, body["runId"]))
            if "sources" in body:
                sources = {s["source"]: {k: v for k, v in s.items() if k != "source"} for s in body["sources"]}
            self.committed[key] = sources
            self._send(200, {"committed": len(sources)})
        else:
            self._send(404, {})



@pytest.fixture
def api(monkeypatch):
    FakeFingerprintApi.committed, FakeFingerprintApi.pending, FakeFingerprintApi.calls = {}, {}, []
    server, url = serve(FakeFingerprintApi)
    conn = Connection(conn_id="tandem_default", conn_type="http", host=url, password=SERVICE_KEY)
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", conn.as_json())
    yield FakeFingerprintApi
    server.shutdown()
    server.server_close()


def run_partition(sources, partition="cardiology", run_id="run-1", force=False, conf=None):
    """check → (stages) → commit, as the generated DAG does for one partition."""
    context = {"run_id": run_id, "ds": "2026-11-25", "dag_run": SimpleNamespace(run_id=run_id, conf=conf or {})}
    result = check_partition_sources("kb", partition, sources, force, **context)
    commit_partition_fingerprints("kb", partition, **context)
    return result


def spy_hashing(monkeypatch) -> list[str]:
    hashed: list[str] = []
    real = partition_module.sha256_of_file

    def spy(path):
        hashed.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(partition_module, "sha256_of_file", spy)
    return hashed


def test_file_first_run_then_fast_path_then_touched_but_unchanged_still_skips(api, tmp_path, monkeypatch):
    doc = tmp_path / "cardiology.txt"
    doc.write_text("guideline v1")
    sources = [{"id": "docs", "kind": "file", "path": str(tmp_path / "{partition}.txt")}]
    hashed = spy_hashing(monkeypatch)

    first = run_partition(sources, run_id="r1")
    assert first["fingerprints"]["docs"]["value"]["sha256"] == hashlib.sha256(b"guideline v1").hexdigest()
    assert hashed == ["cardiology.txt"]

    # Unchanged size and mtime: skipped without reading the file.
    with pytest.raises(AirflowSkipException, match="all sources unchanged"):
        run_partition(sources, run_id="r2")
    assert hashed == ["cardiology.txt"]

    # Touched (new mtime) but same bytes: hashed again, and still skipped.
    stat = doc.stat()
    os.utime(doc, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    with pytest.raises(AirflowSkipException):
        run_partition(sources, run_id="r3")
    assert hashed == ["cardiology.txt", "cardiology.txt"]

    # Different content: runs.
    doc.write_text("guideline v2")
    changed = run_partition(sources, run_id="r4")
    assert changed["fingerprints"]["docs"]["value"]["sha256"] == hashlib.sha256(b"guideline v2").hexdigest()


def test_force_runs_an_unchanged_partition_from_argument_or_run_conf(api, tmp_path):
    (tmp_path / "a.txt").write_text("x")
    sources = [{"id": "docs", "kind": "file", "path": str(tmp_path / "a.txt")}]
    run_partition(sources, run_id="r1")
    assert run_partition(sources, run_id="r2", force=True)["partition"] == "cardiology"
    assert run_partition(sources, run_id="r3", conf={"force": True})["partition"] == "cardiology"
    with pytest.raises(AirflowSkipException):
        run_partition(sources, run_id="r4")


def test_glob_sees_added_and_changed_files_and_skips_otherwise(api, tmp_path):
    folder = tmp_path / "cardiology"
    folder.mkdir()
    (folder / "a.md").write_text("a")
    (folder / "b.md").write_text("b")
    sources = [{"id": "notes", "kind": "file", "path": str(tmp_path / "{partition}" / "*.md")}]
    first = run_partition(sources, run_id="r1")
    assert sorted(os.path.basename(p) for p in first["fingerprints"]["notes"]["value"]["files"]) == ["a.md", "b.md"]
    with pytest.raises(AirflowSkipException):
        run_partition(sources, run_id="r2")
    (folder / "c.md").write_text("c")
    assert run_partition(sources, run_id="r3")["partition"] == "cardiology"
    with pytest.raises(AirflowSkipException):
        run_partition(sources, run_id="r4")


class ContentServer(BaseHTTPRequestHandler):
    etag: str | None = '"v1"'
    last_modified: str | None = None
    body = b"catalogue"

    def do_GET(self):  # noqa: N802
        if self.path == "/missing":
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        if self.etag:
            self.send_header("ETag", self.etag)
        if self.last_modified:
            self.send_header("Last-Modified", self.last_modified)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def content_server():
    ContentServer.etag, ContentServer.last_modified, ContentServer.body = '"v1"', None, b"catalogue"
    server, url = serve(ContentServer)
    yield url
    server.shutdown()
    server.server_close()


def test_http_uses_etag_then_last_modified_then_body_hash(api, content_server):
    sources = [{"id": "catalogue", "kind": "http", "url": f"{content_server}/{{partition}}.json"}]
    assert run_partition(sources, run_id="r1")["fingerprints"]["catalogue"]["identity"] == 'etag:"v1"'
    with pytest.raises(AirflowSkipException):
        run_partition(sources, run_id="r2")
    ContentServer.etag = '"v2"'
    assert run_partition(sources, run_id="r3")["fingerprints"]["catalogue"]["identity"] == 'etag:"v2"'

    ContentServer.etag, ContentServer.last_modified = None, "Wed, 25 Nov 2026 10:00:00 GMT"
    assert run_partition(sources, run_id="r4")["fingerprints"]["catalogue"]["identity"].startswith("last-modified:")

    ContentServer.last_modified = None
    body_hash = hashlib.sha256(b"catalogue").hexdigest()
    assert run_partition(sources, run_id="r5")["fingerprints"]["catalogue"]["identity"] == f"sha256:{body_hash}"
    with pytest.raises(AirflowSkipException):
        run_partition(sources, run_id="r6")


def test_sql_watermark_over_an_airflow_sqlite_connection(api, tmp_path, monkeypatch):
    database = tmp_path / "source.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE docs (department TEXT, updated_at TEXT)")
        db.execute("INSERT INTO docs VALUES ('cardiology', '2026-11-01'), ('oncology', '2026-11-03')")
    monkeypatch.setenv("AIRFLOW_CONN_SOURCE_DB", Connection(conn_id="source_db", conn_type="sqlite", host=str(database)).as_json())
    sources = [
        {
            "id": "docs_table",
            "kind": "sql",
            "connection": "source_db",
            "query": "SELECT MAX(updated_at) FROM docs WHERE department = :partition",
        }
    ]
    assert run_partition(sources, run_id="r1")["fingerprints"]["docs_table"]["identity"] == "watermark:2026-11-01"
    with pytest.raises(AirflowSkipException):
        run_partition(sources, run_id="r2")
    with sqlite3.connect(database) as db:
        db.execute("INSERT INTO docs VALUES ('oncology', '2026-11-20')")
    with pytest.raises(AirflowSkipException):  # another partition's rows do not wake this one
        run_partition(sources, run_id="r3")
    with sqlite3.connect(database) as db:
        db.execute("INSERT INTO docs VALUES ('cardiology', '2026-11-21')")
    assert run_partition(sources, run_id="r4")["fingerprints"]["docs_table"]["identity"] == "watermark:2026-11-21"


def test_command_stdout_hash(api, tmp_path):
    state = tmp_path / "state"
    state.write_text("1")
    sources = [{"id": "listing", "kind": "command", "command": f"echo {{partition}}; cat {state}"}]
    first = run_partition(sources, run_id="r1")
    assert first["fingerprints"]["listing"]["identity"] == "sha256:" + hashlib.sha256(b"cardiology\n1").hexdigest()
    with pytest.raises(AirflowSkipException):
        run_partition(sources, run_id="r2")
    state.write_text("2")
    assert run_partition(sources, run_id="r3")["partition"] == "cardiology"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"id": "docs", "kind": "file", "path": "/nonexistent/{partition}.txt"}, "source 'docs' \\(file\\) cannot be read: .*No such file"),
        ({"id": "docs", "kind": "file", "path": "/nonexistent/*.md"}, "matched no files"),
        ({"id": "docs", "kind": "command", "command": "echo oops >&2; exit 3"}, "exited with 3: oops"),
        ({"id": "docs", "kind": "sql", "connection": "no_such_conn", "query": "SELECT 1"}, "source 'docs' \\(sql\\) cannot be read"),
    ],
)
def test_unreadable_source_fails_the_partition_with_a_clear_message(api, source, message):
    with pytest.raises(SourceUnreadableError, match=f"partition 'cardiology': .*{message}"):
        run_partition([source])
    # Nothing was checked, so nothing is pending or committed.
    assert api.pending == {} and api.committed == {}


def test_http_error_status_is_unreadable(api, content_server):
    with pytest.raises(SourceUnreadableError, match="answered 404"):
        run_partition([{"id": "c", "kind": "http", "url": f"{content_server}/missing"}])


def test_a_failed_partition_commits_nothing_and_runs_again(api, tmp_path):
    (tmp_path / "a.txt").write_text("x")
    sources = [{"id": "docs", "kind": "file", "path": str(tmp_path / "a.txt")}]
    context = {"run_id": "r1", "ds": "2026-11-25"}
    check_partition_sources("kb", "cardiology", sources, False, **context)
    # The stages failed: commit_partition_fingerprints never ran (trigger rule all_success).
    assert api.committed == {}
    assert run_partition(sources, run_id="r2")["partition"] == "cardiology"


def test_a_file_source_with_a_wildcard_is_a_glob_as_the_spec_says(api, tmp_path):
    (tmp_path / "cardiology").mkdir()
    (tmp_path / "cardiology" / "a.md").write_text("a")
    sources = [{"id": "documents", "kind": "file", "path": str(tmp_path / "{partition}" / "*.md")}]
    first = run_partition(sources, run_id="r1")
    assert first["fingerprints"]["documents"]["kind"] == "file"
    assert list(first["fingerprints"]["documents"]["value"]["files"]) == [str(tmp_path / "cardiology" / "a.md")]
    with pytest.raises(AirflowSkipException):
        run_partition(sources, run_id="r2")


def test_commit_uses_the_check_task_xcom_of_the_same_partition(api, tmp_path):
    (tmp_path / "a.txt").write_text("x")
    sources = [{"id": "docs", "kind": "file", "path": str(tmp_path / "a.txt")}]
    checked = check_partition_sources("kb", "cardiology", sources, False, run_id="r1")
    pulled = []

    class FakeTi:
        map_index = -1

        def xcom_pull(self, task_ids, **kwargs):
            pulled.append(task_ids)
            return checked if task_ids == "cardiology.check_sources" else None

    tasks = {
        "cardiology.commit_fingerprints": SimpleNamespace(upstream_task_ids={"cardiology.evaluate"}),
        "cardiology.evaluate": SimpleNamespace(upstream_task_ids={"cardiology.build_index"}),
        "cardiology.build_index": SimpleNamespace(upstream_task_ids={"cardiology.check_sources"}),
        "cardiology.check_sources": SimpleNamespace(upstream_task_ids=set()),
    }
    dag = SimpleNamespace(get_task=tasks.__getitem__)
    task = SimpleNamespace(dag=dag, upstream_task_ids={"cardiology.evaluate"})
    commit_partition_fingerprints("kb", "cardiology", run_id="r1", ti=FakeTi(), task=task)
    assert pulled == ["cardiology.check_sources"]
    assert api.committed[("kb", "cardiology")]["docs"]["identity"] == checked["fingerprints"]["docs"]["identity"]
