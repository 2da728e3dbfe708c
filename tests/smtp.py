"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, collecting what it receives.

    with SmtpServer() as server:
        mailer = SmtpMailer(server.url)
        ...
        [mail] = server.wait_for(1)
        assert mail["Subject"] == "..."

Messages are parsed with `email.policy.default`, so headers come back decoded (a Finnish subject
reads as sent). `stop()` takes the server down and `start()` brings it back on the same port, to
test what a mail server that is down does to the outbox.
"""

from __future__ import annotations

import email
import threading
import time
from email import policy
from email.message import Message
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

from tests.services import free_port

__all__ = ["SmtpServer"]


class _Collector:
    """aiosmtpd handler: parses each mail and hands it to the server object."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        message = email.message_from_bytes(content, policy=policy.default)
        self._server._received(message, list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class SmtpServer:
    """An SMTP server over TCP on 127.0.0.1 and a free port; a context manager."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._lock = threading.Condition()
        self._messages: list[Message] = []
        #: The envelope recipients of each message, in the order received.
        self._recipients: list[list[str]] = []
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """`smtp://127.0.0.1:PORT`, as `VIRTA_SMTP_URL` takes it."""
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[Message]:
        """A copy of the messages received so far, oldest first."""
        with self._lock:
            return list(self._messages)

    @property
    def recipients(self) -> list[list[str]]:
        """The envelope recipients (RCPT TO) of each received message."""
        with self._lock:
            return [list(r) for r in self._recipients]

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> SmtpServer:
        """Listen (again) on this server's port."""
        if self._controller is not None:
            return self
        controller = Controller(_Collector(self), hostname=self.host, port=self.port,
                                ready_timeout=10.0)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until `start` is called again."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def clear(self) -> None:
        """Forget the messages received so far."""
        with self._lock:
            self._messages.clear()
            self._recipients.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Message]:
        """Wait until at least `count` messages arrived; return them all.

        Raises `AssertionError` naming what did arrive when `timeout` seconds pass first.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    subjects = [m["Subject"] for m in self._messages]
                    raise AssertionError(f"expected {count} mails within {timeout} s, got "
                                         f"{len(subjects)}: {subjects}")
                self._lock.wait(left)
            return list(self._messages)

    def _received(self, message: Message, recipients: list[str]) -> None:
        with self._lock:
            self._messages.append(message)
            self._recipients.append(recipients)
            self._lock.notify_all()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
