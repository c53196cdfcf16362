"""The GCS adapter and GCSRemoteLogIO against a real GCS JSON API (fake-gcs-server)."""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
from airflow_platform_plugins.task_logs.objectstore.gcs import (
    GCSRemoteLogIO,
    GCSStore,
    build_client,
    parse_gcs_url,
)
from airflow_platform_plugins.task_logs.objectstore.reader import iter_log_text, open_log
from airflow_platform_plugins.task_logs.objectstore.remote_io import StoreHandle
from airflow_platform_plugins.task_logs.objectstore.store import FileRange
from tests.harness.gcs import FakeGCSServer
from tests.harness.processes import free_port
from tests.harness.stores import service_account_key

REL = "dag_id=d/run_id=r/task_id=t/attempt=1.log"


@pytest.fixture
def bucket(fake_gcs: FakeGCSServer) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    fake_gcs.client().create_bucket(name)
    return name


def log_io(fake_gcs: FakeGCSServer, bucket: str, base: Path, **policy: Any) -> GCSRemoteLogIO:
    handle = StoreHandle(lambda _: GCSStore(fake_gcs.client, bucket, "logs"), conn_id="", prefix="logs")
    settings = {"flush_interval": 0.3, "upload_timeout": 5.0, "retry_max_delay": 0.5, **policy}
    return GCSRemoteLogIO(
        store=handle, base_log_folder=str(base), delete_local_copy=False, policy=ShippingPolicy(**settings)
    )


def test_put_new_keeps_an_existing_object(fake_gcs: FakeGCSServer, bucket: str, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"first")
    (tmp_path / "b").write_bytes(b"other")
    store = GCSStore(fake_gcs.client, bucket, "logs")
    store.put_new("logs/k", FileRange(str(tmp_path / "a"), 0, 5))
    store.put_new("logs/k", FileRange(str(tmp_path / "b"), 0, 5))  # refused by the precondition, not an error
    assert store.get("logs/k", 0, 5) == b"first"
    assert b"".join(store.iter_bytes("logs/k", 1, 3)) == b"irs"
    assert [(o.key, o.size) for o in store.list("logs/")] == [("logs/k", 5)]


def test_missing_bucket_names_remote_base_log_folder(fake_gcs: FakeGCSServer) -> None:
    store = GCSStore(fake_gcs.client, "no-such-bucket", "logs")
    with pytest.raises(RemoteLogError) as error:
        list(store.list("logs/"))
    assert error.value.permanent
    assert error.value.setting == "[logging] remote_base_log_folder"


def test_unusable_key_names_the_credential_settings(
    fake_gcs: FakeGCSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    fields = ConnectionFields("c", extra={"keyfile_dict": json.dumps(service_account_key())})
    store = GCSStore(lambda: build_client(fields), "any", "logs")
    with pytest.raises(RemoteLogError) as error:
        list(store.list("logs/"))
    assert error.value.permanent
    assert "[logging] remote_log_conn_id" in str(error.value)
    assert "[logging] google_key_path" in str(error.value)


def test_key_file_from_google_key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = service_account_key()
    (tmp_path / "key.json").write_text(json.dumps(key))
    client = build_client(None, str(tmp_path / "key.json"))
    assert client._credentials.service_account_email == key["client_email"]
    assert client.project == "test-project"


def test_unreachable_endpoint_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    store = GCSStore(lambda: build_client(None), "b", "logs")
    with pytest.raises(RemoteLogError) as error:
        list(store.list("logs/"))
    assert not error.value.permanent


@pytest.mark.parametrize("url", ["gs:/bucket", "gs://", "s3://bucket/x", "gs://Bad_Bucket/x"])
def test_malformed_gcs_urls_are_named(url: str) -> None:
    with pytest.raises(ConfigError, match=r"\[logging\] remote_base_log_folder"):
        parse_gcs_url(url)


def test_upload_then_stream_with_trigger_logs_and_provider_objects(
    fake_gcs: FakeGCSServer, bucket: str, tmp_path: Path
) -> None:
    base = tmp_path / "logs"
    (base / REL).parent.mkdir(parents=True)
    (base / REL).write_bytes(b'{"event":"worker"}\n')
    (base / f"{REL}.trigger.3.log").write_bytes(b'{"event":"triggerer"}\n')
    io = log_io(fake_gcs, bucket, base)
    io.upload(REL)
    io.upload(f"{REL}.trigger.3.log")
    fake_gcs.client().bucket(bucket).blob(f"logs/{REL}").upload_from_string(b'{"event":"provider"}\n')

    sources, streams = io.stream(REL)

    assert sorted(line for stream in streams for line in stream) == [
        '{"event":"provider"}',
        '{"event":"triggerer"}',
        '{"event":"worker"}',
    ]
    assert f"gs://{bucket}/logs/{REL}" in sources


def test_large_backlog_is_streamed_up_in_big_objects_and_read_back(
    fake_gcs: FakeGCSServer, bucket: str, tmp_path: Path
) -> None:
    base = tmp_path / "logs"
    (base / REL).parent.mkdir(parents=True)
    data = b"".join(b'{"event":"line %06d %s"}\n' % (i, b"x" * 200) for i in range(100_000))
    (base / REL).write_bytes(data)
    io = log_io(fake_gcs, bucket, base)
    io.upload(REL)
    sizes = [blob.size for blob in fake_gcs.client().list_blobs(bucket, prefix=f"logs/{REL}/")]
    assert sum(sizes) == len(data)
    assert max(sizes) > 8 << 20, "a backlog should go up in objects far larger than one request buffer"
    assert "\n".join(iter_log_text(io.store(), REL)).encode() + b"\n" == data


def test_ranged_reads_stream_exact_bytes(fake_gcs: FakeGCSServer, bucket: str) -> None:
    payload = bytes(range(256)) * (12 << 12)  # 12 MiB
    fake_gcs.client().bucket(bucket).blob("logs/blob").upload_from_string(payload)
    store = GCSStore(fake_gcs.client, bucket, "logs")

    blocks = list(store.iter_bytes("logs/blob", 1000, 5 << 20))

    assert b"".join(blocks) == payload[1000 : 1000 + (5 << 20)]
    assert max(len(b) for b in blocks) <= 1 << 20
    assert store.get("logs/blob", len(payload) - 3, 3) == payload[-3:]
    with pytest.raises(RemoteLogError, match="not found"):
        list(store.iter_bytes("logs/missing", 0, 10))


def _write_and_ship(base: str, bucket: str, url: str, rel: str, lines: int, chunk: int) -> None:
    """One writer process: append lines to its own file, shipping live, then upload."""
    import structlog

    io = _io_in_subprocess(base, bucket, url, ShippingPolicy(flush_interval=0.2, chunk_max_bytes=chunk))
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
    fake_gcs: FakeGCSServer, bucket: str, tmp_path: Path
) -> None:
    base = str(tmp_path / "logs")
    writers = [
        multiprocessing.get_context("spawn").Process(
            target=_write_and_ship, args=(base, bucket, fake_gcs.url, rel, 1500, 4096)
        )
        for rel in (REL, f"{REL}.trigger.9.log")
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0

    _, streams = open_log(GCSStore(fake_gcs.client, bucket, "logs"), REL)
    texts = [list(stream) for stream in streams]
    assert len(texts) == 2
    for rel in (REL, f"{REL}.trigger.9.log"):
        expected = [f'{{"event":"{rel} {i:05d}"}}' for i in range(1500)]
        assert expected in texts


def test_two_processes_shipping_the_same_file_never_clobber(
    fake_gcs: FakeGCSServer, bucket: str, tmp_path: Path
) -> None:
    """A retried upload racing the live shipper: different chunk boundaries, one copy of every line."""
    base = tmp_path / "logs"
    (base / REL).parent.mkdir(parents=True)
    lines = [b'{"event":"shared %05d"}' % i for i in range(3000)]
    (base / REL).write_bytes(b"\n".join(lines) + b"\n")
    ctx = multiprocessing.get_context("spawn")
    racers = [
        ctx.Process(target=_upload_only, args=(str(base), bucket, fake_gcs.url, size))
        for size in (4096, 7000)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(120)
        assert racer.exitcode == 0

    assert list(iter_log_text(GCSStore(fake_gcs.client, bucket, "logs"), REL)) == [x.decode() for x in lines]


def _upload_only(base: str, bucket: str, url: str, chunk: int) -> None:
    _io_in_subprocess(base, bucket, url, ShippingPolicy(chunk_max_bytes=chunk)).upload(REL)


def _io_in_subprocess(base: str, bucket: str, url: str, policy: ShippingPolicy) -> GCSRemoteLogIO:
    """A GCSRemoteLogIO for the already running server at ``url`` (in a spawned writer process)."""
    server = FakeGCSServer.__new__(FakeGCSServer)
    server.url = url
    handle = StoreHandle(lambda _: GCSStore(server.client, bucket, "logs"), conn_id="", prefix="logs")
    return GCSRemoteLogIO(store=handle, base_log_folder=base, delete_local_copy=False, policy=policy)
