"""Chat session ids issued by the server: random, and signed so a client cannot make one up.

A token is ``<conversation id>.<signature>``. The conversation id (32 hex digits from
the OS random source) is what Rasa and the handoff tables see; the signature proves
the server issued it, so sending someone else's guessable or invented id gets a new
conversation instead of theirs.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Optional


class SessionSigner:
    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("a secret key is required to sign session ids")
        self._key = secret_key.encode()

    def _sign(self, conversation_id: str) -> str:
        return hmac.new(self._key, conversation_id.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self) -> str:
        conversation_id = secrets.token_hex(16)
        return f"{conversation_id}.{self._sign(conversation_id)}"

    def verify(self, token: object) -> Optional[str]:
        """The conversation id of a token this server issued, else None."""
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 100 or not token.isascii():
            return None
        conversation_id, signature = token.split(".")
        if len(conversation_id) != 32 or not hmac.compare_digest(signature, self._sign(conversation_id)):
            return None
        return conversation_id
