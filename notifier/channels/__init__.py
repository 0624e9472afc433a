"""Channels: deliver rendered messages to one kind of target (see notifier/targets.py)."""

from __future__ import annotations

from pathlib import Path

from notifier.config import NotificationsConfig
from notifier.model import CONSOLE, EMAIL, FILE, PUSH, SMS, Channel


def build_channels(cfg: NotificationsConfig, base_dir: Path) -> dict[str, Channel]:
    """One channel per kind the receivers use; `file:` paths are relative to `base_dir`."""
    from notifier.channels.apprise_channel import AppriseChannel
    from notifier.channels.local import ConsoleChannel, FileChannel

    timeout = cfg.delivery.timeout
    channels: dict[str, Channel] = {
        EMAIL: AppriseChannel(EMAIL, timeout),
        PUSH: AppriseChannel(PUSH, timeout),
        FILE: FileChannel(base_dir),
        CONSOLE: ConsoleChannel(),
    }
    if cfg.twilio is not None:
        from notifier.channels.sms import TwilioChannel

        channels[SMS] = TwilioChannel(cfg.twilio)
    return channels
