"""Files attached to a case through a form field (`"format": "file"`).

A file is stored in the case's `documents`, base64-encoded, with its SHA-256; the form field's
value is a reference `doc:<id>:<name>`. Size and type are checked before anything is written.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata

from sqlalchemy.orm import Session

from engine import clock
from engine.errors import InputInvalid, NotFound
from engine.models import Document

REFERENCE = re.compile(r"^doc:(\d+):")
#: Types accepted when a field names none (`x-accept`).
DEFAULT_TYPES = ("application/pdf", "image/png", "image/jpeg", "text/plain",
                 "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
}


def safe_name(name: str) -> str:
    """A file name without paths or control characters, at most 120 characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*').strip(" .")
    return (name or "liite")[-120:]


def store(session: Session, *, instance_id: int, field: str, name: str, media_type: str,
          content: bytes, max_bytes: int, accept: list[str] | None = None) -> str:
    """Store an attached file for a case; returns the reference to put into the form data.

    Raises `InputInvalid` naming `field` when the file is empty, too large, of a type the field
    does not accept, or its content does not look like its type.
    """
    allowed = accept or list(DEFAULT_TYPES)
    if not content:
        raise InputInvalid([{"field": field, "message": "the file is empty"}])
    if len(content) > max_bytes:
        raise InputInvalid([{"field": field,
                             "message": f"the file is larger than {max_bytes // 1024} KiB"}])
    if media_type not in allowed:
        raise InputInvalid([{"field": field,
                             "message": "the file type is not accepted: " + ", ".join(allowed)}])
    magic = _MAGIC.get(media_type)
    if magic and not content.startswith(magic):
        raise InputInvalid([{"field": field,
                             "message": "the file content does not match its type"}])
    row = Document(instance_id=instance_id, name=safe_name(name), media_type=media_type,
                   content=base64.b64encode(content).decode("ascii"),
                   sha256=hashlib.sha256(content).hexdigest(), created_at=clock.now())
    session.add(row)
    session.flush()
    return f"doc:{row.id}:{row.name}"


def load(session: Session, *, instance_id: int, document_id: int) -> tuple[str, str, bytes]:
    """(name, media type, bytes) of a case's document; `NotFound` for another case's."""
    row = session.get(Document, document_id)
    if row is None or row.instance_id != instance_id:
        raise NotFound(f"document {document_id} not found")
    try:
        content = base64.b64decode(row.content, validate=True)
    except ValueError:
        content = row.content.encode()  # a rendered document is stored as text
    return row.name, row.media_type, content
