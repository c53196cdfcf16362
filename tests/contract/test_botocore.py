"""botocore: setting ``Session._credentials`` is what ``get_credentials()`` and clients then use."""

from __future__ import annotations

import botocore.credentials
import botocore.session

from airflow_platform_plugins.task_logs.objectstore._botocore import set_credentials


def test_the_credentials_set_are_the_ones_the_session_and_its_clients_use() -> None:
    def refresh() -> dict[str, str]:
        return {
            "access_key": "AKIDEXAMPLE",
            "secret_key": "secret",
            "token": "token",
            "expiry_time": "2999-01-01T00:00:00+00:00",
        }

    session = botocore.session.get_session()
    credentials = botocore.credentials.DeferredRefreshableCredentials(
        refresh_using=refresh, method="sts-assume-role"
    )
    set_credentials(session, credentials)
    assert session.get_credentials() is credentials
    client = session.create_client("s3", region_name="us-east-1")
    assert client._request_signer._credentials is credentials
    assert client._request_signer._credentials.get_frozen_credentials().access_key == "AKIDEXAMPLE"
