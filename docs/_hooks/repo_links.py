"""MkDocs hook: links from a page to a file outside docs/ point at that file in the repository.

The pages link to ``../helm-values/...`` and the like, which works on GitHub. The site holds only
docs/, so such links become absolute links to the repository; a link to a file that does not exist
fails the (strict) build.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

REPOSITORY_BLOB = "https://github.com/airflow-platform-plugins/airflow-platform-plugins/blob/main/"
_LINK = re.compile(r"\]\((?P<target>\.\./[^)#\s]+)(?P<anchor>#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Rewrite ``](../path)`` links that leave docs/ into repository links."""
    docs_dir = Path(config["docs_dir"]).resolve()
    repo_root = docs_dir.parent
    page_dir = (docs_dir / page.file.src_path).parent

    def rewrite(match: re.Match[str]) -> str:
        target = (page_dir / match["target"]).resolve()
        if target.is_relative_to(docs_dir):
            return match[0]
        if not target.is_relative_to(repo_root) or not target.exists():
            raise PluginError(
                f"{page.file.src_path}: link to {match['target']}, which is not in the repository"
            )
        return f"]({REPOSITORY_BLOB}{target.relative_to(repo_root).as_posix()}{match['anchor'] or ''})"

    return _LINK.sub(rewrite, markdown)
