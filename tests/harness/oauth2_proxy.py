"""oauth2-proxy v7 (built from the Go module proxy) on 127.0.0.1, configured by a config file."""

from __future__ import annotations

import json
import secrets
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.harness.prerequisites import go_binary, require
from tests.harness.processes import ManagedProcess, free_port, wait_http


def parse_config(text: str) -> dict[str, Any]:
    """oauth2-proxy's config file as written in docs/proxies.md: ``key = value`` lines whose values are
    TOML strings, booleans or lists of strings (all of which read as JSON)."""
    config: dict[str, Any] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            config[key.strip()] = json.loads(value.strip())
    return config


def toml_lines(config: Mapping[str, Any]) -> str:
    """oauth2-proxy's config file format (TOML) for flat string, boolean and list values."""
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in config.items())


class OAuth2Proxy:
    """One oauth2-proxy process; ``config`` are its config-file keys (docs/proxies.md's recipe)."""

    def __init__(self, home: Path, config: Mapping[str, Any], *, port: int | None = None) -> None:
        require("oauth2-proxy")
        home.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = {
            **config,
            "http_address": f"127.0.0.1:{self.port}",
            "cookie_secret": secrets.token_hex(16),
            "cookie_secure": False,
        }
        self.config_file = home / "oauth2-proxy.cfg"
        self.config_file.write_text(toml_lines(settings))
        self.process = ManagedProcess(
            [str(go_binary("oauth2-proxy")), "--config", str(self.config_file)], home / "oauth2-proxy.log"
        )
        wait_http(f"{self.url}/ping", proc=self.process, timeout=60, ok=lambda status: status == 200)

    def stop(self) -> None:
        self.process.stop(signal.SIGTERM, timeout=10)
