"""Log lines of the service: one JSON object per line (or plain text), each with the request's id."""

from __future__ import annotations

import contextvars
import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        # uvicorn's copy of the message with terminal colours
        record.__dict__.pop("color_message", None)
        return True


def configure_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    """One JSON object per line on stderr (`fmt="text"`: plain lines), each with the request id.

    Nothing logs headers or bodies: keys and the text people search for stay out of the logs.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(levelname)s %(name)s %(message)s %(request_id)s",
                timestamp="time",
                rename_fields={"levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    for name in ("practice_finder", "uvicorn", "uvicorn.error", "litestar"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(level)
    logging.getLogger(
        "uvicorn.access"
    ).disabled = True  # our own access line carries the request id


def uvicorn_log_config() -> dict[str, Any]:
    """Leave uvicorn's loggers to configure_logging (called when the app is made)."""
    return {"version": 1, "disable_existing_loggers": False}
