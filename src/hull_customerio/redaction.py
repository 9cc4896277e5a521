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

from ._logging import MASK, SECRET_WORDS, RedactingFilter, redact

__all__ = ["MASK", "SECRET_WORDS", "RedactingFilter", "redact"]
