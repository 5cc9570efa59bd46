"""Django's own mail (password reset, admin) goes through the same recording path."""

from __future__ import annotations

from django.core.mail.backends.base import BaseEmailBackend

from npsloop.mail.errors import MailError
from npsloop.mail.services import deliver


class RecordingBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        sent = 0
        for message in email_messages:
            try:
                deliver(message, kind="system")
            except MailError:
                if not self.fail_silently:
                    raise
            else:
                sent += 1
        return sent
