"""Unguessable links to tickets: the token printed in a ticket's QR code (docs/protocol.md, "Ticket links").

Ticket ids are sequential (``20261203-A012``), so a status page addressed by id can be enumerated. The
controller gives every issued ticket a ``token``: an HMAC-SHA256 of the ticket id under a key that only
the controller holds (kept in its store), cut to 128 bits and written in URL-safe base64 (22 characters).
Without the key a token cannot be derived from the id, and 2^128 guesses make enumeration pointless. The
hub learns each token from the ``ticket.issued`` event and serves the status page at ``/t/{token}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

#: The token's length in bytes (128 bits) and in characters.
TOKEN_BYTES = 16
TOKEN_CHARS = 22
#: What a token looks like (hub routes refuse anything else before touching the store).
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{22}$"
_TOKEN = re.compile(TOKEN_PATTERN)
#: The length of a new key, in bytes.
KEY_BYTES = 32


def new_key() -> bytes:
    """A new random key for :class:`TicketLinks`."""
    return secrets.token_bytes(KEY_BYTES)


def looks_like_token(text: str) -> bool:
    """True when ``text`` has the form of a ticket token."""
    return bool(_TOKEN.match(text))


class TicketLinks:
    """Derives the token of a ticket id under one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a ticket link key needs at least 16 bytes")
        self._key = key

    def token(self, ticket_id: str) -> str:
        """The ticket's token: 22 URL-safe characters, the same for the same id and key."""
        mac = hmac.new(self._key, ticket_id.encode("utf-8"), hashlib.sha256).digest()[:TOKEN_BYTES]
        return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")
