"""Typed errors of the Label Studio connector.

Callers branch on these, never on SDK or httpx exceptions, so that the SDK stays an implementation detail of this
package. Messages name the server URL and what was attempted, never a token.
"""

from __future__ import annotations


class LabelStudioError(Exception):
    """Base class: any failure talking to, or setting up, Label Studio."""


class LabelStudioAuthError(LabelStudioError):
    """The server answered 401/403: the token is wrong, expired, or the legacy token scheme is disabled."""


class LabelStudioUnavailable(LabelStudioError):
    """The server could not be reached (connection refused, timeout, DNS): retrying later may help."""


class LabelStudioRequestError(LabelStudioError):
    """The server answered with an unexpected status; ``status_code`` says which."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ProjectConfigMismatch(LabelStudioError):
    """A project found by its key has a different labeling config than the one asked for.

    Label Studio silently accepts a config that drops labels already used by annotations, so we never overwrite a
    config implicitly: the caller decides (new key, or a deliberate migration).
    """


class ServerSetupError(LabelStudioError):
    """The local server could not be installed, started, or stopped."""


class PortInUseError(ServerSetupError):
    """The requested port is taken by another process (Label Studio itself would silently move to port+1)."""
