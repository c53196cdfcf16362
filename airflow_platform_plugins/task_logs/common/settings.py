"""Read the settings every object-store backend shares from Airflow's configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from airflow_platform_plugins import options
from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy


@dataclass(frozen=True)
class CommonSettings:
    """What an object-store RemoteLogIO needs besides its client."""

    remote_base: str
    conn_id: str
    base_log_folder: str
    delete_local_copy: bool
    policy: ShippingPolicy
    read_prefetch_bytes: int
    excluded_dirs: tuple[str, ...]


def common_settings(conf: Any) -> CommonSettings:
    """Read and validate the shared settings; raises ``ConfigError`` naming a bad one."""
    base_log_folder = os.path.expanduser(options.BASE_LOG_FOLDER.get(conf))
    if not base_log_folder:
        raise options.ConfigError(f"{options.BASE_LOG_FOLDER.name} must be set")
    dag_processor_dir = options.DAG_PROCESSOR_LOG_DIRECTORY.get(conf)
    policy = ShippingPolicy(
        flush_interval=options.FLUSH_INTERVAL.get(conf),
        flush_bytes=options.FLUSH_BYTES.get(conf),
        chunk_max_bytes=options.CHUNK_MAX_BYTES.get(conf),
        upload_concurrency=options.UPLOAD_CONCURRENCY.get(conf),
        upload_timeout=options.UPLOAD_TIMEOUT.get(conf),
        retry_max_delay=options.RETRY_MAX_DELAY.get(conf),
    )
    return CommonSettings(
        remote_base=options.REMOTE_BASE_LOG_FOLDER.get(conf),
        conn_id=options.REMOTE_LOG_CONN_ID.get(conf),
        base_log_folder=base_log_folder,
        delete_local_copy=options.DELETE_LOCAL_LOGS.get(conf),
        policy=policy,
        read_prefetch_bytes=options.READ_PREFETCH_BYTES.get(conf),
        excluded_dirs=(os.path.expanduser(dag_processor_dir),) if dag_processor_dir else (),
    )
