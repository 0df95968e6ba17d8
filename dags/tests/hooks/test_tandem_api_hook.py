from __future__ import annotations

import pytest
from airflow.sdk import Connection

from json_http import JsonHandler, serve
from tandem_airflow.hooks.tandem_api import (
    TandemApiConnectionError,
    TandemApiHook,
    settings_from_connection,
)

SERVICE_KEY = "tdm_svc_test-key-0123456789"


def make_connection(**fields) -> Connection:
    return Connection(conn_id="tandem_default", conn_type="http", **fields)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"host": "http://127.0.0.1:8787"}, "http://127.0.0.1:8787"),
        ({"host": "https://tandem.example.org/"}, "https://tandem.example.org"),
        ({"host": "http://tandem.internal/base/"}, "http://tandem.internal/base"),
        ({"host": "tandem.internal", "port": 8787}, "http://tandem.internal:8787"),
        ({"host": "tandem.internal", "schema": "https"}, "https://tandem.internal"),
    ],
)
def test_base_url_from_connection(fields, expected):
    settings = settings_from_connection(make_connection(password=SERVICE_KEY, **fields))
    assert settings.base_url == expected
    assert settings.url("/v1/version") == f"{expected}/v1/version"


def test_headers_carry_the_service_key_as_bearer():
    settings = settings_from_connection(make_connection(host="http://127.0.0.1:8787", password=SERVICE_KEY))
    assert settings.headers["Authorization"] == f"Bearer {SERVICE_KEY}"
    assert SERVICE_KEY not in repr(settings)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": SERVICE_KEY}, "has no host"),
        ({"host": "http://127.0.0.1:8787"}, "has no password"),
    ],
)
def test_incomplete_connection_is_a_clear_error(fields, message):
    with pytest.raises(TandemApiConnectionError, match=message):
        settings_from_connection(make_connection(**fields))


class _VersionHandler(JsonHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self):  # noqa: N802 (http.server API)
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != f"Bearer {SERVICE_KEY}":
            self._send(401, {"title": "unauthorized"})
        elif self.path == "/v1/version":
            self._send(200, {"version": "0.1.0"})
        else:
            self._send(404, {"title": "not found"})



@pytest.fixture
def control_api():
    _VersionHandler.seen = []
    server, url = serve(_VersionHandler)
    yield url
    server.shutdown()
    server.server_close()


def test_get_version_reads_the_connection_and_calls_v1_version(control_api, monkeypatch):
    # The same way the launcher's connection reaches a task: a connection Airflow resolves by id.
    conn = make_connection(host=control_api, password=SERVICE_KEY)
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", conn.as_json())

    assert TandemApiHook().get_version() == {"version": "0.1.0"}
    assert _VersionHandler.seen == [("/v1/version", f"Bearer {SERVICE_KEY}")]


def test_wrong_key_surfaces_as_http_error(control_api, monkeypatch):
    import httpx

    conn = make_connection(host=control_api, password="tdm_svc_wrong-key-000000")
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", conn.as_json())
    with pytest.raises(httpx.HTTPStatusError, match="401"):
        TandemApiHook().get_version()
    ok, message = TandemApiHook().test_connection()
    assert not ok and "401" in message
