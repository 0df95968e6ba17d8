"""
Reads an ``http`` source of a pipeline (any URL the spec names, not the control API) for its
fingerprint: ETag, else Last-Modified (the body is not downloaded), else the streamed body's sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import httpx

HTTP_TIMEOUT_SECONDS = 60.0


def http_fingerprint(url: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``{"etag"}``, ``{"lastModified"}`` or ``{"sha256"}``; an answer of 400 or more raises ``OSError``."""
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
