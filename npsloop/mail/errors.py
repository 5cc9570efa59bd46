from __future__ import annotations


class MailError(Exception):
    """A message could not be handed to the SMTP server."""

    def __init__(self, message: str, *, permanent: bool, recipient_refused: bool = False):
        super().__init__(message)
        # permanent: retrying cannot help (5xx); recipient_refused: the address bounced.
        self.permanent = permanent
        self.recipient_refused = recipient_refused
