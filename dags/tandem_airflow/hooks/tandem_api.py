"""
Hook for tandem's control API.

The launcher creates the Airflow connection ``tandem_default`` (type ``http``): ``host`` is the
control API's base URL and ``password`` is the service-role API key. DAG code never sees the key;
tasks and triggers get it from the connection at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from airflow.sdk import BaseHook

from tandem_airflow import __version__

if TYPE_CHECKING:
    from airflow.sdk import Connection


class TandemApiConnectionError(ValueError):
    """The ``tandem_default`` connection is missing something the hook needs."""


@dataclass(frozen=True)
class TandemApiSettings:
    """Where the control API is and how to authenticate to it."""

    base_url: str
    service_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.service_key}",
            "Accept": "application/json",
            "User-Agent": f"tandem-airflow/{__version__}",
        }

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def __repr__(self) -> str:  # never print the key
        return f"TandemApiSettings(base_url={self.base_url!r}, service_key='***')"


def settings_from_connection(conn: Connection) -> TandemApiSettings:
    """
    Build the settings from an Airflow connection.

    ``host`` may be a full URL (``http://127.0.0.1:8787``, what the launcher writes) or a bare host
    name, in which case ``schema`` (default ``http``) and ``port`` complete it.
    """
    host = (conn.host or "").strip()
    if not host:
        raise TandemApiConnectionError(
            f"Airflow connection {conn.conn_id!r} has no host; set it to the control API URL, "
            "e.g. http://127.0.0.1:8787 (the tandem launcher does this for tandem_default)"
        )
    if "://" in host:
        base_url = host
    else:
        scheme = (conn.schema or "http").strip() or "http"
        base_url = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    if not conn.password:
        raise TandemApiConnectionError(
            f"Airflow connection {conn.conn_id!r} has no password; it must hold tandem's service API key"
        )
    return TandemApiSettings(base_url=base_url.rstrip("/"), service_key=conn.password)


class TandemApiHook(BaseHook):
    """
    Talks to tandem's control API with the service key from an Airflow connection.

    :param tandem_conn_id: connection holding the API URL (host) and service key (password).
    :param timeout: seconds per HTTP request.
    """

    conn_name_attr = "tandem_conn_id"
    default_conn_name = "tandem_default"
    conn_type = "http"
    hook_name = "tandem control API"

    def __init__(self, tandem_conn_id: str = default_conn_name, timeout: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tandem_conn_id = tandem_conn_id
        self.timeout = timeout
        self._settings: TandemApiSettings | None = None

    def get_conn(self) -> TandemApiSettings:
        """The control API's base URL and service key (the connection is read once per hook)."""
        if self._settings is None:
            self._settings = settings_from_connection(self.get_connection(self.tandem_conn_id))
        return self._settings

    async def aget_conn(self) -> TandemApiSettings:
        """Async variant for triggers, which must not block the triggerer's event loop."""
        if self._settings is None:
            self._settings = settings_from_connection(await self.aget_connection(self.tandem_conn_id))
        return self._settings

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client bound to the control API with the service key; close it (``with``)."""
        settings = self.get_conn()
        return httpx.Client(base_url=settings.base_url, headers=settings.headers, timeout=self.timeout, **kwargs)

    async def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        settings = await self.aget_conn()
        return httpx.AsyncClient(base_url=settings.base_url, headers=settings.headers, timeout=self.timeout, **kwargs)

    def get_version(self) -> dict[str, Any]:
        """``GET /v1/version``: proves the URL and the key work. Raises ``httpx.HTTPStatusError`` on 4xx/5xx."""
        with self.client() as client:
            response = client.get("/v1/version")
            response.raise_for_status()
            return response.json()

    def test_connection(self) -> tuple[bool, str]:
        """Used by Airflow's "Test connection" button when connection testing is enabled."""
        try:
            version = self.get_version()
        except Exception as err:  # report, do not raise: this is a UI check
            return False, str(err)
        return True, f"tandem control API reachable: {version}"
