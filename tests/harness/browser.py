"""Headless Chromium from the distribution, driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.harness.prerequisites import CHROMIUM, require

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str:
    """The distribution's Chromium, installed on first use."""
    require("chromium")
    return shutil.which("chromium") or CHROMIUM.path


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched browser; closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SCREENSHOTS_ENV = "DOCS_SCREENSHOTS"
"""Set to 1 to have the browser tests save their screenshots for the docs into docs/images/."""


def docs_screenshot(page: Any, name: str) -> Path | None:
    """Save ``page`` as docs/images/``name`` if :data:`SCREENSHOTS_ENV` asks (no test depends on it)."""
    if os.environ.get(SCREENSHOTS_ENV) != "1":
        return None
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    path = DOCS_IMAGES / name
    page.screenshot(path=str(path))
    return path
