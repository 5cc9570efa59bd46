"""Sending email: every message becomes an OutboundEmail row first."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.utils import timezone

from npsloop.accounts.models import Organization
from npsloop.mail.errors import MailError
from npsloop.mail.models import OutboundEmail
from npsloop.web.dbretry import retry_on_disconnect


def outbox_mode() -> bool:
    return settings.NPSLOOP_EMAIL["mode"] == "outbox"


def _smtp_backend() -> SmtpBackend:
    cfg = settings.NPSLOOP_EMAIL
    return SmtpBackend(
        host=cfg["host"],
        port=cfg["port"],
        username=cfg["username"] or None,
        password=cfg["password"] or None,
        use_tls=cfg["use_tls"],
        use_ssl=cfg["use_ssl"],
        timeout=settings.EMAIL_TIMEOUT,
        fail_silently=False,
    )


def _classify(exc: Exception) -> MailError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return MailError(
            f"recipient refused: {exc.recipients}", permanent=permanent, recipient_refused=permanent
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return MailError(
            f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500
        )
    return MailError(f"{type(exc).__name__}: {exc}", permanent=False)


def deliver(
    message: EmailMessage,
    *,
    kind: str,
    organization: Organization | None = None,
    ref: str = "",
) -> OutboundEmail:
    """Record the message, then send it over SMTP or keep it in the outbox.

    Raises MailError when SMTP fails; the row then says why.
    """
    mime = message.message()
    record = OutboundEmail.objects.create(
        organization=organization,
        kind=kind,
        ref=ref,
        to=", ".join(message.recipients()),
        from_email=message.from_email or settings.DEFAULT_FROM_EMAIL,
        subject=str(message.subject)[:998],
        message_id=mime.get("Message-ID", ""),
        raw=mime.as_string(),
    )
    if outbox_mode():
        _finish(record, OutboundEmail.Status.OUTBOX)
        return record
    try:
        _smtp_backend().send_messages([message])
    except (smtplib.SMTPException, OSError) as exc:
        error = _classify(exc)
        _finish(record, OutboundEmail.Status.FAILED, str(error))
        raise error from exc
    _finish(record, OutboundEmail.Status.SENT)
    return record


def _finish(record: OutboundEmail, status: str, error: str = "") -> None:
    # After a send, the record must be written even across a short database outage.
    retry_on_disconnect(
        lambda: OutboundEmail.objects.filter(pk=record.pk).update(
            status=status, error=error, finished_at=timezone.now()
        )
    )
    record.status, record.error = status, error
