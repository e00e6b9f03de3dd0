"""Password hashing (argon2), random tokens and signed cookie values."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeSerializer

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def sign(secret_key: str, value: str, *, salt: str) -> str:
    return URLSafeSerializer(secret_key, salt=salt).dumps(value)


def unsign(secret_key: str, signed: str, *, salt: str) -> str | None:
    """The value inside ``signed``, or None when the signature does not match."""
    try:
        value = URLSafeSerializer(secret_key, salt=salt).loads(signed)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def csrf_token(secret_key: str, seed: str) -> str:
    """The form token that goes with the browser's CSRF cookie ``seed``."""
    return hmac.new(secret_key.encode(), f"csrf:{seed}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret_key: str, seed: str, token: str) -> bool:
    return hmac.compare_digest(csrf_token(secret_key, seed), token)
