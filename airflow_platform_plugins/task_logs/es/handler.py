"""The ``task`` log handler when logs are in Elasticsearch: Airflow's own, plus the Kibana link.

Reading goes through Airflow's ``FileTaskHandler``, which asks ``REMOTE_TASK_LOG.stream``; this
subclass only adds ``[elasticsearch] frontend``, as the provider's handler does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.utils.log.file_task_handler import FileTaskHandler
from airflow.utils.log.logging_mixin import ExternalLoggingMixin

from airflow_platform_plugins import options
from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate, identity_of


def external_url(frontend: str, log_id: str) -> str:
    """``frontend`` with ``{log_id}`` filled in (``https://`` added when it has no scheme)."""
    scheme = "" if "://" in frontend else "https://"
    return scheme + frontend.format(log_id=quote(log_id))


class ElasticsearchTaskHandler(FileTaskHandler, ExternalLoggingMixin):
    """``FileTaskHandler`` with a link to each try's log in Kibana."""

    LOG_NAME = "Elasticsearch"

    def __init__(
        self,
        base_log_folder: str,
        frontend: str = "",
        log_id_template: str = options.ES_LOG_ID_TEMPLATE.default,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_log_folder=base_log_folder, **kwargs)
        self.frontend = frontend
        self.log_id_template = LogIdTemplate(log_id_template)

    @property
    def log_name(self) -> str:
        """Shown by the UI on the link."""
        return self.LOG_NAME

    @property
    def supports_external_link(self) -> bool:
        """Whether ``[elasticsearch] frontend`` is set."""
        return bool(self.frontend)

    def get_external_log_url(self, task_instance: Any, try_number: int) -> str:
        """The Kibana URL of ``task_instance``'s try ``try_number``."""
        return external_url(
            self.frontend, self.log_id_template.render(identity_of(task_instance, try_number))
        )


class OpenSearchTaskHandler(ElasticsearchTaskHandler):
    """``FileTaskHandler`` with a link to each try's log in OpenSearch Dashboards.

    The link is ``[opensearch] frontend`` (the opensearch provider has none).
    """

    LOG_NAME = "OpenSearch"
