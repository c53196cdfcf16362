"""An Airflow ``conf`` stand-in backed by a dict, for code that reads options (``get``/``getsection``)."""

from __future__ import annotations

from typing import Any


class DictConf:
    """``{section: {key: value}}`` answering the calls this package makes on Airflow's ``conf``."""

    def __init__(self, values: dict[str, dict[str, str]]) -> None:
        self.values = values

    def get(self, section: str, key: str, fallback: Any = None) -> Any:
        return self.values.get(section, {}).get(key, fallback)

    def has_section(self, section: str) -> bool:
        return section in self.values

    def getsection(self, section: str) -> dict[str, str]:
        return dict(self.values.get(section, {}))
