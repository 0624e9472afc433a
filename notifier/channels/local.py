"""Channels that need no network: a JSON-lines file (the demo's receiver, easy to tail and
to parse in tests) and a line in ChargeWatch's own log."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from notifier.model import CONSOLE, FILE, DeliveryError, Message

log = logging.getLogger("chargewatch.notifications")


class FileChannel:
    """`file:PATH` targets: appends one JSON object per message and line,
    {"at", "kind", "title", "text", "priority", "notify_type"}, creating missing parent
    directories. A relative PATH is relative to `base_dir` (the config file's directory, like rule
    files; the working directory without a config file)."""

    kind = FILE

    def __init__(self, base_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.base_dir = Path(base_dir)
        self.clock = clock
        self._lock = threading.Lock()  # one line at a time, even from several threads

    def path_of(self, target: str) -> Path:
        path = Path(target.removeprefix("file:").strip()).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def send(self, target: str, message: Message) -> str:
        at = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds")
        record = {
            "at": at.replace("+00:00", "Z"),
            "kind": message.kind,
            "title": message.title,
            "text": message.text,
            "priority": message.priority,
            "notify_type": message.notify_type,
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        path = self.path_of(target)
        try:
            with self._lock:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as file:
                    file.write(line)
                    file.flush()
        except OSError as exc:
            raise DeliveryError(f"cannot append to {path}: {exc.strerror or exc}") from exc
        return ""


class ConsoleChannel:
    """`console:`: one WARNING line per message on the "chargewatch.notifications" logger,
    the title and the first line of the text."""

    kind = CONSOLE

    def send(self, target: str, message: Message) -> str:
        first_line = message.text.strip().partition("\n")[0].strip()
        try:
            if first_line and first_line != message.title:
                log.warning("%s: %s", message.title, first_line)
            else:
                log.warning("%s", message.title or first_line)
        except OSError as exc:  # logging reports its own errors; a custom handler may not
            raise DeliveryError(f"cannot log the notification: {exc}") from exc
        return ""
