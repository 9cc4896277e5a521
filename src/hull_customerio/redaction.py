"""Keep credentials out of log lines written by code that is not the library's.

Hull and Customer.io put a connector's credentials in request URLs (`/status?...&secret=`,
`/batch?...&secret=`, `/webhook?token=`), and a web server's access log writes every URL it
serves. `hull-customerio serve` masks them itself; under another server (or uvicorn started
your own way), put `RedactingFilter` on its loggers:

```python
import logging

from hull_customerio.redaction import RedactingFilter

for name in ("uvicorn.access", "uvicorn.error", "gunicorn.access", "gunicorn.error",
             "hypercorn.access", "hypercorn.error"):
    logging.getLogger(name).addFilter(RedactingFilter())
```

`redact` is the rule itself, for text you write elsewhere.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote_plus

__all__ = ["MASK", "SECRET_WORDS", "RedactingFilter", "redact"]

#: What a masked value reads as.
MASK = "***"

#: A query parameter whose name (decoded, any case, ``-`` read as ``_``) contains one of these
#: words has its value masked: ``secret``, ``Token``, ``api%5Fkey``, ``hull_secret``...
SECRET_WORDS = ("secret", "token", "password", "passwd", "api_key", "apikey")

# Every attribute a plain LogRecord has: what is left over came from `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


# ``name=value`` after a query separator or a space: the value ends at the next separator,
# fragment or space (a quote too is part of a value: masking more is the safe side).
_PARAMETER = re.compile(r"(?P<lead>[?&;\s]|^)(?P<name>[^=&;?#\s]+)=(?P<value>[^&;#\s]*)")
# A URL's user-info: ``scheme://user:password@`` (Redis URLs hold passwords there). The scheme
# is bounded so that a long run of dots and letters costs linear time, not quadratic.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://)(?P<userinfo>[^@/?#\s]+)@")


def _secret_name(name: str) -> bool:
    normal = unquote_plus(name).strip().lower().replace("-", "_")
    return any(word in normal for word in SECRET_WORDS)


def _mask_parameter(match: re.Match[str]) -> str:
    if not match["value"] or not _secret_name(match["name"]):
        return match[0]
    return f"{match['lead']}{match['name']}={MASK}"


def redact(text: str) -> str:
    """``text`` with every credential of a URL masked: secret query values and user-info.

    ``/status?organization=o&id=i&secret=s`` becomes ``/status?organization=o&id=i&secret=***``
    (the values of every parameter named as `SECRET_WORDS` says, however it is cased, repeated
    or percent-encoded); ``redis://:pw@host:6379`` becomes ``redis://***@host:6379``.
    """
    if "=" in text:
        text = _PARAMETER.sub(_mask_parameter, text)
    if "://" in text:
        text = _USERINFO.sub(lambda match: f"{match['scheme']}{MASK}@", text)
    return text


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (int, float)):
        return value  # kept as they are for %d and %f
    shown = str(value)
    masked = redact(shown)
    return value if masked == shown else masked


class RedactingFilter(logging.Filter):
    """Masks credentials (see `redact`) in a record's message, arguments, fields and traceback.

    uvicorn's access records keep their shape (a tuple of client, method, path, HTTP version
    and status), so its own formatters still work; only the path's secret values change.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redacted(arg) for arg in args)
        elif isinstance(args, Mapping):
            record.args = {key: _redacted(value) for key, value in args.items()}
        for key, value in vars(record).items():
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
