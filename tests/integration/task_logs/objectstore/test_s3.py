"""The S3 adapter and S3RemoteLogIO against a real S3 endpoint (moto server)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
from airflow_platform_plugins.task_logs.objectstore import keys
from airflow_platform_plugins.task_logs.objectstore.reader import iter_log_text
from airflow_platform_plugins.task_logs.objectstore.remote_io import StoreHandle
from airflow_platform_plugins.task_logs.objectstore.s3 import (
    S3RemoteLogIO,
    S3Store,
    build_client,
    parse_s3_url,
    server_side_encryption_args,
)
from airflow_platform_plugins.task_logs.objectstore.store import FileRange
from tests.harness.faultproxy import FaultProxy
from tests.harness.moto import MotoServer
from tests.harness.processes import free_port


class Conf:
    """Just enough of Airflow's ``conf`` for from_config tests."""

    def __init__(self, values: dict[tuple[str, str], str]) -> None:
        self.values = values

    def get(self, section: str, key: str, fallback: Any = None) -> Any:
        return self.values.get((section, key), fallback)


def fields(server: MotoServer, **extra: Any) -> ConnectionFields:
    conn = server.connection(**extra)
    return ConnectionFields("c", login=conn["login"], password=conn["password"], extra=conn["extra"])


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    moto.client().create_bucket(Bucket=name)
    moto.client().put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def log_io(moto: MotoServer, bucket: str, base: Path, **kwargs: Any) -> S3RemoteLogIO:
    handle = StoreHandle(
        lambda _: S3Store(build_client(fields(moto)), bucket, "logs"), conn_id="", prefix="logs"
    )
    policy = ShippingPolicy(flush_interval=60, upload_timeout=3, retry_max_delay=0.5)
    return S3RemoteLogIO(
        store=handle, base_log_folder=str(base), delete_local_copy=False, policy=policy, **kwargs
    )


def test_put_new_never_writes_a_chunk_twice(moto: MotoServer, bucket: str, tmp_path: Path) -> None:
    data = tmp_path / "f"
    data.write_bytes(b"0123456789")
    store = S3Store(build_client(fields(moto)), bucket, "logs")
    store.put_new("logs/k/h-1/0000000000000000-0000000000000010", FileRange(str(data), 0, 10))
    store.put_new("logs/k/h-1/0000000000000000-0000000000000010", FileRange(str(data), 0, 10))
    versions = moto.client().list_object_versions(Bucket=bucket)["Versions"]
    assert len(versions) == 1
    assert store.get("logs/k/h-1/0000000000000000-0000000000000010", 2, 3) == b"234"


def test_missing_bucket_names_remote_base_log_folder(moto: MotoServer) -> None:
    store = S3Store(build_client(fields(moto)), "no-such-bucket", "logs")
    with pytest.raises(RemoteLogError) as error:
        list(store.list("logs/"))
    assert error.value.permanent
    assert error.value.setting == "[logging] remote_base_log_folder"


def test_refused_credentials_name_remote_log_conn_id(strict_moto: MotoServer) -> None:
    store = S3Store(build_client(fields(strict_moto)), "any-bucket", "logs")
    with pytest.raises(RemoteLogError) as error:
        list(store.list("logs/"))
    assert error.value.permanent
    assert "InvalidAccessKeyId" in str(error.value)
    assert "[logging] remote_log_conn_id" in str(error.value)


def test_without_a_connection_the_default_credential_chain_is_used(
    moto: MotoServer, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``remote_log_conn_id`` empty: boto3's own chain (here its environment variables; IRSA in EKS)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto.url)
    client = build_client(None)
    (tmp_path / "f").write_bytes(b"x\n")
    S3Store(client, bucket, "logs").put_new("logs/env", FileRange(str(tmp_path / "f"), 0, 2))
    assert client._request_signer._credentials.access_key == "from-the-environment"
    assert moto.client().get_object(Bucket=bucket, Key="logs/env")["Body"].read() == b"x\n"


@pytest.mark.parametrize(
    ("botocore_config", "validated"),
    [({}, False), ({"response_checksum_validation": "when_supported", "connect_timeout": 7}, True)],
)
def test_reads_skip_the_checksum_unless_the_connection_asks_for_it(
    moto: MotoServer, bucket: str, tmp_path: Path, botocore_config: dict[str, Any], validated: bool
) -> None:
    """Chunks carry a CRC32 from PutObject; reads ask for it (and recompute it) only if configured."""
    client = build_client(fields(moto, botocore_config=botocore_config))
    (tmp_path / "f").write_bytes(b"x\n" * 1000)
    S3Store(client, bucket, "logs").put_new("logs/c", FileRange(str(tmp_path / "f"), 0, 2000))
    response = client.get_object(Bucket=bucket, Key="logs/c")
    assert ("x-amz-checksum-crc32" in response["ResponseMetadata"]["HTTPHeaders"]) is validated
    assert response["Body"].read() == b"x\n" * 1000
    assert client.meta.config.connect_timeout == botocore_config.get("connect_timeout", 5)


def test_unreachable_endpoint_is_transient() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    conn = ConnectionFields(
        "c", login="a", password="b", extra={"endpoint_url": closed, "region_name": "us-east-1"}
    )
    store = S3Store(build_client(conn), "b", "logs")
    with pytest.raises(RemoteLogError) as error:
        list(store.list("logs/"))
    assert not error.value.permanent
    assert "cannot reach S3" in str(error.value)


def test_server_side_encryption_aes256(moto: MotoServer, bucket: str, tmp_path: Path) -> None:
    args = server_side_encryption_args(Conf({("logging", "encrypt_s3_logs"): "True"}))
    assert args == {"ServerSideEncryption": "AES256"}
    (tmp_path / "f").write_bytes(b"x\n")
    S3Store(build_client(fields(moto)), bucket, "logs", args).put_new(
        "logs/a", FileRange(str(tmp_path / "f"), 0, 2)
    )
    assert moto.client().head_object(Bucket=bucket, Key="logs/a")["ServerSideEncryption"] == "AES256"


def test_server_side_encryption_kms(moto: MotoServer, bucket: str, tmp_path: Path) -> None:
    key_id = moto.client("kms").create_key()["KeyMetadata"]["KeyId"]
    args = server_side_encryption_args(Conf({("platform_logging", "s3_sse_kms_key_id"): key_id}))
    assert args == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_id}
    (tmp_path / "f").write_bytes(b"x\n")
    S3Store(build_client(fields(moto)), bucket, "logs", args).put_new(
        "logs/k", FileRange(str(tmp_path / "f"), 0, 2)
    )
    head = moto.client().head_object(Bucket=bucket, Key="logs/k")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {("platform_logging", "s3_server_side_encryption"): "rot13"},
            "[platform_logging] s3_server_side_encryption",
        ),
        (
            {
                ("platform_logging", "s3_server_side_encryption"): "AES256",
                ("platform_logging", "s3_sse_kms_key_id"): "k",
            },
            "[platform_logging] s3_sse_kms_key_id",
        ),
    ],
)
def test_bad_encryption_settings_are_named(values: dict[tuple[str, str], str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        server_side_encryption_args(Conf(values))


@pytest.mark.parametrize("url", ["s3:/bucket", "s3://", "gs://bucket/x", "s3://bad bucket/x"])
def test_malformed_s3_urls_are_named(url: str) -> None:
    with pytest.raises(ConfigError, match=r"\[logging\] remote_base_log_folder"):
        parse_s3_url(url)


def test_assumed_role_credentials_come_from_sts(moto: MotoServer, bucket: str, tmp_path: Path) -> None:
    role = moto.client("iam").create_role(RoleName="logs", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client = build_client(fields(moto, role_arn=role, assume_role_kwargs={"DurationSeconds": 900}))
    (tmp_path / "f").write_bytes(b"x\n")
    S3Store(client, bucket, "logs").put_new("logs/r", FileRange(str(tmp_path / "f"), 0, 2))
    frozen = client._request_signer._credentials.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIA")  # temporary keys issued by STS AssumeRole
    assert frozen.token


def test_dot_dot_segments_round_trip_without_escaping(moto: MotoServer, bucket: str, tmp_path: Path) -> None:
    base = tmp_path / "logs"
    rel = "dag_id=d/run_id=a/../b/task_id=t/attempt=1.log"
    path = base / rel
    (base / "dag_id=d" / "run_id=a").mkdir(parents=True)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"event":"dot dot"}\n')
    io = log_io(moto, bucket, base)
    io.upload(rel)
    listed = [o["Key"] for o in moto.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert all("/%2E%2E/" in key for key in listed)
    assert list(iter_log_text(io.store(), rel)) == ['{"event":"dot dot"}']


def test_upload_then_stream_with_trigger_logs_and_provider_objects(
    moto: MotoServer, bucket: str, tmp_path: Path
) -> None:
    base = tmp_path / "logs"
    rel = "dag_id=d/run_id=r/task_id=t/attempt=1.log"
    (base / rel).parent.mkdir(parents=True)
    (base / rel).write_bytes(b'{"event":"worker"}\n')
    (base / f"{rel}.trigger.3.log").write_bytes(b'{"event":"triggerer"}\n')
    io = log_io(moto, bucket, base)
    io.upload(rel)
    io.upload(f"{rel}.trigger.3.log")
    moto.client().put_object(Bucket=bucket, Key=f"logs/{rel}", Body=b'{"event":"provider"}\n')

    sources, streams = io.stream(rel)
    texts = sorted(line for stream in streams for line in stream)

    assert texts == ['{"event":"provider"}', '{"event":"triggerer"}', '{"event":"worker"}']
    assert len(sources) == 3
    assert f"s3://{bucket}/logs/{rel}" in sources
    _, logs = io.read(rel)
    assert sorted(logs or []) == ['{"event":"provider"}', '{"event":"triggerer"}', '{"event":"worker"}']


def test_read_of_unreachable_store_explains_instead_of_raising(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    conn = ConnectionFields(
        "c", login="a", password="b", extra={"endpoint_url": closed, "region_name": "us-east-1"}
    )
    handle = StoreHandle(lambda _: S3Store(build_client(conn), "b", "logs"), conn_id="", prefix="logs")
    io = S3RemoteLogIO(
        store=handle, base_log_folder=str(tmp_path), delete_local_copy=False, policy=ShippingPolicy()
    )
    sources, streams = io.stream("dag_id=d/attempt=1.log")
    assert streams == []
    assert len(sources) == 1
    assert sources[0].startswith("Could not list s3://b/logs/dag_id=d/attempt=1.log")


def test_delete_local_logs_removes_the_file_only_once_stored(
    moto: MotoServer, bucket: str, tmp_path: Path
) -> None:
    base = tmp_path / "logs"
    rel = "dag_id=d/run_id=r/task_id=t/attempt=3.log"
    (base / rel).parent.mkdir(parents=True)
    (base / rel).write_bytes(b'{"event":"keep me until stored"}\n')
    proxy = FaultProxy(moto.port)
    conn = ConnectionFields(
        "c", login="a", password="b", extra={"endpoint_url": proxy.url, "region_name": "us-east-1"}
    )
    handle = StoreHandle(lambda _: S3Store(build_client(conn), bucket, "logs"), conn_id="", prefix="logs")
    policy = ShippingPolicy(flush_interval=60, upload_timeout=1, retry_max_delay=0.2)
    io = S3RemoteLogIO(store=handle, base_log_folder=str(base), delete_local_copy=True, policy=policy)
    try:
        proxy.down()
        io.upload(rel)
        assert (base / rel).exists(), "deleted although S3 did not have it"
        proxy.up()
        io.upload(rel)
        assert not (base / rel).exists()
        assert list(iter_log_text(io.store(), rel)) == ['{"event":"keep me until stored"}']
    finally:
        proxy.close()


def test_chunk_keys_live_under_the_providers_key(moto: MotoServer, bucket: str, tmp_path: Path) -> None:
    base = tmp_path / "logs"
    rel = "dag_id=d/run_id=r/task_id=t/attempt=2.log"
    (base / rel).parent.mkdir(parents=True)
    (base / rel).write_bytes(b"a\nb\n")
    log_io(moto, bucket, base).upload(rel)
    (key,) = [o["Key"] for o in moto.client().list_objects_v2(Bucket=bucket)["Contents"]]
    name = keys.parse_key(f"logs/{rel}", key)
    assert isinstance(name, keys.ChunkName)
    assert (name.start, name.end) == (0, 4)
