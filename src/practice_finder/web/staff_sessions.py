"""The staff sign-in's server-side session, with a new identifier at every sign-in.

Litestar's `ServerSideSessionBackend` keeps whatever identifier the browser's cookie holds (even
one the store never issued) and has no call to replace it, so a session opened over a planted
cookie would be signed in under an identifier someone else knows (session fixation). This backend
adds the one thing missing: after `renew_session(request, data)` the response deletes the old
identifier's data from the store and sets a new random identifier. Signing out is Litestar's own
`request.clear_session()`, which deletes the data; here the emptied cookie also expires at once
(Litestar's own keeps its `Max-Age`, so the browser would hold a dead cookie for hours). A session
with nothing in it (a visitor who has not signed in) is not stored at all: Litestar's backend writes
one file per such request, which anyone could use to fill the store.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.types import Empty, Message, ScopeSession
from litestar.utils.dataclass import extract_dataclass_items

RENEW = "practice_finder.renew_session"  # the request's state key that asks for a new identifier


def renew_session(request: Request[Any, Any, Any], data: dict[str, Any]) -> None:
    """Replace the session with `data` under a new identifier; the old one is deleted."""
    request.set_session(data)
    request.scope["state"][RENEW] = True


class RenewingSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side backend, with a new identifier when the handler asked for one."""

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection
    ) -> None:
        store = self.config.get_store_from_app(connection.scope["app"])
        session_id = self.get_session_id(connection)
        if connection.scope["state"].pop(RENEW, False):
            await self.delete(session_id, store=store)
            session_id = self.generate_session_id()
        params = dict(
            extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys())
        )
        headers = MutableScopeHeaders.from_message(message)
        if scope_session is Empty or not scope_session:
            if connection.cookies.get(self.config.key) in (None, "", "null"):
                return  # nothing to store and no cookie to expire
            await self.delete(session_id, store=store)
            params.update(max_age=0, expires=0)
            cookie = Cookie(key=self.config.key, value="null", **params)
        else:
            data = self.serialize_data(scope_session, connection.scope)
            await self.set(session_id=session_id, data=data, store=store)
            cookie = Cookie(key=self.config.key, value=session_id, **params)
        headers.add("Set-Cookie", cookie.to_header(header=""))


class RenewingSessionConfig(ServerSideSessionConfig):
    """`ServerSideSessionConfig` whose middleware uses `RenewingSessionBackend`."""

    _backend_class = RenewingSessionBackend
