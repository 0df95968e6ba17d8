"""
A pipeline's sources, as the generated DAG lists them (``SOURCES``), and their fingerprints.

A source definition has exactly the keys the generator emits (services/pipelines/
dag-generator.ts writes the spec's source objects, shared/contracts/pipeline-spec.ts):

- ``{"id": str, "kind": "file", "path": str}`` (a path with ``*``, ``?`` or ``[`` is a glob, as
  the spec's ``file`` kind says)
- ``{"id": str, "kind": "http", "url": str, "headers"?: {str: str}}``
- ``{"id": str, "kind": "sql", "connection": str, "query": str}``
- ``{"id": str, "kind": "command", "command": str | [str, ...]}``

Any other key, a missing one or another kind is an ``InvalidSourceError`` naming it: a misspelt
key must not silently fingerprint something else (or nothing).

``{partition}`` and ``{ds}`` in paths, URLs and commands are replaced as plain text
(``fill_placeholders``) — never through Jinja. SQL gets them as bound parameters (``:partition``, ``:ds``).
"""

from __future__ import annotations

import glob as globlib
import hashlib
import os
import sqlite3
import subprocess
from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from tandem_airflow.hooks.http_source import http_fingerprint
from tandem_airflow.utils.placeholders import fill_placeholders

COMMAND_TIMEOUT_SECONDS = 300

#: Per kind, the keys besides ``id`` and ``kind``: (required, optional).
SOURCE_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "file": (frozenset({"path"}), frozenset()),
    "http": (frozenset({"url"}), frozenset({"headers"})),
    "sql": (frozenset({"connection", "query"}), frozenset()),
    "command": (frozenset({"command"}), frozenset()),
}


class SourceUnreadableError(AirflowException):
    """A source of a partition could not be fingerprinted; that partition fails, the others run."""


class InvalidSourceError(AirflowFailException):
    """A source definition the generator would never write; retrying cannot fix it."""


# --- source definitions ------------------------------------------------------------------------


def validate_source(source: Any) -> None:
    """Raises ``InvalidSourceError`` naming the first unknown or missing key (or the kind)."""
    if not isinstance(source, Mapping):
        raise InvalidSourceError(f"source {source!r} is not a mapping")
    name = source.get("id")
    if not isinstance(name, str) or not name:
        raise InvalidSourceError(f"source {dict(source)!r}: missing key 'id'")
    kind = source.get("kind")
    if kind not in SOURCE_KEYS:
        raise InvalidSourceError(f"source {name!r}: unknown kind {kind!r} (one of {', '.join(SOURCE_KEYS)})")
    required, optional = SOURCE_KEYS[kind]
    allowed = {"id", "kind", *required, *optional}
    for key in source:
        if key not in allowed:
            raise InvalidSourceError(
                f"source {name!r} ({kind}): unknown key {key!r}; a {kind} source has the keys {', '.join(sorted(allowed))}"
            )
    for key in sorted(required):
        if source.get(key) in (None, ""):
            raise InvalidSourceError(f"source {name!r} ({kind}): missing key {key!r}")


def validate_sources(sources: Any) -> None:
    """``validate_source`` for each; ids must be unique (they key the fingerprints)."""
    seen: set[str] = set()
    for source in sources:
        validate_source(source)
        if source["id"] in seen:
            raise InvalidSourceError(f"source {source['id']!r} is listed twice")
        seen.add(source["id"])


def source_name(source: Mapping[str, Any]) -> str:
    return str(source["id"])


def source_kind(source: Mapping[str, Any]) -> str:
    return str(source["kind"])


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
    """``{"kind", "identity", "value"}`` of one (valid, see ``validate_source``) source for one partition."""
    kind = source_kind(source)
    fill = lambda text: fill_placeholders(str(text), partition, ds)  # noqa: E731
    if kind == "file" and globlib.has_magic(str(source["path"])):
        # The spec's `file` kind covers globs too: a path with *, ? or [ is a glob.
        value = glob_fingerprint(fill(source["path"]), committed)
        return {"kind": kind, "identity": _identity("glob", value), "value": value}
    if kind == "file":
        value = file_fingerprint(fill(source["path"]), committed)
    elif kind == "http":
        value = http_fingerprint(fill(source["url"]), source.get("headers"))
    elif kind == "sql":
        value = sql_fingerprint(str(source["connection"]), str(source["query"]), {"partition": partition, "ds": ds or ""})
    elif kind == "command":
        raw = source["command"]
        command = [fill(arg) for arg in raw] if isinstance(raw, list) else fill(raw)
        value = command_fingerprint(command, {"TANDEM_PARTITION": partition, "TANDEM_DS": ds or ""})
    else:
        raise InvalidSourceError(f"unknown source kind {kind!r}")
    return {"kind": kind, "identity": _identity(kind, value), "value": value}
