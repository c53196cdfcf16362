"""README.md is the package's page on PyPI, where relative links break: every link must be absolute."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "https://github.com/airflow-platform-plugins/airflow-platform-plugins/"
# Inline links and images, and reference definitions ("[name]: target").
_INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?(?P<target>[^)\s>]+)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(?P<target>\S+?)>?(?:\s|$)", re.MULTILINE)
_HTML = re.compile(r"""(?:href|src)\s*=\s*["'](?P<target>[^"']+)["']""")


def links(markdown: str) -> list[str]:
    """Every link target in ``markdown`` outside code (fenced blocks and inline code are dropped)."""
    text = re.sub(r"^(```|~~~).*?^\1", "", markdown, flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [m["target"] for pattern in (_INLINE, _REFERENCE, _HTML) for m in pattern.finditer(text)]


def repository_path(url: str) -> Path | None:
    """The file a link into this repository's main branch names (``None`` for other sites)."""
    for kind in ("blob/main/", "tree/main/", "raw/main/"):
        if url.startswith(REPOSITORY + kind):
            return ROOT / url.removeprefix(REPOSITORY + kind).split("#", 1)[0].split("?", 1)[0]
    return None


README_LINKS = links((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_has_links_to_check() -> None:
    assert len(README_LINKS) >= 10


@pytest.mark.parametrize("target", README_LINKS)
def test_readme_link_is_absolute(target: str) -> None:
    assert re.match(r"https?://", target), f"README link {target!r} is relative and breaks on PyPI"


@pytest.mark.parametrize("target", [t for t in README_LINKS if repository_path(t) is not None])
def test_readme_link_into_the_repository_names_an_existing_file(target: str) -> None:
    path = repository_path(target)
    assert path is not None
    assert path.exists(), f"README links to {target}, but {path.relative_to(ROOT)} does not exist"
    assert path.is_dir() == ("/tree/main/" in target), (
        f"{target}: use /blob/ for files and /tree/ for folders"
    )


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("see [a](docs/a.md) and ![p](img.png)", ["docs/a.md", "img.png"]),
        ("[ref]: https://x.org/y\n", ["https://x.org/y"]),
        ('<a href="docs/b.md">b</a>', ["docs/b.md"]),
        ("```\n[not](a-link)\n```\n`[nor](this)`", []),
    ],
)
def test_link_finder(markdown: str, expected: list[str]) -> None:
    assert links(markdown) == expected


def test_documentation_url_is_the_sites_index() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    documentation = re.search(r'^Documentation = "([^"]+)"', pyproject, re.MULTILINE)
    site_url = re.search(
        r"^site_url:\s*(\S+)", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.MULTILINE
    )
    assert documentation is not None
    assert site_url is not None
    assert documentation[1] == site_url[1]
