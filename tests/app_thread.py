"""A real App on its own event loop in a thread, for tests that drive it with blocking
clients (hypothesis and schemathesis examples are synchronous) and start it once per module."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

from conftest import make_config

from chargewatch.app import App


class ErrorLog(logging.Handler):
    """Every ERROR record (a handler or task that failed) while it is installed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


class AppThread:
    """`with AppThread(data_dir, yaml) as app:` — started and stopped on its own loop."""

    def __init__(self, data_dir: Path, yaml_text: str = "") -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.loop_errors: list[dict[str, Any]] = []  # exceptions nobody retrieved
        self.loop.set_exception_handler(lambda _loop, context: self.loop_errors.append(context))
        self.thread = threading.Thread(target=self.loop.run_forever, name="app", daemon=True)
        self.app = App(make_config(data_dir, yaml_text))
        self.errors = ErrorLog()

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> AppThread:
        logging.getLogger().addHandler(self.errors)
        self.thread.start()
        self.run(self.app.start())
        return self

    def __exit__(self, *_: Any) -> None:
        try:
            self.run(self.app.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
            self.loop.close()
            logging.getLogger().removeHandler(self.errors)

    def serving(self) -> bool:
        server = self.app.ocpp._server if self.app.ocpp else None
        return self.thread.is_alive() and server is not None and server.is_serving()
