"""
Skip unchanged sources, per partition: the two callables every generated pipeline DAG runs around
a partition's stages.

``check_partition_sources`` fingerprints each of the partition's sources, asks the control API
whether anything changed since the partition's last *successful* run, and skips the partition
(``AirflowSkipException``, reason in the task log) when nothing did. ``commit_partition_fingerprints``
runs after the partition's stages (trigger rule ``all_success``) and commits what was checked, so a
partition that failed keeps its old fingerprints and runs again next time.

Source dicts (as the pipeline spec declares them; both spellings of a key are accepted so the
generator may pass the spec's objects through unchanged):

- ``{"id"|"name": str, "kind"|"type": "file", "path": str}``
- ``{"id"|"name": str, "kind"|"type": "glob", "pattern"|"path": str}`` (a ``file`` path with ``*``, ``?`` or
  ``[`` is a glob too, as the spec's ``file`` kind says)
- ``{"id"|"name": str, "kind"|"type": "http", "url": str, "headers"?: {str: str}}``
- ``{"id"|"name": str, "kind"|"type": "sql", "connection"|"conn_id"|"connId": str, "query": str}``
- ``{"id"|"name": str, "kind"|"type": "command", "command": str | [str, ...]}``

``{partition}`` and ``{ds}`` in paths, patterns, URLs and commands are replaced as plain text
(``fill_placeholders``) — never through Jinja. SQL gets them as bound parameters (``:partition``, ``:ds``).

Deviation from the written contract, on purpose: besides the check task's XCom, the control API
keeps the checked fingerprints as *pending* for the run, and ``commit_partition_fingerprints``
falls back to those when it cannot find the check task's XCom — so the commit does not depend on
how the generator names the check task.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import logging
import os
import re
import sqlite3
import subprocess
from collections.abc import Mapping
from typing import Any

import httpx
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from tandem_airflow.hooks.fingerprints import TandemFingerprintHook

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_SECONDS = 300
HTTP_TIMEOUT_SECONDS = 60.0


class SourceUnreadableError(AirflowException):
    """A source of a partition could not be fingerprinted; that partition fails, the others run."""


# --- placeholders and source fields ----------------------------------------------------------


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill_placeholders(template: str, partition: str | None, ds: str | None, **more: str | None) -> str:
    """
    ``{partition}`` / ``{ds}`` (and ``{name}`` for each of ``more``) by plain replacement: user text
    is never a template. One pass, so a value that itself contains ``{ds}`` is not replaced again;
    a placeholder without a value (``None``) or that nobody named stays as written.
    """
    values = {"partition": partition, "ds": ds, **more}

    def value_of(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None else value

    return _PLACEHOLDER.sub(value_of, template)


def _field(source: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if source.get(name) not in (None, ""):
            return source[name]
    return None


def source_name(source: Mapping[str, Any]) -> str:
    name = _field(source, "id", "name")
    if not isinstance(name, str):
        raise SourceUnreadableError(f"source {dict(source)!r} has no id")
    return name


def source_kind(source: Mapping[str, Any]) -> str:
    return str(_field(source, "kind", "type") or "")


# --- fingerprints by kind --------------------------------------------------------------------


def sha256_of_file(path: str) -> str:
    """The content's sha256, streamed (constant memory, any size)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def file_fingerprint(path: str, committed: Mapping[str, Any] | None) -> dict[str, Any]:
    """
    Size + mtime as the fast path: when both equal the committed ones, the committed sha256 is
    reused without reading the file. Otherwise the content is hashed, so a file that was touched
    (or rewritten with the same bytes) keeps its identity and still skips.
    """
    stat = os.stat(path)
    if not os.path.isfile(path):
        raise IsADirectoryError(f"{path} is not a regular file")
    size, mtime_ns = stat.st_size, stat.st_mtime_ns
    if committed and committed.get("size") == size and committed.get("mtimeNs") == mtime_ns and committed.get("sha256"):
        return {"size": size, "mtimeNs": mtime_ns, "sha256": committed["sha256"], "hashed": False}
    return {"size": size, "mtimeNs": mtime_ns, "sha256": sha256_of_file(path), "hashed": True}


def _identity(kind: str, value: Mapping[str, Any]) -> str:
    if kind == "file":
        return f"sha256:{value['sha256']}"
    if kind == "glob":
        digest = hashlib.sha256()
        for path, entry in sorted(value["files"].items()):
            digest.update(f"{path}\0{entry['size']}\0{entry['sha256']}\n".encode())
        return f"sha256:{digest.hexdigest()}"
    if kind == "http":
        if value.get("etag"):
            return f"etag:{value['etag']}"
        if value.get("lastModified"):
            return f"last-modified:{value['lastModified']}"
        return f"sha256:{value['sha256']}"
    if kind == "sql":
        return f"watermark:{value['watermark']}"
    if kind == "command":
        return f"sha256:{value['sha256']}"
    raise ValueError(kind)


def glob_fingerprint(pattern: str, committed: Mapping[str, Any] | None) -> dict[str, Any]:
    paths = sorted(p for p in globlib.glob(pattern, recursive=True) if os.path.isfile(p))
    if not paths:
        raise FileNotFoundError(f"glob {pattern!r} matched no files")
    before = (committed or {}).get("files") or {}
    files = {path: file_fingerprint(path, before.get(path)) for path in paths}
    return {"files": files}


def http_fingerprint(url: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """ETag, else Last-Modified (the body is not downloaded), else the streamed body's sha256."""
    with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=True) as client:
        with client.stream("GET", url, headers=dict(headers or {})) as response:
            if response.status_code >= 400:
                raise OSError(f"GET {url} answered {response.status_code}")
            etag = response.headers.get("etag")
            last_modified = response.headers.get("last-modified")
            if etag:
                return {"etag": etag}
            if last_modified:
                return {"lastModified": last_modified}
            digest = hashlib.sha256()
            for chunk in response.iter_bytes():
                digest.update(chunk)
            return {"sha256": digest.hexdigest()}


def _sql_first_value(conn_id: str, query: str, params: dict[str, str]) -> Any:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if conn.conn_type == "sqlite":
        # The standard library is enough for SQLite (and keeps the provider optional).
        database = conn.host or conn.schema
        if not database:
            raise ValueError(f"sqlite connection {conn_id!r} names no database file (host)")
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            row = db.execute(query, params).fetchone()
    else:
        row = conn.get_hook().get_first(query, parameters=params)
    if not row:
        raise ValueError(f"watermark query on {conn_id!r} returned no row")
    return row[0]


def sql_fingerprint(conn_id: str, query: str, params: dict[str, str]) -> dict[str, Any]:
    value = _sql_first_value(conn_id, query, params)
    return {"watermark": value if isinstance(value, (int, float)) else str(value)}


def command_fingerprint(command: str | list[str], env: Mapping[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        command,
        shell=isinstance(command, str),
        capture_output=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        env={**os.environ, **env},
        check=False,
    )
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip()[-2000:]
        raise OSError(f"command exited with {result.returncode}: {stderr}")
    return {"sha256": hashlib.sha256(result.stdout).hexdigest(), "bytes": len(result.stdout)}


def fingerprint_source(
    source: Mapping[str, Any], partition: str, ds: str | None, committed: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``{"kind", "identity", "value"}`` of one source for one partition."""
    kind = source_kind(source)
    fill = lambda text: fill_placeholders(str(text), partition, ds)  # noqa: E731
    path = _field(source, "path", "pattern", "glob")
    if kind in ("file", "glob") and (kind == "glob" or globlib.has_magic(str(path))):
        # The spec's `file` kind covers globs too: a path with *, ? or [ is a glob.
        value = glob_fingerprint(fill(path), committed)
        return {"kind": kind, "identity": _identity("glob", value), "value": value}
    if kind == "file":
        value = file_fingerprint(fill(path), committed)
    elif kind == "http":
        value = http_fingerprint(fill(_field(source, "url")), _field(source, "headers"))
    elif kind == "sql":
        conn_id = _field(source, "connection", "conn_id", "connId", "connectionId")
        value = sql_fingerprint(str(conn_id), str(_field(source, "query")), {"partition": partition, "ds": ds or ""})
    elif kind == "command":
        raw = _field(source, "command")
        command = [fill(arg) for arg in raw] if isinstance(raw, list) else fill(raw)
        value = command_fingerprint(command, {"TANDEM_PARTITION": partition, "TANDEM_DS": ds or ""})
    else:
        raise ValueError(f"unknown source kind {kind!r}")
    return {"kind": kind, "identity": _identity(kind, value), "value": value}


# --- the two task callables ------------------------------------------------------------------


def _run_id(context: Mapping[str, Any]) -> str:
    run_id = context.get("run_id")
    if not run_id and context.get("dag_run") is not None:
        run_id = context["dag_run"].run_id
    return str(run_id or "manual")


def _conf(context: Mapping[str, Any]) -> Mapping[str, Any]:
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) if dag_run is not None else None
    return conf if isinstance(conf, Mapping) else {}


def _committed_value(committed: Mapping[str, Any], name: str, kind: str) -> Mapping[str, Any] | None:
    entry = committed.get(name)
    if not entry or entry.get("kind") != kind:
        return None
    return entry.get("value")


def check_partition_sources(
    pipeline_id: str, partition: str, sources: list[dict], force: bool = False, **context: Any
) -> dict:
    """Fingerprint the partition's sources; skip the partition when none changed (unless forced)."""
    force = bool(force or _conf(context).get("force"))
    ds = context.get("ds")
    run_id = _run_id(context)
    hook = TandemFingerprintHook()
    committed = hook.committed(pipeline_id, partition)

    fingerprints: dict[str, dict[str, Any]] = {}
    for source in sources:
        name = source_name(source)
        kind = source_kind(source)
        try:
            fingerprints[name] = fingerprint_source(source, partition, ds, _committed_value(committed, name, kind))
        except Exception as err:
            raise SourceUnreadableError(
                f"partition {partition!r}: source {name!r} ({kind}) cannot be read: {err}"
            ) from err
        hashed = fingerprints[name]["value"].get("hashed")
        how = " (content hashed)" if hashed else " (size and mtime unchanged)" if hashed is False else ""
        log.info("source %s: %s%s", name, fingerprints[name]["identity"], how)

    answer = hook.check(pipeline_id, partition, run_id, force, fingerprints)
    reasons = "; ".join(answer.get("reasons") or []) or "no reason given"
    if not answer.get("changed"):
        message = f"partition {partition!r} skipped: {reasons}"
        log.info(message)
        raise AirflowSkipException(message)
    log.info("partition %r runs: %s", partition, reasons)
    return {"partition": partition, "fingerprints": fingerprints}


def _check_task_ids(context: Mapping[str, Any]) -> list[str]:
    """Upstream tasks (transitively) that check this partition's sources."""
    task = context.get("task")
    dag = getattr(task, "dag", None) or context.get("dag")
    if task is None or dag is None:
        return []
    found, seen, queue = [], set(), list(task.upstream_task_ids)
    while queue:
        task_id = queue.pop()
        if task_id in seen:
            continue
        seen.add(task_id)
        upstream = dag.get_task(task_id)
        # Generated DAGs name it `check_sources` (inside the partition's task group) and wrap this
        # function; a hand-written DAG may call it directly.
        if task_id.rpartition(".")[2] == "check_sources" or getattr(upstream, "python_callable", None) is check_partition_sources:
            found.append(task_id)
        queue.extend(upstream.upstream_task_ids)
    return found


def _pulled_fingerprints(context: Mapping[str, Any], partition: str) -> dict[str, dict[str, Any]] | None:
    ti = context.get("ti")
    if ti is None:
        return None
    for task_id in _check_task_ids(context):
        kwargs: dict[str, Any] = {"task_ids": task_id}
        if getattr(ti, "map_index", -1) is not None and getattr(ti, "map_index", -1) >= 0:
            kwargs["map_indexes"] = ti.map_index
        pulled = ti.xcom_pull(**kwargs)
        for item in pulled if isinstance(pulled, list) else [pulled]:
            if isinstance(item, Mapping) and item.get("partition") == partition:
                return dict(item["fingerprints"])
    return None


def commit_partition_fingerprints(pipeline_id: str, partition: str, **context: Any) -> None:
    """After the partition's stages succeeded: make the checked fingerprints the committed ones."""
    fingerprints = _pulled_fingerprints(context, partition)
    answer = TandemFingerprintHook().commit(pipeline_id, partition, _run_id(context), fingerprints)
    log.info("partition %r: committed %s source fingerprint(s)", partition, answer.get("committed", "?"))
