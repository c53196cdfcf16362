"""The one error type every backend raises to the shared shipping and reading code."""

from __future__ import annotations


class RemoteLogError(Exception):
    """A call to the remote log store (object store, Elasticsearch, stdout) failed.

    ``permanent`` marks a configuration problem (missing bucket, refused credentials) that retrying
    will not fix until someone changes ``setting``; other failures are treated as transient.
    """

    def __init__(self, message: str, *, permanent: bool = False, setting: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.setting = setting

    def __str__(self) -> str:
        if self.setting:
            return f"{self.message} (check {self.setting})"
        return self.message
