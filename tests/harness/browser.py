"""Headless Chromium from the distribution, driven by Playwright (no browser download)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
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
