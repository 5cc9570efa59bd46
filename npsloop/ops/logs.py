"""Log records with the request id, and a JSON formatter (one object per line).

LOG_FORMAT=json turns the formatter on (settings.LOGGING); the filter runs in
both formats, so `%(request_id)s` may be used in a plain format too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from npsloop.ops.context import current

# Attributes every LogRecord has; anything else was passed with `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}
# Extras never written: Django's "django.request" lines carry the request object,
# whose repr holds the query string.
_NEVER = {"request", "password", "token", "secret", "authorization"}
_PLAIN = (str, int, float, bool, type(None))


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record; hides link tokens in Django's request lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current()
        if not hasattr(record, "request_id"):
            record.request_id = ctx.request_id if ctx else None
        if (
            ctx is not None
            and ctx.safe_path != ctx.path
            and record.name.startswith("django.")
            and isinstance(record.args, tuple)
        ):
            # "Not Found: /r/<token>/" and the like: the path is an argument.
            record.args = tuple(ctx.safe_path if a == ctx.path else a for a in record.args)
        return True


class JsonFormatter(logging.Formatter):
    """time (ISO 8601, UTC), level, logger, message, request_id, extras, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key in entry or key.startswith("_"):
                continue
            if key.lower() in _NEVER or not isinstance(value, _PLAIN):
                continue
            entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
