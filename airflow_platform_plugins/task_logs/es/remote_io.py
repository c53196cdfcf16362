"""Airflow's RemoteLogIO for Elasticsearch: live writing from the supervisor, streamed reading."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from airflow_platform_plugins import options
from airflow_platform_plugins.options import Option
from airflow_platform_plugins.task_logs.common.processor import ShippingProcessor
from airflow_platform_plugins.task_logs.common.remote_io import RemoteLogIOBase
from airflow_platform_plugins.task_logs.common.settings import common_settings
from airflow_platform_plugins.task_logs.es.bulk import BulkSink
from airflow_platform_plugins.task_logs.es.client import ClientHandle, client_settings
from airflow_platform_plugins.task_logs.es.documents import json_fields
from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate, identity_of, parse_relative_path
from airflow_platform_plugins.task_logs.es.reader import LogReader
from airflow_platform_plugins.task_logs.es.sinks import Sink, StdoutSink
from airflow_platform_plugins.task_logs.es.writer import LineWriter

log = logging.getLogger(__name__)

HANDLER_CLASS = "airflow_platform_plugins.task_logs.es.handler.ElasticsearchTaskHandler"


class ElasticsearchRemoteLogIO(RemoteLogIOBase):
    """Task logs in Elasticsearch: ``[elasticsearch] host`` set, ``remote_base_log_folder`` no object store.

    ``processors`` write each line while the try runs (``write_stdout``, ``write_to_es``); ``upload``
    writes the rest when it ends; ``stream`` and ``read`` serve the api-server.
    """

    def __init__(
        self,
        *,
        reader: LogReader,
        log_id_template: LogIdTemplate,
        base_log_folder: str,
        writer: LineWriter | None = None,
        delete_local_copy: bool = False,
        frontend: str = "",
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.log_id_template = log_id_template
        self.base_log_folder = os.path.abspath(os.path.expanduser(base_log_folder))
        self.delete_local_copy = delete_local_copy
        self.frontend = frontend
        self._processors = (ShippingProcessor(writer),) if writer is not None else ()

    @property
    def processors(self) -> tuple[ShippingProcessor, ...]:
        """The structlog processor that writes lines while the try runs (none if nothing is written)."""
        return self._processors

    @property
    def task_handler(self) -> dict[str, Any]:
        """The ``task`` handler for the logging config: Airflow's file handler plus the Kibana link."""
        return {
            "class": self.handler_class,
            "frontend": self.frontend,
            "log_id_template": self.log_id_template.template,
        }

    def log_id(self, relative_path: str, ti: Any = None) -> str:
        """The ``log_id`` of the try at ``relative_path`` (from the path; from ``ti`` for other layouts)."""
        identity = parse_relative_path(relative_path)
        if identity is None:
            if ti is None:
                raise ValueError(f"cannot tell which try {relative_path!r} is without its task instance")
            identity = identity_of(ti)
        return self.log_id_template.render(identity)

    destination = "Elasticsearch"
    handler_class = HANDLER_CLASS

    def upload(self, path: os.PathLike[str] | str, ti: Any = None) -> None:
        """Write the rest of a try's (or a poke's) lines and wait for them (bounded); never raises."""
        if self.writer is not None:
            super().upload(path, ti)

    def finish(self, path: str) -> None:
        """Write the rest of the lines of ``path``; delete it once indexed, if so configured."""
        assert self.writer is not None
        done = self.writer.finish(path)
        if done and self.delete_local_copy and any(s.name == BulkSink.name for s in self.writer.sinks):
            os.remove(path)

    def stream(
        self, relative_path: str, ti: Any = None
    ) -> tuple[list[str], list[Generator[str, None, None]]]:
        """Line generators for the try's log, for the api-server's streaming reader."""
        try:
            log_id = self.log_id(relative_path, ti)
        except ValueError as exc:
            return [f"{self.destination}: {exc}"], []
        return self.reader.open(log_id, ti)

    @classmethod
    def from_config(cls, conf: Any = None) -> ElasticsearchRemoteLogIO:
        """Build from Airflow's configuration; raise ``ConfigError`` naming a bad setting."""
        if conf is None:
            from airflow.configuration import conf
        settings = client_settings(conf)
        return cls.build(conf, ELASTICSEARCH, ClientHandle(settings), settings.display)

    @classmethod
    def build(
        cls, conf: Any, engine: EngineOptions, client: Callable[[], Any], display: str
    ) -> ElasticsearchRemoteLogIO:
        """Build with ``engine``'s options and ``client`` (the one thing engines do not share)."""
        common = common_settings(conf)
        template = LogIdTemplate(engine.log_id_template.get(conf))
        host_field = engine.host_field.get(conf)
        offset_field = engine.offset_field.get(conf)
        sinks: list[Sink] = []
        if engine.write_stdout.get(conf):
            sinks.append(StdoutSink())
        if engine.write_direct.get(conf):
            sinks.append(
                BulkSink(
                    client,
                    target_index=engine.target_index.get(conf),
                    display=display,
                    latency=common.policy.flush_interval,
                    max_bytes=options.ES_BULK_MAX_BYTES.get(conf),
                    offset_field=offset_field,
                    host_field=host_field,
                    install_template=options.ES_INSTALL_TEMPLATE.get(conf),
                    engine=engine.name,
                )
            )
        writer = None
        if sinks:
            writer = LineWriter(
                sinks,
                base_log_folder=common.base_log_folder,
                log_id_template=template,
                offset_field=offset_field,
                host_field=host_field,
                json_fields=json_fields(engine.json_fields.get(conf)) if engine.json_format.get(conf) else (),
                upload_timeout=common.policy.upload_timeout,
                retry_max_delay=common.policy.retry_max_delay,
                flush_bytes=common.policy.flush_bytes,
                excluded_dirs=common.excluded_dirs,
            )
        reader = LogReader(
            client,
            display=display,
            index_patterns=engine.index_patterns.get(conf),
            index_patterns_callable=engine.index_patterns_callable.get(conf),
            host_field=host_field,
            offset_field=offset_field,
            page_size=options.ES_READ_PAGE_SIZE.get(conf),
            engine=engine.name,
        )
        return cls(
            reader=reader,
            writer=writer,
            log_id_template=template,
            base_log_folder=common.base_log_folder,
            delete_local_copy=common.delete_local_copy,
            frontend=engine.frontend.get(conf),
        )


@dataclass(frozen=True)
class EngineOptions:
    """Which options configure an engine: the providers name them alike, in their own sections."""

    name: str
    log_id_template: Option
    write_stdout: Option
    write_direct: Option
    target_index: Option
    json_format: Option
    json_fields: Option
    host_field: Option
    offset_field: Option
    index_patterns: Option
    index_patterns_callable: Option
    frontend: Option


ELASTICSEARCH = EngineOptions(
    "Elasticsearch",
    log_id_template=options.ES_LOG_ID_TEMPLATE,
    write_stdout=options.ES_WRITE_STDOUT,
    write_direct=options.ES_WRITE_TO_ES,
    target_index=options.ES_TARGET_INDEX,
    json_format=options.ES_JSON_FORMAT,
    json_fields=options.ES_JSON_FIELDS,
    host_field=options.ES_HOST_FIELD,
    offset_field=options.ES_OFFSET_FIELD,
    index_patterns=options.ES_INDEX_PATTERNS,
    index_patterns_callable=options.ES_INDEX_PATTERNS_CALLABLE,
    frontend=options.ES_FRONTEND,
)
