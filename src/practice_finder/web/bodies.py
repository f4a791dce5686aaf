"""Where request bodies are decoded, for every route: a body the decoder cannot take is the client's error.

Litestar turns msgspec's `DecodeError` into a 400, but two failures of a well-formed request stream
escape it as 500s: JSON nested deeper than Python's recursion limit (`RecursionError`) and strings that
are not UTF-8 (`UnicodeDecodeError`). Both are refused here as a 400 naming the body.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException


class BodyRequest(Request[Any, Any, Any]):
    """Litestar's request, with the JSON body's decoding failures answered as 400s."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException("the JSON is nested too deeply") from None
        except UnicodeDecodeError as exc:
            raise ClientException(
                f"the body is not valid UTF-8 (byte {exc.start} of a string)"
            ) from None
