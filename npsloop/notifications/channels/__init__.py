"""Channels: each module sends one delivery to one kind of receiver.

Every module has `send(channel, delivery) -> Outcome` and raises ChannelError on
failure; `CHANNELS` maps the Channel.Kind value to that function.
"""

from __future__ import annotations

from collections.abc import Callable

from npsloop.notifications.channels.base import ChannelError, Outcome

__all__ = ["ChannelError", "Outcome", "sender_for"]


def sender_for(kind: str) -> Callable:
    # Imported on use: a vendor module is only loaded where that vendor is configured.
    from importlib import import_module

    return import_module(f"npsloop.notifications.channels.{kind}").send
