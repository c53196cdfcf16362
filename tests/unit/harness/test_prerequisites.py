"""The install-on-first-use mechanism: what it plans, and what a user without root is told."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import prerequisites
from tests.harness.prerequisites import Command, Debian, PrerequisiteMissing


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Debian | Command]:
    """A registry of made-up parts: two Debian packages that are missing and a command part."""
    installed: list[str] = []
    registry: dict[str, Debian | Command] = {
        "tool-a": Debian("tool-a", str(tmp_path / "no-such-a"), ("pkg-a",)),
        "tool-b": Debian("tool-b", str(tmp_path / "no-such-b"), ("pkg-b", "pkg-b-old")),
        "base": Command(
            "base", present=lambda: "base" in installed, install=lambda: installed.append("base")
        ),
        "built": Command(
            "built",
            present=lambda: "built" in installed,
            install=lambda: installed.append("built"),
            needs=("base",),
        ),
    }
    monkeypatch.setattr(prerequisites, "PARTS", registry)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return registry


def test_plan_puts_what_a_part_needs_first_without_repeats(parts: dict[str, Debian | Command]) -> None:
    assert prerequisites.plan(["built", "tool-a", "base"]) == ["base", "built", "tool-a"]


def test_an_unknown_part_is_named(parts: dict[str, Debian | Command]) -> None:
    with pytest.raises(KeyError, match="unknown prerequisite 'nope'"):
        prerequisites.plan(["nope"])


def test_without_root_missing_debian_packages_stop_with_one_line_naming_the_command(
    parts: dict[str, Debian | Command], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prerequisites, "is_root", lambda: False)
    with pytest.raises(PrerequisiteMissing) as raised:
        prerequisites.require("tool-a", "tool-b", "built")
    message = str(raised.value)
    assert "\n" not in message
    assert message == (
        "tool-a, tool-b missing; installing needs root. "
        "Run: sudo apt-get install -y --no-install-recommends pkg-a pkg-b"
    )
    # Nothing else was attempted before the line was given.
    assert not parts["base"].present()


def test_command_parts_install_in_order_and_only_once(parts: dict[str, Debian | Command]) -> None:
    lines: list[str] = []
    prerequisites.require("built", log=lines.append)
    prerequisites.require("built", log=lines.append)
    assert lines == ["installing base", "installing built"]


def test_main_prints_the_fix_and_exits_1_as_a_user_without_root(
    parts: dict[str, Debian | Command], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(prerequisites, "is_root", lambda: False)
    assert prerequisites.main(["tool-a"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "prerequisites: tool-a missing; installing needs root. "
        "Run: sudo apt-get install -y --no-install-recommends pkg-a"
    ]


def test_maven_artifacts_are_found_where_maven_puts_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MAVEN_REPO_LOCAL", str(tmp_path))
    path = prerequisites.maven_artifact_path("org.example.zips:thing:1.2.3:zip")
    assert path == tmp_path / "org/example/zips/thing/1.2.3/thing-1.2.3.zip"


def test_a_failing_installer_is_one_line_with_the_command(tmp_path: Path) -> None:
    with pytest.raises(PrerequisiteMissing) as raised:
        prerequisites._run(
            [sys.executable, "-c", "import sys; sys.exit('E: Unable to locate package x')"],
            what="x",
            timeout=60,
        )
    assert "\n" not in str(raised.value)
    assert "failed (1): E: Unable to locate package x" in str(raised.value)


def test_java_major_is_read_from_the_release_file(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").write_text("")
    (tmp_path / "release").write_text('IMPLEMENTOR="x"\nJAVA_VERSION="25.0.1"\n')
    assert prerequisites.java_major(tmp_path) == 25
    assert prerequisites.java_major(tmp_path / "missing") is None


def test_the_module_runs_with_the_standard_library_alone() -> None:
    """tox runs it in an environment with no test dependency: importing it must need nothing else."""
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import sys; sys.path.insert(0, '.'); import tests.harness.prerequisites",
        ],
        cwd=Path(__file__).parents[3],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_a_skipped_test_fails_the_run(tmp_path: Path) -> None:
    """The project's conftest loads the plugin that turns a skip into a failure."""
    from tests import conftest

    assert "tests.harness.no_skips" in conftest.pytest_plugins
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n"
        "def test_skipped():\n    pytest.skip('no server here')\n\n"
        "@pytest.mark.skipif(True, reason='not installed')\n"
        "def test_skipif():\n    pass\n\n"
        "def test_passes():\n    pass\n"
    )
    root = Path(__file__).parents[3]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.harness.no_skips",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_skips.py"),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout
    # A skip in the test body fails it; a skip mark (decided at set-up) is an error: neither is a skip.
    assert "1 failed, 1 passed, 1 error" in result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]
    assert "a skipped test fails here (install the missing part instead)" in result.stdout
    assert "no server here" in result.stdout


def test_npm_is_given_the_machines_ca_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert prerequisites.node_ca_environment({"SSL_CERT_FILE": str(bundle)}) == {
        "NODE_EXTRA_CA_CERTS": str(bundle)
    }
    assert prerequisites.node_ca_environment({"SSL_CERT_FILE": str(bundle), "NODE_EXTRA_CA_CERTS": "x"}) == {}
    assert prerequisites.node_ca_environment({"SSL_CERT_FILE": str(tmp_path / "missing.pem")}) == {}
    assert prerequisites.node_ca_environment({}) == {}
