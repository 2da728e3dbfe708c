"""Sending e-mail over SMTP (`VIRTA_SMTP_URL`, e.g. `smtp://127.0.0.1:1025`)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

from engine.notifications import RenderedEmail

#: The sender address of Virta's mail.
FROM_ADDRESS = "virta@localhost"


class SmtpMailer:
    """Sends each mail in its own SMTP session; raises on failure so that the outbox retries."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps"):
            raise ValueError(f"VIRTA_SMTP_URL must be smtp:// or smtps://, not {url!r}")
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or (465 if parsed.scheme == "smtps" else 25)
        self.ssl = parsed.scheme == "smtps"
        self.user = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.timeout = timeout

    def __call__(self, mail: RenderedEmail) -> None:
        message = EmailMessage()
        message["From"] = FROM_ADDRESS
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = mail.message_id
        message.set_content(mail.body)
        cls = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
        with cls(self.host, self.port, timeout=self.timeout) as smtp:
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


def make_mailer(url: str | None) -> SmtpMailer | None:
    """The mailer for `VIRTA_SMTP_URL`, or None when e-mail is off."""
    return SmtpMailer(url) if url else None
