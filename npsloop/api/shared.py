from __future__ import annotations

from npsloop.api.schemas import ErrorOut

# Every endpoint can answer with the one error body.
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
          422: ErrorOut, 429: ErrorOut}  # fmt: skip
# Endpoints that read a request body may also find it too large.
BODY_ERRORS = {**ERRORS, 413: ErrorOut}
