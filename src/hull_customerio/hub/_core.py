"""What [`ConnectorHub`][hull_customerio.ConnectorHub] and
[`AsyncConnectorHub`][hull_customerio.AsyncConnectorHub] share: options, keys, decisions.

The two hubs only perform I/O (build clients, call Hull, download); which tenant a request is
for, which clients serve it, how long settings are trusted and what to answer when something is
missing live here, once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from .._http.ratelimit import workspace_limiter_name
from ..engine._api import (
    NotificationAnswer,
    NotificationEnvelope,
    NotificationGuard,
    log_event,
    prepare_notification,
)
from ..errors import APIError, APIStatusError, ConfigurationError
from ..hull._api import normalize_organization
from ..metrics import Metrics, guarded
from ..models.notification import HullConfiguration
from ..models.report import WebhookOutcome
from ..settings import Settings
from ._answers import missing_workspace_credentials, refused, untrusted_organization
from ._auth import HULL_KEY_HOSTS, ClaimedIdentity, NotificationKeyCache
from ._batch import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_SECONDS,
    DEFAULT_MAX_LINE_BYTES,
)
from ._cache import LeaseCache, TtlCache
from ._download import DOWNLOAD_TIMEOUT, check_limits
from ._errors import UntrustedOrganizationError, UnusableCredentialsError
from ._hosts import trusted_hull_host
from ._tokens import HullCredentials, TokenCodec, build_webhook_url, usable_credentials

__all__ = [
    "DEFAULT_MAX_TENANTS",
    "DEFAULT_SETTINGS_TTL",
    "HubCore",
    "UntrustedOrganizationError",
    "UnusableCredentialsError",
    "WorkspaceKey",
    "limiter_name",
]

logger = logging.getLogger("hull_customerio")

#: Tenants (Hull connectors, Customer.io workspaces) whose clients are kept open at once.
DEFAULT_MAX_TENANTS = 256
#: Seconds a connector's settings read from Hull are trusted before being read again.
DEFAULT_SETTINGS_TTL = 60.0
#: The default request rate per Customer.io workspace, shared by every connector sending to it.
DEFAULT_WORKSPACE_RATE = 100.0


Options = Mapping[str, Any] | Callable[[str], Mapping[str, Any]] | None
H = TypeVar("H")  # the HTTP client public keys are fetched with
R = TypeVar("R")  # the resolver of batch hosts


@attrs.frozen(repr=False)
class WorkspaceKey:
    """Which Customer.io client serves a tenant: the Hull connector and its workspace."""

    hull: HullCredentials
    site_id: str
    api_key: str
    region: str

    def __repr__(self) -> str:
        return f"WorkspaceKey(organization={self.hull.organization!r}, site_id={self.site_id!r})"


def limiter_name(key: WorkspaceKey) -> str:
    """The name of the rate limiter a workspace's clients share (see
    `workspace_limiter_name`): what a ``limiter_factory`` receives."""
    return workspace_limiter_name(key.site_id, key.api_key)


def read_json(body: bytes) -> object:
    """``body`` parsed, or ``None`` when it is not JSON (hostile input included)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def settings_from_app(document: object) -> Settings:
    """The connector's settings from Hull's ``GET /api/v1/app`` answer.

    Raises:
        ConfigurationError: the answer has no ``private_settings`` object, or they are invalid.
    """
    if not isinstance(document, Mapping):
        raise ConfigurationError(["Hull's connector record is not a JSON object"])
    private = document.get("private_settings")
    if private is None:
        private = {}
    if not isinstance(private, Mapping):
        raise ConfigurationError(["Hull's connector record has no private_settings object"])
    return Settings.from_private_settings(private)


def claimed_credentials(envelope: NotificationEnvelope) -> HullCredentials:
    """The credentials an authenticated notification carries (its ``configuration``)."""
    configuration = envelope.configuration
    return HullCredentials(
        normalize_organization(configuration.organization or ""),
        configuration.id or "",
        configuration.secret or "",
    )


def unsendable_answer(
    envelope: NotificationEnvelope, settings: Settings | None
) -> NotificationAnswer:
    """The answer to an authenticated notification whose settings name no usable workspace.

    ``next``, nothing sent: ``unsupported_channel`` for another channel, as a connector
    answers; ``invalid_notification`` for unreadable settings; else ``missing_credentials``.
    """
    site_id = "" if settings is None else settings.site_id or ""
    answer = prepare_notification(envelope, site_id=site_id)
    if isinstance(answer, NotificationAnswer):
        return answer
    return missing_workspace_credentials()


def webhook_refused(
    status: int, reason: str, message: str, cause: Exception | None = None
) -> WebhookOutcome:
    """A webhook answered without forwarding anything (logged without secrets).

    The answer holds ``message`` only; the ``cause`` (what Hull answered...) goes to the log.
    """
    log_event(
        logging.WARNING, "incoming.event.error", reason=reason,
        error=message if cause is None else f"{message} {cause}",
    )  # fmt: skip
    return WebhookOutcome(http_status=status, reason=reason, message=message, event=None)


def invalid_token() -> WebhookOutcome:
    """A webhook whose URL token is missing, altered or sealed under another key."""
    return webhook_refused(401, "invalid_token", "The webhook URL's token is not valid.")


def settings_failure(exc: Exception) -> WebhookOutcome:
    """What to answer Customer.io when the connector's settings could not be read from Hull.

    Nothing is dropped: every case asks Customer.io to send the webhook again later.
    """
    if isinstance(exc, APIStatusError) and exc.status_code in (401, 403):
        return webhook_refused(
            503, "hull_credentials_refused", "Hull refused the connector's credentials."
        )
    if isinstance(exc, APIError):
        return webhook_refused(503, "hull_unavailable", "Hull could not be reached.", exc)
    return webhook_refused(
        503, "invalid_settings", "The connector's settings in Hull are invalid.", exc
    )


def untrusted_webhook() -> WebhookOutcome:
    """A webhook token naming an organization this hub may not call."""
    return webhook_refused(
        403, "untrusted_organization", "The organization is not one this service may call."
    )


class HubCore(Generic[H, R]):
    """The state and decisions both hubs share, and their one constructor.

    `HubFlows` writes the requests' flows over this state and each hub drives them; a hub
    names its own HTTP client type ``H`` (public keys are fetched with it) and resolver type
    ``R`` (batch hosts are looked up with it). The arguments are documented on
    [`ConnectorHub`][hull_customerio.ConnectorHub].

    Raises:
        ConfigurationError: a ``token_key`` under 32 bytes, an unknown mode or a bound below 1
            (``max_batch_seconds``: not above 0).
    """

    def __init__(
        self,
        *,
        token_key: str,
        customerio_options: Options = None,
        hull_options: Options = None,
        notification_public_key: str | None = None,
        trusted_key_hosts: Sequence[str] = HULL_KEY_HOSTS,
        require_signature: bool = True,
        trusted_hull_hosts: Sequence[str] = HULL_KEY_HOSTS,
        mode: str = "v1",
        max_tenants: int = DEFAULT_MAX_TENANTS,
        settings_ttl: float = DEFAULT_SETTINGS_TTL,
        limiter_factory: Callable[[str], Any] | None = None,
        batch_hosts: Sequence[str] | None = None,
        batch_chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_batch_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        max_batch_seconds: float = DEFAULT_MAX_BATCH_SECONDS,
        http_client: H | None = None,
        resolver: R | None = None,
        clock: Callable[[], float] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        problems = []
        if isinstance(max_tenants, bool) or not isinstance(max_tenants, int) or max_tenants < 1:
            problems.append(
                f"max_tenants must be a whole number of at least 1, got {max_tenants!r}"
            )
        problems += check_limits(
            chunk_size=batch_chunk_size,
            max_line_bytes=max_batch_line_bytes,
            max_bytes=max_batch_bytes,
            max_seconds=max_batch_seconds,
        )
        if not isinstance(settings_ttl, int | float) or not settings_ttl >= 0:
            problems.append(f"settings_ttl must be seconds >= 0, got {settings_ttl!r}")
        if mode not in ("v1", "batch"):
            problems.append(f"mode must be 'v1' or 'batch', got {mode!r}")
        if isinstance(trusted_hull_hosts, str) or not all(
            isinstance(host, str) and host.strip(". ") for host in trusted_hull_hosts
        ):
            problems.append(
                "trusted_hull_hosts must be a list of domain names, e.g. ['hullapp.io']"
            )
        if problems:
            raise ConfigurationError(problems)
        self._metrics = guarded(metrics)
        self._codec = TokenCodec(token_key)
        self._given_customerio_options = customerio_options
        self._given_hull_options = hull_options
        self._notification_public_key = notification_public_key
        self._trusted_key_hosts = tuple(trusted_key_hosts)
        self._require_signature = require_signature
        self._trusted_hull_hosts = tuple(trusted_hull_hosts)
        # Public keys fetched from Hull are shared by every connector of the hub.
        self._key_cache = NotificationKeyCache()
        # Checks a raw notification's signature before its body is parsed (and refuses a bad
        # key now rather than on every notification).
        self._body_guard = self._guard(
            NotificationEnvelope(payload={}, configuration=HullConfiguration())
        )
        self._mode = mode
        self._batch_hosts = None if batch_hosts is None else tuple(batch_hosts)
        #: The keyword arguments of ``sync_from`` for this hub's batch limits.
        self._batch_limits: dict[str, Any] = {
            "chunk_size": batch_chunk_size,
            "max_line_bytes": max_batch_line_bytes,
            "max_bytes": max_batch_bytes,
            "max_seconds": float(max_batch_seconds),
        }
        self._limiter_factory = limiter_factory
        self._clock = time.monotonic if clock is None else clock
        self._settings: TtlCache[HullCredentials, Settings] = TtlCache(settings_ttl, max_tenants)
        # Held only for the cache's bookkeeping, never across I/O (threads of the sync hub).
        self._settings_guard = threading.Lock()
        self._limiters: dict[str, tuple[Any, int]] = {}
        self._closed = False
        # The client caches: Hull clients per connector, Customer.io clients per workspace.
        self._hulls: LeaseCache[HullCredentials, Any] = LeaseCache(max_tenants)
        self._workspaces: LeaseCache[WorkspaceKey, Any] = LeaseCache(max_tenants)
        # Which workspace key each cached Customer.io client was built for (its limiter's).
        self._limiter_keys: dict[int, WorkspaceKey] = {}
        self._owns_http = http_client is None
        self._http: H = (
            self._http_type(timeout=DOWNLOAD_TIMEOUT) if http_client is None else http_client
        )
        self._resolver: R = self._resolve_host if resolver is None else resolver
        # Guards the caches and the limiters' counts (threads of the sync hub, and the async
        # hub's event loop, share them); never held while waiting on the network.
        self._lock = threading.Lock()
        # One settings read per connector at a time: a burst of webhooks asks Hull once.
        self._settings_locks: dict[HullCredentials, Any] = {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(tenants={len(self._hulls)}, "
            f"require_signature={self._require_signature!r})"
        )

    # ------------------------------------------------------------------- driver's choices

    #: The HTTP client class; the hub's own client is made with the download timeout.
    _http_type: Callable[..., H]
    #: How batch hosts are looked up unless the hub is given a ``resolver``.
    _resolve_host: R
    #: The lock one read of a connector's settings from Hull holds.
    _settings_lock_type: Callable[[], Any]

    # --------------------------------------------------------------------------- public

    @property
    def require_signature(self) -> bool:
        """Whether notifications must carry a valid Hull signature."""
        return self._require_signature

    @property
    def batch_hosts(self) -> tuple[str, ...] | None:
        """Hosts batch files may come from (``None``: any public host)."""
        return self._batch_hosts

    def webhook_url(
        self, base_url: str, *, organization: str, connector_id: str, secret: str
    ) -> str:
        """The webhook URL to give Customer.io for one connector.

        The URL is ``base_url`` (trailing slashes dropped) + ``/webhook?token=<token>``. The
        token is the connector's credentials under authenticated encryption with the hub's
        ``token_key``: it stays valid for every hub sharing that key, and an altered or
        foreign token is refused. The URL fits Customer.io's 255-character field for a base URL
        of up to 40 characters, an organization of up to 40 and a secret of up to 32.

        Raises:
            ConfigurationError: a credential is empty or longer than 255 bytes.
        """
        credentials = HullCredentials(organization, connector_id, secret)
        if not usable_credentials(credentials):
            raise ConfigurationError(
                ["organization, connector_id and secret must be 1-255 printable ASCII characters"]
            )
        if self._checked_credentials(credentials) is None:
            raise ConfigurationError(
                [f"organization must be a host name under {', '.join(self._trusted_hull_hosts)}"]
            )
        token = self._codec.seal(credentials)
        return build_webhook_url(base_url, token)

    def _open_token(self, query: Mapping[str, str]) -> HullCredentials | None:
        """The credentials of the query's ``token``, or ``None`` (missing, altered, foreign)."""
        token = query.get("token")
        return self._codec.open(token) if isinstance(token, str) else None

    # ------------------------------------------------------------------------------ options

    def _customerio_options(self, site_id: str) -> dict[str, Any]:
        """The keyword arguments for a Customer.io client of workspace ``site_id``."""
        return self._options(self._given_customerio_options, site_id)

    def _hull_options(self, organization: str) -> dict[str, Any]:
        """The keyword arguments for a Hull client of ``organization``."""
        return self._options(self._given_hull_options, organization)

    def _options(self, options: Options, tenant: str) -> dict[str, Any]:
        built = dict(options(tenant) if callable(options) else options or {})
        built.setdefault("metrics", self._metrics)
        return built

    def _workspace_key(self, hull: HullCredentials, settings: Settings) -> WorkspaceKey | None:
        """The key of the Customer.io client for ``settings``, ``None`` without credentials."""
        if not settings.has_credentials:
            return None
        return WorkspaceKey(hull, settings.site_id or "", settings.api_key or "", settings.region)

    # -------------------------------------------------------------------- shared limiters

    def _take_limiter(self, key: WorkspaceKey, default: Callable[[float | None], Any]) -> Any:
        """The limiter of the workspace ``key`` sends to (made on first use), counted as used
        by one more client.

        Clients share a limiter only when they present the same ``site_id`` *and*
        ``api_key``: a request naming another tenant's (public) Site ID with a wrong key gets
        a limiter of its own and cannot spend that tenant's rate.
        """
        name = limiter_name(key)
        found = self._limiters.get(name)
        if found is None:
            if self._limiter_factory is not None:
                limiter = self._limiter_factory(name)
            else:
                rate = self._customerio_options(key.site_id).get(
                    "rate_limit", DEFAULT_WORKSPACE_RATE
                )
                limiter = default(rate)
            found = (limiter, 0)
        self._limiters[name] = (found[0], found[1] + 1)
        return found[0]

    def _drop_limiter(self, key: WorkspaceKey) -> None:
        """One client of the workspace is gone; forget the limiter with its last client."""
        name = limiter_name(key)
        found = self._limiters.get(name)
        if found is None:
            return
        if found[1] <= 1:
            del self._limiters[name]
        else:
            self._limiters[name] = (found[0], found[1] - 1)

    def _limiter_users(self, key: WorkspaceKey) -> int:
        """How many cached clients share the limiter of ``key`` (0: none kept)."""
        found = self._limiters.get(limiter_name(key))
        return 0 if found is None else found[1]

    # -------------------------------------------------------------------- organizations

    def _checked_credentials(self, credentials: HullCredentials) -> HullCredentials | None:
        """``credentials`` with their organization as Hull's URL will be built from it, or
        ``None`` when the organization may not be called (not a host name under
        ``trusted_hull_hosts``). Decided without any network I/O. When the Hull options pin
        ``api_url`` the organization names no host and is not restricted.
        """
        if not usable_credentials(credentials):
            return None
        host = trusted_hull_host(credentials.organization, self._trusted_hull_hosts)
        if host is not None:
            return attrs.evolve(credentials, organization=host)
        return credentials if self._pins_hull_url(credentials.organization) else None

    def _admit(self, credentials: HullCredentials) -> HullCredentials | NotificationAnswer:
        """`_checked_credentials`, or the answer refusing them: 401 ``wrong_connector`` for
        credentials that could not be anyone's, 403 ``untrusted_organization``."""
        if not usable_credentials(credentials):
            return refused("wrong_connector")
        checked = self._checked_credentials(credentials)
        return untrusted_organization() if checked is None else checked

    def _pins_hull_url(self, organization: str) -> bool:
        try:
            return bool(self._hull_options(organization).get("api_url"))
        except Exception:
            return False

    # ------------------------------------------------------------------------- settings

    def _cached_settings(self, hull: HullCredentials) -> Settings | None:
        """The connector's settings read from Hull less than ``settings_ttl`` ago."""
        with self._settings_guard:
            return self._settings.get(hull, self._clock())

    def _remember_settings(self, hull: HullCredentials, settings: Settings) -> None:
        """Remember the settings just read from Hull."""
        with self._settings_guard:
            self._settings.put(hull, settings, self._clock())

    # ------------------------------------------------------------------------ connectors

    def _connector_security(self) -> dict[str, Any]:
        """The notification-authentication arguments of every connector the hub builds."""
        return {
            "notification_public_key": self._notification_public_key,
            "trusted_key_hosts": self._trusted_key_hosts,
            "require_signature": self._require_signature,
            "key_cache": self._key_cache,
        }

    def _guard(self, envelope: NotificationEnvelope) -> NotificationGuard:
        """A guard authenticating ``envelope`` as the connector it claims to be for."""
        configuration = envelope.configuration
        identity = ClaimedIdentity(
            configuration.id or "", configuration.organization or "", configuration.secret or ""
        )
        return NotificationGuard(
            identity,
            public_key=self._notification_public_key,
            trusted_key_hosts=self._trusted_key_hosts,
            require_signature=self._require_signature,
            key_cache=self._key_cache,
        )
