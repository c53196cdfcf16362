"""The one patch of the ``elasticsearch`` client, in one place; tests/contract checks it.

The client has no hook to rewrite the ``compatible-with`` media type of every request, so this wraps
``client.transport.perform_request`` (the call every API method ends in), as Airflow's provider does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def rewrite_headers(client: Any, rewrite: Callable[[dict[str, str]], dict[str, str]]) -> None:
    """Pass the headers of every request ``client`` makes through ``rewrite``."""
    transport: Any = getattr(client, "transport", None)
    original = getattr(transport, "perform_request", None)
    if original is None:
        raise RuntimeError(
            "elasticsearch no longer routes requests through client.transport.perform_request; "
            "pin elasticsearch to a tested release"
        )

    @functools.wraps(original)
    def perform_request(*args: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers")
        if headers:
            kwargs["headers"] = rewrite(dict(headers))
        return original(*args, **kwargs)

    transport.perform_request = perform_request
