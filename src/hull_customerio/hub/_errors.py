"""The hub's own refusals, as exceptions its flows raise and its answers map."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConfigurationError

__all__ = ["UntrustedOrganizationError", "UnusableCredentialsError"]


class UnusableCredentialsError(ConfigurationError):
    """No Hull client can be built for these credentials (say, an organization that is not a
    host name): whoever sent them is answered as refused, never with a crash."""


class UntrustedOrganizationError(UnusableCredentialsError):
    """The organization a request names is not a host name under the hub's
    ``trusted_hull_hosts``: nothing was sent to it."""

    def __init__(self, problems: Sequence[str] | None = None) -> None:
        super().__init__(
            list(problems)
            if problems is not None
            else ["the organization is not a Hull organization this service may call"]
        )
