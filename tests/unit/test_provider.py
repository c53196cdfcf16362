"""The provider metadata Airflow reads: valid against Airflow's schema, and our section complete."""

from __future__ import annotations

import json
from pathlib import Path

import airflow
import jsonschema

from airflow_platform_plugins import options
from airflow_platform_plugins.provider import get_provider_info


def test_the_provider_info_is_valid_for_airflow() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_option_of_our_section_is_registered_with_its_default_and_text() -> None:
    registered = get_provider_info()["config"][options.SECTION]["options"]
    ours = [o for o in (*options.LOGGING_OPTIONS, *options.ELASTICSEARCH_OPTIONS) if o.ours]
    assert sorted(registered) == sorted(o.key for o in ours)
    for option in ours:
        assert registered[option.key]["default"] == option.default
        assert registered[option.key]["description"] == option.description
