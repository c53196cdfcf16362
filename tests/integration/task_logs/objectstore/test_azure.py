"""The Azure Blob adapter and AzureBlobRemoteLogIO against a real Blob service (Azurite)."""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs import backends
from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
from airflow_platform_plugins.task_logs.objectstore.azure import (
    AzureBlobRemoteLogIO,
    AzureBlobStore,
    check_container,
    parse_wasb_folder,
)
from airflow_platform_plugins.task_logs.objectstore.azure_auth import build_service_client
from airflow_platform_plugins.task_logs.objectstore.reader import iter_log_text, open_log
from airflow_platform_plugins.task_logs.objectstore.remote_io import StoreHandle
from airflow_platform_plugins.task_logs.objectstore.store import FileRange
from tests.harness.azurite import ACCOUNT, ACCOUNT_KEY, Azurite, connection_string
from tests.harness.config import DictConf
from tests.harness.processes import free_port

REL = "dag_id=d/run_id=r/task_id=t/attempt=1.log"


@pytest.fixture
def container(azurite: Azurite) -> str:
    name = f"c-{uuid.uuid4().hex[:12]}"
    azurite.client().create_container(name)
    return name


def fields_for(endpoint: str, **extra: Any) -> ConnectionFields:
    """A ``wasb`` connection holding a connection string for ``endpoint`` (or other ``extra``)."""
    return ConnectionFields("c", extra=extra or {"connection_string": connection_string(endpoint)})


def store_for(azurite: Azurite, container: str, fields: ConnectionFields | None = None) -> AzureBlobStore:
    fields = fields or fields_for(azurite.url)
    return AzureBlobStore(lambda: build_service_client(fields), container, "logs")


def log_io(azurite: Azurite, container: str, base: Path, **policy: Any) -> AzureBlobRemoteLogIO:
    handle = StoreHandle(lambda _: store_for(azurite, container), conn_id="", prefix="logs")
    settings = {"flush_interval": 0.3, "upload_timeout": 5.0, "retry_max_delay": 0.5, **policy}
    return AzureBlobRemoteLogIO(
        store=handle, base_log_folder=str(base), delete_local_copy=False, policy=ShippingPolicy(**settings)
    )


def test_put_new_keeps_an_existing_blob(azurite: Azurite, container: str, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"first")
    (tmp_path / "b").write_bytes(b"other")
    store = store_for(azurite, container)
    store.put_new("logs/k", FileRange(str(tmp_path / "a"), 0, 5))
    store.put_new("logs/k", FileRange(str(tmp_path / "b"), 0, 5))  # refused by If-None-Match, not an error
    assert store.get("logs/k", 0, 5) == b"first"
    assert b"".join(store.iter_bytes("logs/k", 1, 3)) == b"irs"
    assert [(o.key, o.size) for o in store.list("logs/")] == [("logs/k", 5)]


def test_a_large_chunk_goes_up_in_blocks_under_the_same_condition(
    azurite: Azurite, container: str, tmp_path: Path
) -> None:
    first = bytes(range(256)) * (80 << 10)  # 20 MiB: more than one Put Blob's worth (16 MiB)
    (tmp_path / "a").write_bytes(first)
    (tmp_path / "b").write_bytes(b"z" * len(first))
    store = store_for(azurite, container)
    store.put_new("logs/big", FileRange(str(tmp_path / "a"), 0, len(first)))
    store.put_new("logs/big", FileRange(str(tmp_path / "b"), 0, len(first)))
    blob = azurite.client().get_blob_client(container, "logs/big")
    assert blob.download_blob().readall() == first
    assert blob.get_blob_properties().blob_type == "BlockBlob"


def test_missing_container_names_the_container_setting(azurite: Azurite, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    store = store_for(azurite, "no-such-container")
    for call in (
        lambda: list(store.list("logs/")),
        lambda: store.put_new("logs/k", FileRange(str(tmp_path / "a"), 0, 1)),
    ):
        with pytest.raises(RemoteLogError) as error:
            call()
        assert error.value.permanent
        assert error.value.setting == "[azure_remote_logging] remote_wasb_log_container"


def test_refused_account_key_names_remote_log_conn_id(azurite: Azurite, container: str) -> None:
    wrong_key = ACCOUNT_KEY[:-8] + "AAAAAA=="
    fields = ConnectionFields("c", login=ACCOUNT, password=wrong_key, host=f"{azurite.url}/{ACCOUNT}")
    with pytest.raises(RemoteLogError) as error:
        list(store_for(azurite, container, fields).list("logs/"))
    assert error.value.permanent
    assert "credentials were refused" in str(error.value)
    assert "[logging] remote_log_conn_id" in str(error.value)


def test_unusable_connection_string_names_remote_log_conn_id(azurite: Azurite, container: str) -> None:
    fields = ConnectionFields("c", extra={"connection_string": "not a connection string"})
    with pytest.raises(RemoteLogError, match=r"remote_log_conn_id") as error:
        list(store_for(azurite, container, fields).list("logs/"))
    assert error.value.permanent


def test_unreachable_endpoint_is_transient() -> None:
    store = AzureBlobStore(
        lambda: build_service_client(fields_for(f"http://127.0.0.1:{free_port()}")), "logs", "logs"
    )
    with pytest.raises(RemoteLogError) as error:
        list(store.list("logs/"))
    assert not error.value.permanent


def _sas(container: str) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        ACCOUNT,
        container,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, write=True, create=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )


@pytest.mark.parametrize("form", ["account_key", "password", "shared_access_key", "sas_token", "sas_url"])
def test_each_credential_form_of_the_wasb_connection(
    azurite: Azurite, container: str, tmp_path: Path, form: str
) -> None:
    host = f"{azurite.url}/{ACCOUNT}"
    extra: dict[str, Any] = {
        "account_key": {"extra__wasb__account_key": ACCOUNT_KEY},
        "password": {},
        "shared_access_key": {"shared_access_key": ACCOUNT_KEY},
        "sas_token": {"sas_token": _sas(container)},
        "sas_url": {"sas_token": f"{host}?{_sas(container)}"},
    }[form]
    password = ACCOUNT_KEY if form == "password" else None
    fields = ConnectionFields("c", login=ACCOUNT, password=password, host=host, extra=extra)
    (tmp_path / "a").write_bytes(b"hello")
    store = store_for(azurite, container, fields)
    store.put_new("logs/k", FileRange(str(tmp_path / "a"), 0, 5))
    assert [o.key for o in store.list("logs/")] == ["logs/k"]
    assert store.get("logs/k", 0, 5) == b"hello"


@pytest.mark.parametrize(
    ("folder", "prefix"),
    [
        ("wasb://path/to/logs", "path/to/logs"),
        ("wasbs://path/to/logs/", "path/to/logs"),
        ("wasb-airflow-logs", "wasb-airflow-logs"),
        ("wasb-base/path", "wasb-base/path"),
        ("wasb://", ""),
    ],
)
def test_wasb_folders_keep_the_providers_meaning(folder: str, prefix: str) -> None:
    assert parse_wasb_folder(folder) == prefix


@pytest.mark.parametrize(
    "folder", ["wasb://logs@account.blob.core.windows.net/x", "wasb:/x", "wasbs:x", "wasb://a\\b", "s3://b/x"]
)
def test_malformed_wasb_folders_are_named(folder: str) -> None:
    with pytest.raises(ConfigError, match=r"\[logging\] remote_base_log_folder"):
        parse_wasb_folder(folder)


@pytest.mark.parametrize("name", ["", "ab", "Logs", "a--b", "-ab", "ab-", "a_b", "x" * 64])
def test_bad_container_names_are_named(name: str) -> None:
    with pytest.raises(ConfigError, match=r"\[azure_remote_logging\] remote_wasb_log_container"):
        check_container(name)


def test_upload_then_stream_with_trigger_logs_and_provider_blobs(
    azurite: Azurite, container: str, tmp_path: Path
) -> None:
    base = tmp_path / "logs"
    (base / REL).parent.mkdir(parents=True)
    (base / REL).write_bytes(b'{"event":"worker"}\n')
    (base / f"{REL}.trigger.3.log").write_bytes(b'{"event":"triggerer"}\n')
    io = log_io(azurite, container, base)
    io.upload(REL)
    io.upload(f"{REL}.trigger.3.log")
    # The provider's layout: one block blob at os.path.join(remote_base, relative_path).
    azurite.client().get_blob_client(container, f"logs/{REL}").upload_blob(b'{"event":"provider"}\n')

    sources, streams = io.stream(REL)

    assert sorted(line for stream in streams for line in stream) == [
        '{"event":"provider"}',
        '{"event":"triggerer"}',
        '{"event":"worker"}',
    ]
    assert f"wasb://{container}/logs/{REL}" in sources


def test_large_backlog_is_uploaded_in_big_blobs_and_read_back(
    azurite: Azurite, container: str, tmp_path: Path
) -> None:
    base = tmp_path / "logs"
    (base / REL).parent.mkdir(parents=True)
    data = b"".join(b'{"event":"line %06d %s"}\n' % (i, b"x" * 200) for i in range(100_000))
    (base / REL).write_bytes(data)
    io = log_io(azurite, container, base)
    io.upload(REL)
    sizes = [b.size for b in azurite.client().get_container_client(container).list_blobs(f"logs/{REL}/")]
    assert sum(sizes) == len(data)
    assert max(sizes) > 8 << 20, "a backlog should go up in blobs far larger than one request buffer"
    assert "\n".join(iter_log_text(io.store(), REL)).encode() + b"\n" == data


def test_ranged_reads_stream_exact_bytes(azurite: Azurite, container: str) -> None:
    payload = bytes(range(256)) * (12 << 12)  # 12 MiB
    azurite.client().get_blob_client(container, "logs/blob").upload_blob(payload)
    store = store_for(azurite, container)

    blocks = list(store.iter_bytes("logs/blob", 1000, 5 << 20))

    assert b"".join(blocks) == payload[1000 : 1000 + (5 << 20)]
    assert max(len(b) for b in blocks) <= 1 << 20
    assert store.get("logs/blob", len(payload) - 3, 3) == payload[-3:]
    with pytest.raises(RemoteLogError, match="not found"):
        list(store.iter_bytes("logs/missing", 0, 10))


def test_a_wasb_folder_selects_this_backend_without_the_provider(
    azurite: Azurite, container: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert importlib.util.find_spec("airflow.providers.microsoft") is None
    conn = {"conn_type": "wasb", "extra": {"connection_string": azurite.connection_string()}}
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_LOGS", json.dumps(conn))
    base = tmp_path / "logs"
    conf = DictConf(
        {
            "logging": {
                "remote_logging": "True",
                "remote_base_log_folder": "wasb://team-a/logs",
                "remote_log_conn_id": "azure_logs",
                "base_log_folder": str(base),
            },
            "azure_remote_logging": {"remote_wasb_log_container": container},
        }
    )
    io = backends.build_remote_task_log(conf)
    assert isinstance(io, AzureBlobRemoteLogIO)
    (base / REL).parent.mkdir(parents=True)
    (base / REL).write_bytes(b'{"event":"hello"}\n')
    io.upload(REL)
    listed = [b.name for b in azurite.client().get_container_client(container).list_blobs("team-a/logs/")]
    assert len(listed) == 1
    assert listed[0].startswith(f"team-a/logs/{REL}/")
    assert list(iter_log_text(io.store(), REL)) == ['{"event":"hello"}']


def _write_and_ship(base: str, container: str, url: str, rel: str, lines: int, chunk: int) -> None:
    """One writer process: append lines to its own file, shipping live, then upload."""
    import structlog

    io = _io_in_subprocess(base, container, url, ShippingPolicy(flush_interval=0.2, chunk_max_bytes=chunk))
    path = Path(base) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        logger = structlog.BytesLogger(f)
        (processor,) = io.processors
        for i in range(lines):
            processor(logger, "info", {})
            logger.msg(b'{"event":"%s %05d"}' % (rel.encode(), i))
            time.sleep(0.002)
    io.upload(rel)


def test_worker_and_triggerer_ship_the_same_try_at_the_same_time(
    azurite: Azurite, container: str, tmp_path: Path
) -> None:
    base = str(tmp_path / "logs")
    writers = [
        multiprocessing.get_context("spawn").Process(
            target=_write_and_ship, args=(base, container, azurite.url, rel, 1500, 4096)
        )
        for rel in (REL, f"{REL}.trigger.9.log")
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0

    _, streams = open_log(store_for(azurite, container), REL)
    texts = [list(stream) for stream in streams]
    assert len(texts) == 2
    for rel in (REL, f"{REL}.trigger.9.log"):
        expected = [f'{{"event":"{rel} {i:05d}"}}' for i in range(1500)]
        assert expected in texts


def test_two_processes_shipping_the_same_file_never_clobber(
    azurite: Azurite, container: str, tmp_path: Path
) -> None:
    """A retried upload racing the live shipper: different chunk boundaries, one copy of every line."""
    base = tmp_path / "logs"
    (base / REL).parent.mkdir(parents=True)
    lines = [b'{"event":"shared %05d"}' % i for i in range(3000)]
    (base / REL).write_bytes(b"\n".join(lines) + b"\n")
    ctx = multiprocessing.get_context("spawn")
    racers = [
        ctx.Process(target=_upload_only, args=(str(base), container, azurite.url, size))
        for size in (4096, 7000)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(120)
        assert racer.exitcode == 0

    assert list(iter_log_text(store_for(azurite, container), REL)) == [x.decode() for x in lines]


def _upload_only(base: str, container: str, url: str, chunk: int) -> None:
    _io_in_subprocess(base, container, url, ShippingPolicy(chunk_max_bytes=chunk)).upload(REL)


def _io_in_subprocess(base: str, container: str, url: str, policy: ShippingPolicy) -> AzureBlobRemoteLogIO:
    """An AzureBlobRemoteLogIO for the already running Azurite at ``url`` (in a spawned writer process)."""
    fields = fields_for(url)
    handle = StoreHandle(
        lambda _: AzureBlobStore(lambda: build_service_client(fields), container, "logs"),
        conn_id="",
        prefix="logs",
    )
    return AzureBlobRemoteLogIO(store=handle, base_log_folder=base, delete_local_copy=False, policy=policy)
