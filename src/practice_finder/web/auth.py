"""API keys: admin keys for writes and /v1/admin; read keys for every route that shows data when
PF_REQUIRE_READ_KEY is on (the API, the pages, /schema, /ready's manifest), and for /metrics when
PF_REQUIRE_METRICS_KEY is on.

Only SHA-256 digests of keys are held (see config.key_digest). A presented key is hashed and compared with
every stored digest in constant time; no comparison stops early, and no key is ever logged.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from practice_finder.config import Settings, key_digest
from practice_finder.errors import AuthenticationError, PermissionDeniedError

ADMIN, READ = "admin", "read"


class KeyRing:
    """The configured key digests and the scope each one grants."""

    def __init__(self, settings: Settings) -> None:
        self.digests = [(d, ADMIN) for d in settings.admin_keys] + [
            (d, READ) for d in settings.read_keys
        ]
        self.require_read_key = settings.require_read_key
        self.require_metrics_key = settings.require_metrics_key

    def scope_of(self, key: str) -> str | None:
        """The scope of a presented key, or None when it matches no configured key."""
        presented = key_digest(key).encode()
        found = None
        for (
            digest,
            scope,
        ) in self.digests:  # every digest is compared: the time does not depend on which matched
            if hmac.compare_digest(presented, digest.encode()) and found != ADMIN:
                found = scope
        return found


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    auth = connection.headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return connection.headers.get("x-api-key") or None


def _scope(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    ring: KeyRing = connection.app.state["keys"]
    key = presented_key(connection)
    if key is None:
        raise AuthenticationError("this route needs an API key")
    scope = ring.scope_of(key)
    if scope is None:
        raise AuthenticationError("the API key is not valid")
    return scope


def require_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of writes and admin routes: 401 without a valid key, 403 with a read key."""
    ring: KeyRing = connection.app.state["keys"]
    if not any(scope == ADMIN for _, scope in ring.digests):
        raise AuthenticationError(
            "writes are switched off: no admin key is configured",
            "set PF_ADMIN_KEYS (make a key with `practice-finder key`) and restart",
        )
    if _scope(connection) != ADMIN:
        raise PermissionDeniedError("this route needs an admin key; the key sent is a read key")


# The `opt` of a route that shows no data (health, static files) or guards itself (/ready, /metrics).
PUBLIC = {"public": True}
NO_CSRF = {"exclude_from_csrf": True}  # a route left out of the CSRF check (web/staff.csrf_config)


def require_reader(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard of the whole application, so a new route is closed unless marked `PUBLIC`: open unless
    PF_REQUIRE_READ_KEY is on; then any valid key will do."""
    ring: KeyRing = connection.app.state["keys"]
    if handler.opt.get("public") or connection.scope.get("method") == "OPTIONS":
        return
    if ring.require_read_key:
        _scope(connection)


def require_metrics_reader(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard of /metrics: open unless PF_REQUIRE_METRICS_KEY is on; then any valid key will do."""
    if connection.app.state["keys"].require_metrics_key:
        _scope(connection)


def may_read(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether this request may see data (for a public route that shows more to a reader)."""
    ring: KeyRing = connection.app.state["keys"]
    key = presented_key(connection)
    return not ring.require_read_key or (key is not None and ring.scope_of(key) is not None)


def is_admin(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether the request carries a valid admin key (for what only staff may read, such as contacts)."""
    key = presented_key(connection)
    return key is not None and connection.app.state["keys"].scope_of(key) == ADMIN


def new_key() -> tuple[str, str]:
    """A fresh random key and the digest to configure (the key itself goes to the client only)."""
    key = secrets.token_urlsafe(32)
    return key, key_digest(key)


def rate_limit_identity(request: Any) -> str:
    """Who a request counts against: its key's digest when it sends one, else its address."""
    key = presented_key(request)
    if key and request.app.state["keys"].scope_of(key):  # random keys do not buy fresh allowances
        return "key:" + key_digest(key)[7:23]
    client = request.client
    return "ip:" + (client.host if client else "unknown")
