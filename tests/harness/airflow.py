"""A real Airflow 3 deployment in a temporary AIRFLOW_HOME: scheduler (LocalExecutor), dag-processor,
triggerer and api-server as separate processes, the way they run in Kubernetes.

Every component gets the same settings except where a test says otherwise: the api-server can have
its own (empty) log folder and no route to the worker's log server, so what it shows comes from the
remote store.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.harness.processes import ManagedProcess, free_port, wait_http

COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
AUTH_MANAGERS = {
    "simple": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    "fab": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
}
LOGGING_CONFIG_CLASS = "airflow_platform_plugins.logging_config.LOGGING_CONFIG"
TERMINAL = ("success", "failed", "skipped", "upstream_failed", "removed")


def airflow_executable() -> str:
    """The ``airflow`` command of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "airflow"
    return str(candidate) if candidate.exists() else "airflow"


class AirflowDeployment:
    """Airflow components on 127.0.0.1 sharing one sqlite database."""

    def __init__(
        self,
        home: Path,
        *,
        dags: Iterable[Path],
        settings: Mapping[str, str] | None = None,
        component_settings: Mapping[str, Mapping[str, str]] | None = None,
        components: Iterable[str] = COMPONENTS,
        auth_manager: str = "simple",
        webserver_config: str | None = None,
        plugins: Iterable[Path] = (),
    ) -> None:
        """``auth_manager="fab"`` uses the FAB auth manager with ``webserver_config`` as its config file;
        ``plugins`` are copied into the deployment's plugins folder."""
        self.home = home
        self.dags_folder = home / "dags"
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        for dag in dags:
            shutil.copy(dag, self.dags_folder / dag.name)
        self.plugins_folder = home / "plugins"
        self.plugins_folder.mkdir(parents=True, exist_ok=True)
        for plugin in plugins:
            shutil.copy(plugin, self.plugins_folder / plugin.name)
        self.log_folder = home / "logs"
        self.api_port = free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.worker_log_port = free_port()
        self.components = tuple(components)
        self.component_settings = {k: dict(v) for k, v in (component_settings or {}).items()}
        bin_dir = str(Path(sys.executable).parent)
        self.env: dict[str, str] = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGERS[auth_manager],
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.log_folder),
            "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(
                home / "logs" / "dag_processor"
            ),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.worker_log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": LOGGING_CONFIG_CLASS,
            "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # Airflow 3.3.2's supervisor sometimes sees a task's pipes close before the process has
            # exited and then waits this long in select() before noticing the exit (default 5 s).
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
            "AIRFLOW__TRIGGERER__DEFAULT_CAPACITY": "50",
        }
        if auth_manager == "simple":
            self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
        if webserver_config is not None:
            config_file = home / "webserver_config.py"
            config_file.write_text(webserver_config)
            self.env["AIRFLOW__FAB__CONFIG_FILE"] = str(config_file)
        self.env.update(settings or {})
        self.processes: dict[str, ManagedProcess] = {}
        self.client = httpx.Client(base_url=self.url, timeout=60)

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self, timeout: float = 240.0) -> AirflowDeployment:
        """Migrate the database, start every component, and wait until all report healthy."""
        migrate = ManagedProcess(
            [airflow_executable(), "db", "migrate"], self.home / "run" / "db-migrate.log", env=self.env
        )
        if migrate.proc.wait(timeout=300) != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.log_text()[-4000:]}")
        for name in self.components:
            self.start_component(name)
        self.wait_healthy(timeout)
        return self

    def component_env(self, name: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**self.env, **self.component_settings.get(name, {}), **dict(overrides or {})}

    def start_component(self, name: str, overrides: Mapping[str, str] | None = None) -> ManagedProcess:
        process = ManagedProcess(
            [airflow_executable(), name],
            self.home / "run" / f"{name}.log",
            env=self.component_env(name, overrides),
            cwd=self.home,
        )
        self.processes[name] = process
        return process

    def restart_component(
        self, name: str, overrides: Mapping[str, str] | None = None, timeout: float = 120
    ) -> None:
        """Restart one component with extra settings (``{}`` restores the deployment's own)."""
        self.processes[name].stop()
        self.start_component(name, overrides)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 240.0) -> None:
        wait_http(f"{self.url}/api/v2/monitor/health", proc=self.processes.get("api-server"), timeout=timeout)
        deadline = time.monotonic() + timeout
        health: Any = None
        wanted = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if not process.alive():
                    raise RuntimeError(f"{name} exited:\n{process.log_text()[-4000:]}")
            health = self.client.get("/api/v2/monitor/health").json()
            if all(
                health.get(key, {}).get("status") == "healthy"
                for name, key in wanted.items()
                if name in self.processes
            ):
                return
            time.sleep(1)
        raise TimeoutError(f"Airflow did not become healthy: {health}")

    def stop(self) -> None:
        self.client.close()
        for name in reversed(list(self.processes)):
            self.processes[name].stop(signal.SIGTERM, timeout=20)

    def airflow_cli(self, *args: str, timeout: float = 300) -> str:
        """Run an ``airflow`` CLI command with the deployment's settings; return its output."""
        import subprocess

        result = subprocess.run(
            [airflow_executable(), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}{result.stderr[-4000:]}"
            )
        return result.stdout

    def create_fab_user(self, username: str, password: str, role: str = "Admin") -> None:
        """A FAB user with a password (``airflow users create``), as for API and CLI clients."""
        self.airflow_cli(
            "users", "create", "--username", username, "--password", password, "--role", role,
            "--email", f"{username}@example.org", "--firstname", username, "--lastname", "Service",
        )  # fmt: skip

    def fab_token(self, username: str, password: str) -> str:
        """Airflow's own API token for a FAB user with a password (``POST /auth/token``)."""
        response = httpx.post(
            f"{self.url}/auth/token", json={"username": username, "password": password}, timeout=60
        )
        if response.status_code != 201:
            raise RuntimeError(f"POST /auth/token: {response.status_code} {response.text}")
        return str(response.json()["access_token"])

    def login(self, username: str) -> str:
        """Log the API client in as a SimpleAuthManager user; return that user's generated password."""
        import json

        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        password = str(passwords[username])
        response = self.client.post("/auth/token", json={"username": username, "password": password})
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return password

    # -- API helpers ----------------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, f"/api/v2{path}", **kwargs)

    def create_connection(self, conn_id: str, connection: Mapping[str, Any]) -> None:
        """Store a connection in the metadata database (as users do in the UI)."""
        import json

        body = {"connection_id": conn_id, **connection}
        if isinstance(body.get("extra"), dict):
            body["extra"] = json.dumps(body["extra"])
        response = self.api("POST", "/connections", json=body)
        if response.status_code not in (200, 201):
            raise RuntimeError(
                f"creating connection {conn_id} failed: {response.status_code} {response.text}"
            )

    def wait_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.api("GET", f"/dags/{_q(dag_id)}")
            if response.status_code == 200:
                return
            time.sleep(1)
        errors = self.api("GET", "/importErrors").json()
        raise TimeoutError(f"DAG {dag_id!r} was not parsed; import errors: {errors}")

    def trigger(self, dag_id: str, run_id: str | None = None, conf: Mapping[str, Any] | None = None) -> str:
        self.wait_dag(dag_id)
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id is not None:
            body["dag_run_id"] = run_id
        response = self.api("POST", f"/dags/{_q(dag_id)}/dagRuns", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"trigger {dag_id} failed: {response.status_code} {response.text}")
        return str(response.json()["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")
        response.raise_for_status()
        return dict(response.json())

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> str:
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.dag_run(dag_id, run_id)["state"]
            if state in ("success", "failed"):
                return str(state)
            time.sleep(1)
        raise TimeoutError(f"run {dag_id}/{run_id} still {state} after {timeout}s")

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
        if map_index >= 0:
            path += f"/{map_index}"
        response = self.api("GET", path)
        response.raise_for_status()
        return dict(response.json())

    def wait_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Iterable[str],
        timeout: float = 180.0,
        map_index: int = -1,
    ) -> dict[str, Any]:
        wanted = set(states)
        deadline = time.monotonic() + timeout
        ti: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = self.api(
                "GET",
                f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
                + (f"/{map_index}" if map_index >= 0 else ""),
            )
            if response.status_code == 200:
                ti = response.json()
                if ti.get("state") in wanted:
                    return ti
            time.sleep(0.5)
        raise TimeoutError(f"task {dag_id}/{run_id}/{task_id} is {ti.get('state')}, wanted {wanted}")

    def read_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> list[dict[str, Any]]:
        """The log entries the api-server returns for a try (what the UI shows)."""
        params: dict[str, Any] = {"full_content": "true"}
        if map_index >= 0:
            params["map_index"] = map_index
        response = self.api(
            "GET",
            f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/logs/{try_number}",
            params=params,
            headers={"Accept": "application/json"},
        )
        response.raise_for_status()
        content = response.json()["content"]
        return list(content)


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def events(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ``event`` texts of log entries."""
    return [str(entry.get("event", "")) for entry in entries]


def display_order(lines: Iterable[bytes | str]) -> list[str]:
    """The ``event`` texts of JSON log lines in the order Airflow's log view shows them: by timestamp
    to the millisecond, then line number (``FileTaskHandler``'s merge).

    Not always the order the task emitted them, nor the order the file has them: the task supervisor
    stamps a ``print()`` line (``task.stdout``) when it reads it and a logger line when the task emitted
    it, and on a loaded machine it can read either after a later line of the other kind.
    """
    rows = [json.loads(line) for line in lines]

    def key(numbered: tuple[int, dict[str, Any]]) -> tuple[int, int]:
        stamp = datetime.fromisoformat(str(numbered[1]["timestamp"]).replace("Z", "+00:00"))
        return int(stamp.timestamp() * 1000), numbered[0]

    return [str(row.get("event", "")) for _, row in sorted(enumerate(rows), key=key)]


def log_sources(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """The source lines Airflow lists in the ``Log message source details`` group."""
    out, inside = [], False
    for entry in entries:
        event = str(entry.get("event", ""))
        if event == "::group::Log message source details":
            inside = True
        elif event == "::endgroup::":
            break
        elif inside:
            out.append(event)
    return out
