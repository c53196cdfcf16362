"""google-cloud-storage: ``Client._http`` is an authorized session; ``Blob._get_download_url`` a media URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import storage

from airflow_platform_plugins.task_logs.objectstore._google import authorized_session, download_url

ENDPOINT = "http://127.0.0.1:4443"


def client() -> storage.Client:
    return storage.Client(
        project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": ENDPOINT}
    )


def test_the_http_session_is_an_authorized_requests_session() -> None:
    session = authorized_session(client())
    assert isinstance(session, AuthorizedSession)
    assert callable(session.get)
    assert callable(session.put)


def test_the_download_url_is_the_media_url_of_the_blob_on_the_clients_endpoint() -> None:
    c = client()
    url = download_url(c.bucket("logs").blob("dag_id=d/attempt=1.log"), c)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == ENDPOINT
    assert parts.path == "/download/storage/v1/b/logs/o/dag_id%3Dd%2Fattempt%3D1.log"
    assert parse_qs(parts.query)["alt"] == ["media"]
