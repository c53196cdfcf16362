"""The private google-cloud-storage API the GCS adapter uses, in one place; tests/contract checks it.

Streaming a ranged download and a resumable upload in one PUT needs the client's authorized HTTP
session (``Client._http``) and a blob's media URL (``Blob._get_download_url``); the public API only
offers whole-object or buffered transfers. A release that moves either fails here with a clear error.
"""

from __future__ import annotations

from typing import Any


class GoogleClientChanged(RuntimeError):
    """The installed google-cloud-storage no longer has what this package relies on."""


def authorized_session(client: Any) -> Any:
    """The client's authorized ``requests`` session (``Client._http``)."""
    session = getattr(client, "_http", None)
    if session is None or not callable(getattr(session, "get", None)):
        raise GoogleClientChanged(
            "google-cloud-storage no longer exposes Client._http; "
            "pin google-cloud-storage to a tested release"
        )
    return session


def download_url(blob: Any, client: Any) -> str:
    """The media download URL of ``blob`` (``Blob._get_download_url``)."""
    method = getattr(blob, "_get_download_url", None)
    if method is None:
        raise GoogleClientChanged(
            "google-cloud-storage no longer has Blob._get_download_url; "
            "pin google-cloud-storage to a tested release"
        )
    return str(method(client))
