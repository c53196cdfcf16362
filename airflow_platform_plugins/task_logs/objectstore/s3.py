"""S3 (and S3-compatible) task logs: the boto3 adapter for the shared shipping core."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from airflow_platform_plugins import options
from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.settings import common_settings
from airflow_platform_plugins.task_logs.objectstore._botocore import set_credentials
from airflow_platform_plugins.task_logs.objectstore.remote_io import ObjectStoreRemoteLogIO
from airflow_platform_plugins.task_logs.objectstore.store import FileRange, ObjectInfo

_BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")
_CONFIG_CODES = {
    "NoSuchBucket": (options.REMOTE_BASE_LOG_FOLDER.name, "the bucket does not exist"),
    "PermanentRedirect": (
        options.REMOTE_LOG_CONN_ID.name,
        "the bucket is in another region (set region_name)",
    ),
    "AuthorizationHeaderMalformed": (options.REMOTE_LOG_CONN_ID.name, "wrong region for the bucket"),
    "KMS.NotFoundException": (options.S3_SSE_KMS_KEY_ID.name, "the KMS key does not exist"),
    "KMS.DisabledException": (options.S3_SSE_KMS_KEY_ID.name, "the KMS key is disabled"),
    "InvalidArgument": (options.S3_SSE.name, "S3 refused an argument"),
}
_CREDENTIAL_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
}
_SSE_VALUES = ("AES256", "aws:kms", "aws:kms:dsse")


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into bucket and prefix; raise :class:`ConfigError` if malformed."""
    parts = urlsplit(url)
    if parts.scheme not in ("s3", "s3a") or not _BUCKET_RE.match(parts.netloc):
        raise ConfigError(
            f"{options.REMOTE_BASE_LOG_FOLDER.name} must look like s3://bucket/prefix, got {url!r}"
        )
    return parts.netloc, parts.path.strip("/")


def translate_error(exc: Exception) -> RemoteLogError:
    """Turn a botocore exception into a :class:`RemoteLogError` that names what to fix."""
    import botocore.exceptions as bce

    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = str(error.get("Message") or code)
        if code in _CONFIG_CODES:
            setting, what = _CONFIG_CODES[code]
            return RemoteLogError(f"{what}: {code}: {message}", permanent=True, setting=setting)
        if code in _CREDENTIAL_CODES or status == 403:
            return RemoteLogError(
                f"credentials were refused: {code}: {message}",
                permanent=True,
                setting=f"{options.REMOTE_LOG_CONN_ID.name} or the AWS default credential chain",
            )
        return RemoteLogError(f"S3 error {code or status}: {message}")
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return RemoteLogError(
            f"no usable AWS credentials: {exc}",
            permanent=True,
            setting=f"{options.REMOTE_LOG_CONN_ID.name} or the AWS default credential chain",
        )
    if isinstance(exc, bce.ParamValidationError):
        return RemoteLogError(f"invalid request: {exc}", permanent=True, setting=f"[{options.SECTION}]")
    if isinstance(exc, bce.BotoCoreError):
        return RemoteLogError(f"cannot reach S3: {exc}")
    return RemoteLogError(f"S3 call failed: {exc!r}")


class S3Store:
    """:class:`~airflow_platform_plugins.task_logs.objectstore.store.ObjectStore` on a boto3 S3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str, put_args: dict[str, str] | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.put_args = dict(put_args or {})
        self.upload_slots = 16  # bodies stream from the file: parallel PUTs cost little memory
        self.read_buffer = 0  # ranged reads stream
        self._conditional = True

    def url(self, key: str) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{key}"

    def put_new(self, key: str, body: FileRange) -> None:
        """PUT with ``If-None-Match: *``; an existing key already holds these bytes."""
        import botocore.exceptions as bce

        with body.open() as stream:
            args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": stream, **self.put_args}
            args["ContentLength"] = body.length
            if self._conditional:
                args["IfNoneMatch"] = "*"
            try:
                self.client.put_object(**args)
            except bce.ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                    return  # the chunk exists: same name, same byte range, same bytes
                if code == "NotImplemented" and self._conditional:
                    self._conditional = False  # an S3-compatible store without If-None-Match
                    stream.seek(0)
                    del args["IfNoneMatch"]
                    self._call(self.client.put_object, **args)
                    return
                raise translate_error(exc) from exc
            except Exception as exc:
                raise translate_error(exc) from exc

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """ListObjectsV2, all pages."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    yield ObjectInfo(item["Key"], int(item["Size"]))
        except Exception as exc:
            raise translate_error(exc) from exc

    def get(self, key: str, start: int, length: int) -> bytes:
        """Ranged GET into memory."""
        response = self._call(
            self.client.get_object, Bucket=self.bucket, Key=key, Range=_range(start, length)
        )
        try:
            return bytes(response["Body"].read())
        except Exception as exc:
            raise translate_error(exc) from exc

    def iter_bytes(self, key: str, start: int, length: int) -> Iterator[bytes]:
        """Ranged GET, streamed in 1 MiB blocks."""
        response = self._call(
            self.client.get_object, Bucket=self.bucket, Key=key, Range=_range(start, length)
        )
        body = response["Body"]
        try:
            yield from body.iter_chunks(1 << 20)
        except Exception as exc:
            raise translate_error(exc) from exc
        finally:
            body.close()

    def delete(self, key: str) -> None:
        """DeleteObject (S3 answers success for a key that does not exist)."""
        self._call(self.client.delete_object, Bucket=self.bucket, Key=key)

    @staticmethod
    def _call(method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except Exception as exc:
            raise translate_error(exc) from exc


def _range(start: int, length: int) -> str:
    return f"bytes={start}-{start + length - 1}"


def build_client(fields: ConnectionFields | None) -> Any:
    """A boto3 S3 client from an Airflow AWS connection, or from the default credential chain.

    Uses the amazon provider's connection conventions: login/password are the access key pair; extra
    may hold ``region_name``, ``endpoint_url`` (or ``service_config.s3.endpoint_url``),
    ``aws_session_token``, ``role_arn`` with ``assume_role_kwargs``, and ``botocore_config``.
    No network call happens here; an assumed role is fetched on first use and refreshed before expiry.
    """
    import boto3
    import botocore.config
    import botocore.credentials
    import botocore.session

    extra = fields.extra if fields else {}
    service_config = extra.get("service_config") or {}
    endpoint = (service_config.get("s3") or {}).get("endpoint_url") or extra.get("endpoint_url") or None
    session = boto3.session.Session(
        aws_access_key_id=fields.login if fields else None,
        aws_secret_access_key=fields.password if fields else None,
        aws_session_token=extra.get("aws_session_token") if fields else None,
        region_name=extra.get("region_name") or None,
    )
    role_arn = extra.get("role_arn")
    if role_arn:
        sts_endpoint = (service_config.get("sts") or {}).get("endpoint_url") or extra.get("endpoint_url")
        sts = session.client("sts", endpoint_url=sts_endpoint or None)
        assume_kwargs = dict(extra.get("assume_role_kwargs") or {})

        def refresh() -> dict[str, str]:
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="airflow-task-logs", **assume_kwargs)[
                "Credentials"
            ]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        core = botocore.session.get_session()
        set_credentials(
            core,
            botocore.credentials.DeferredRefreshableCredentials(
                refresh_using=refresh, method="sts-assume-role"
            ),
        )
        session = boto3.session.Session(botocore_session=core, region_name=extra.get("region_name") or None)
    settings: dict[str, Any] = {
        "retries": {"max_attempts": 3, "mode": "standard"},
        "connect_timeout": 5,
        "read_timeout": 60,
        "max_pool_connections": 32,
        # Uploads still send a CRC32 that S3 checks on write; reads do not recompute it over every
        # byte (a third of a plain read's CPU). ``botocore_config`` in the connection can turn it on.
        "response_checksum_validation": "when_required",
    }
    config = botocore.config.Config(**{**settings, **(extra.get("botocore_config") or {})})
    return session.client("s3", endpoint_url=endpoint, config=config)


def server_side_encryption_args(conf: Any) -> dict[str, str]:
    """``put_object`` arguments for SSE and ACL from the configuration; validates the values."""
    sse = options.S3_SSE.get(conf)
    kms_key = options.S3_SSE_KMS_KEY_ID.get(conf)
    if not sse and kms_key:
        sse = "aws:kms"
    if not sse and options.ENCRYPT_S3_LOGS.get(conf):
        sse = "AES256"
    if sse and sse not in _SSE_VALUES:
        raise ConfigError(f"{options.S3_SSE.name} must be one of {', '.join(_SSE_VALUES)}, got {sse!r}")
    if kms_key and not sse.startswith("aws:kms"):
        raise ConfigError(
            f"{options.S3_SSE_KMS_KEY_ID.name} needs {options.S3_SSE.name} = aws:kms, got {sse!r}"
        )
    args = {"ServerSideEncryption": sse} if sse else {}
    if kms_key:
        args["SSEKMSKeyId"] = kms_key
    if acl := options.S3_ACL_POLICY.get(conf):
        args["ACL"] = acl
    return args


class S3RemoteLogIO(ObjectStoreRemoteLogIO):
    """Task logs in S3: ``[logging] remote_base_log_folder = s3://bucket/prefix``."""

    @classmethod
    def from_config(cls, conf: Any = None) -> S3RemoteLogIO:
        """Build from Airflow's configuration; raise :class:`ConfigError` naming a bad setting."""
        if conf is None:
            from airflow.configuration import conf
        common = common_settings(conf)
        bucket, prefix = parse_s3_url(common.remote_base)
        put_args = server_side_encryption_args(conf)

        def build(fields: ConnectionFields | None) -> S3Store:
            return S3Store(build_client(fields), bucket, prefix, put_args)

        return cls.from_settings(common, prefix, build)
