"""A small tmpfs mounted over a folder, to fill a disk on purpose (needs root, as the CI runs)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (``256k``) on ``folder`` (created if missing); unmount it afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)]
    mounted = subprocess.run(mount, capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a tmpfs (the suite runs as root): {mounted.stderr}"
    try:
        yield folder
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "-l", str(folder)], check=True, capture_output=True)
