"""At-rest encryption for secrets kept in the database (OAuth tokens).

Fernet gives authenticated encryption, so a wrong key fails loudly instead of returning garbage.
The key setting may hold several comma-separated keys so a key can be rotated without a window
of unreadable rows: the first key encrypts, every key is tried when decrypting.
"""

import os
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENV_NAME = "THSYNC_ENCRYPTION_KEY"


class CryptoError(Exception):
    """A stored secret could not be decrypted: the encryption key is wrong or has changed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class Cipher:
    """Encrypts text with the first of one or more Fernet keys; decrypts with any of them."""

    def __init__(self, key: str) -> None:
        self._fernet = MultiFernet([_load_key(part) for part in _split_keys(key)])

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise CryptoError() from exc


def generate_key() -> str:
    """A fresh key to put in THSYNC_ENCRYPTION_KEY."""
    return Fernet.generate_key().decode("ascii")


def cipher_from_env(env: Mapping[str, str] = os.environ, name: str = ENV_NAME) -> Cipher | None:
    """The cipher for the key(s) in `env[name]`, or None when the setting is unset or blank."""
    key = env.get(name, "").strip()
    return Cipher(key) if key else None


def _split_keys(key: str) -> list[str]:
    parts = [part.strip() for part in key.split(",") if part.strip()]
    if not parts:
        raise CryptoError("The encryption key setting is empty.")
    return parts


def _load_key(key: str) -> Fernet:
    # Say how to make a good key; the bad key itself must never reach a message or a log.
    try:
        return Fernet(key)
    except (ValueError, TypeError) as exc:
        raise CryptoError(
            "An encryption key is invalid: each key must be 32 url-safe base64-encoded bytes "
            "(make one with thsync.crypto.generate_key())."
        ) from exc
