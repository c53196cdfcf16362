"""nginx from the distribution in front of the api-server, as a sign-in proxy is usually set up.

Every request to Airflow first goes to the identity provider (``auth_request``); nginx copies the
token from the provider's answer into the header Airflow reads, replacing any copy the client sent,
and refuses the request when the provider says 401. ``/idp/`` reaches the provider's own pages
(sign-in, sign-out) on the same host, so its cookie applies to Airflow's pages too.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from tests.harness.prerequisites import NGINX, require
from tests.harness.processes import ManagedProcess, free_port, wait_http

LOCATIONS = """\
        location = /_idp_auth {
            internal;
            proxy_pass {idp}/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }

        location /idp/ {
            proxy_pass {idp}/;
        }

        location / {
            auth_request /_idp_auth;
            auth_request_set $idp_token $upstream_http_{token_var};
            # Replaces whatever the client sent under this name; empty means "not sent".
            proxy_set_header {header} $idp_token;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Connection "";
            proxy_http_version 1.1;
            proxy_pass http://airflow;
        }
"""

CONF = """\
daemon off;
{user}worker_processes 1;
pid {home}/nginx.pid;
error_log {home}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {home}/logs/access.log;
    client_body_temp_path {home}/tmp/body;
    proxy_temp_path {home}/tmp/proxy;
    fastcgi_temp_path {home}/tmp/fastcgi;
    uwsgi_temp_path {home}/tmp/uwsgi;
    scgi_temp_path {home}/tmp/scgi;
    large_client_header_buffers 4 64k;
    proxy_buffer_size 64k;
    proxy_buffers 8 64k;
    upstream airflow {{ server {airflow}; keepalive 16; }}

    server {{
        listen 127.0.0.1:{port};

{locations}
    }}
}}
"""


class Nginx:
    """One nginx master with one worker on a free port."""

    def __init__(
        self,
        home: Path,
        *,
        airflow: str,
        idp: str,
        header: str = "X-Jwt-Assertion",
        idp_token_header: str = "X-Idp-Token",
        port: int | None = None,
        locations: str | None = None,
    ) -> None:
        """``port``: chosen in advance when Airflow must know its public URL before nginx starts;
        ``locations``: the server's ``location`` blocks instead of the identity provider's set-up."""
        self.home = home
        for sub in ("logs", "tmp"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        require("nginx")
        binary = shutil.which("nginx") or NGINX.path
        # pytest's temporary directories are private (0700): workers must run as the same user.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf = home / "nginx.conf"
        self.conf.write_text(
            CONF.format(
                locations=locations
                if locations is not None
                else LOCATIONS.replace("{idp}", idp)
                .replace("{header}", header)
                .replace("{token_var}", idp_token_header.lower().replace("-", "_")),
                user=user,
                home=home,
                port=self.port,
                airflow=airflow.removeprefix("http://"),
                idp=idp,
                header=header,
                token_var=idp_token_header.lower().replace("-", "_"),
            )
        )
        argv = [binary, "-p", f"{home}/", "-c", str(self.conf), "-e", str(home / "logs" / "error.log")]
        check = ManagedProcess([*argv, "-t"], home / "logs" / "check.log")
        if check.proc.wait(timeout=30) != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.log_text()}")
        self.process = ManagedProcess(argv, home / "logs" / "stdout.log")
        wait_http(f"{self.url}/idp/none", proc=self.process, timeout=30)

    def stop(self) -> None:
        self.process.stop(signal.SIGQUIT, timeout=10)
