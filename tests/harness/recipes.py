"""The configuration blocks of docs/proxies.md, so the tests run what the docs say.

A block is the fenced code block right after a ``<!-- recipe: NAME -->`` line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

PROXIES_MD = Path(__file__).parents[2] / "docs" / "proxies.md"


def recipe(name: str) -> str:
    """The text of the recipe block ``name``; raises if the docs lost it."""
    text = PROXIES_MD.read_text()
    match = re.search(rf"<!-- recipe: {re.escape(name)} -->\n```[a-z]*\n(.*?)\n```", text, re.DOTALL)
    if match is None:
        raise LookupError(f"docs/proxies.md has no recipe {name!r}")
    return match.group(1)


def webserver_config(name: str) -> dict[str, Any]:
    """The ``webserver_config.py`` recipe of a proxy, as the values it sets."""
    values: dict[str, Any] = {}
    exec(compile(recipe(f"webserver_config {name}"), f"docs/proxies.md ({name})", "exec"), {}, values)  # noqa: S102
    return values


def as_python(values: dict[str, Any]) -> str:
    """``webserver_config.py`` lines setting ``values``."""
    return "".join(f"{key} = {value!r}\n" for key, value in values.items())
