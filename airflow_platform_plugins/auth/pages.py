"""The small HTML pages a browser sees when sign-on refuses it, or after logout."""

from __future__ import annotations

from html import escape

_TITLES = {401: "Sign-in failed", 403: "Access refused", 503: "Sign-in unavailable"}


def render(title: str, message: str, detail: str = "", link: tuple[str, str] | None = None) -> str:
    """A self-contained page (no scripts, no external resources); every value is escaped."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)} - Airflow</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;"
        "color:#1a202c}h1{font-size:1.5rem}p.reason{font-size:1.1rem;padding:.75rem 1rem;"
        "background:#fff5f5;border-left:4px solid #e53e3e}</style>",
        "</head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="reason" id="reason">{escape(message)}</p>',
    ]
    if detail:
        parts.append(f"<p>{escape(detail)}</p>")
    if link is not None:
        parts.append(f'<p><a href="{escape(link[0], quote=True)}">{escape(link[1])}</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def refusal(status: int, reason: str, header_name: str) -> str:
    """The page for a refused request: what was wrong, and what to do."""
    if status == 403:
        detail = (
            "Your identity was verified, but Airflow does not let it in. Ask your Airflow administrators."
        )
    elif status == 503:
        detail = "Airflow cannot check sign-ins right now. Try again in a minute."
    else:
        detail = (
            f"Airflow signs you in with the token your sign-in proxy sends in the {header_name} header. "
            "Sign in again through the proxy; if this keeps happening, ask your Airflow administrators."
        )
    return render(_TITLES.get(status, "Sign-in failed"), reason, detail)
