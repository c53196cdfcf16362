"""The private botocore attribute the S3 adapter sets, in one place; tests/contract checks it.

Assuming a role with credentials that refresh themselves needs a botocore session whose credentials
are a ``DeferredRefreshableCredentials``; botocore has no public setter, so this sets
``Session._credentials`` (what ``get_credentials()`` returns), as Airflow's amazon provider does.
"""

from __future__ import annotations

from typing import Any


def set_credentials(session: Any, credentials: Any) -> None:
    """Make ``credentials`` what ``session.get_credentials()`` returns."""
    if not hasattr(session, "_credentials"):
        raise RuntimeError("botocore no longer has Session._credentials; pin botocore to a tested release")
    session._credentials = credentials
