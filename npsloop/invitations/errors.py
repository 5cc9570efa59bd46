from __future__ import annotations


class InvitationRefused(Exception):
    """The contact cannot be invited (unsubscribed, bounced, survey archived)."""
