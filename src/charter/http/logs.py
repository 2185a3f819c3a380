"""Log lines as text (for people) or JSON (for collectors), chosen by ``--log-format``.

``CHARTER_LOG_FORMAT`` sets it when the option is not given.

A JSON line is one object: ``time`` (UTC, RFC 3339), ``level``, ``logger``,
``message``, ``request_id`` (the HTTP request it belongs to, ``-`` outside one),
and ``trace_id``/``span_id`` when tracing is on; an exception adds ``exc``.
Uvicorn's own loggers are routed through the same handler, so a process writes
one format only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from enum import StrEnum
from typing import Any

from charter.errors import InvalidInput
from charter.http.observe import REQUEST_ID

FORMAT_ENV = "CHARTER_LOG_FORMAT"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def log_format(option: str | None) -> LogFormat:
    """The option if given, else ``CHARTER_LOG_FORMAT``, else text; anything else is refused."""
    value = option or os.environ.get(FORMAT_ENV) or LogFormat.TEXT.value
    try:
        return LogFormat(value.strip().lower())
    except ValueError:
        field = "log_format" if option else FORMAT_ENV
        raise InvalidInput(f"log format must be text or json, not {value!r}", field=field) from None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": REQUEST_ID.get(),
        }
        span = _span_ids()
        if span is not None:
            line["trace_id"], line["span_id"] = span
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _span_ids() -> tuple[str, str] | None:
    from charter.http import tracing

    if tracing.tracer() is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


_TEXT = "%(levelname)s %(name)s: %(message)s"


def configure_logging(fmt: LogFormat, level: str) -> dict[str, Any]:
    """Set the root logger's format and level; returns the matching uvicorn ``log_config``."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == LogFormat.JSON else logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if fmt == LogFormat.JSON else {"format": _TEXT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"charter": formatter},
        "handlers": {
            "charter": {
                "class": "logging.StreamHandler",
                "formatter": "charter",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["charter"], "level": level.upper()},
        "loggers": {
            name: {"handlers": ["charter"], "level": level.upper(), "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


__all__ = ["FORMAT_ENV", "JsonFormatter", "LogFormat", "configure_logging", "log_format"]
