"""Station passwords (OCPP security profile 1/2 HTTP Basic), stored as scrypt hashes.

    hashed = hash_password("0123456789abcdef")
    # 'scrypt$16384$8$1$<salt>$<hash>'  (salt and hash: base64url without padding)
    verify_password("0123456789abcdef", hashed)   # True

One string holds the algorithm, its parameters, a random 16-byte salt per password and the
32-byte key, so parameters can grow later and old hashes still verify (`needs_rehash` says
which ones to replace). scrypt's n=2**14, r=8, p=1 is Django's default for user passwords:
~16 MiB and ~50 ms of one core per hash here. Station passwords are usually long random
strings, so this is plenty; it is chosen so a handshake stays cheap, and the store-backed
domain remembers a verified password for the life of the process (domain/store_domain.py).

The functions are CPU-bound and blocking: call them off the event loop (the domain runs them
on its own small thread pool; hashlib releases the GIL while it hashes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

SCHEME = "scrypt"
N = 2**14  # CPU/memory cost
R = 8  # block size
P = 1  # parallelism
SALT_BYTES = 16
KEY_BYTES = 32
# A stored hash names its own cost; refuse absurd ones instead of allocating gigabytes.
MAX_N = 2**20
MAX_RP = 64


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # OpenSSL needs room for 128*r*(n+p+2) bytes; its default limit (32 MiB) is too tight
    # for anything above n=2**14.
    maxmem = 128 * r * (n + p + 2) + 2**20
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=length
    )


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """`scrypt$n$r$p$salt$hash` for a non-empty password, with a fresh random salt."""
    if not isinstance(password, str):
        raise TypeError(f"password must be a str, not {type(password).__name__}")
    if not password:
        raise ValueError("password must not be empty")
    _check_cost(n, r, p)
    salt = os.urandom(SALT_BYTES)
    key = _scrypt(password, salt, n, r, p, KEY_BYTES)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(key)}"


def parse_hash(hashed: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, key) of a stored hash; ValueError if it is not one of ours."""
    parts = hashed.split("$") if isinstance(hashed, str) else []
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError("not a scrypt$n$r$p$salt$hash password hash")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error):
        raise ValueError("malformed scrypt password hash") from None
    _check_cost(n, r, p)
    if not salt or len(key) < 16:
        raise ValueError("scrypt password hash: salt or key too short")
    return n, r, p, salt, key


def verify_password(password: str, hashed: str) -> bool:
    """True if `password` matches `hashed` (constant-time comparison).

    ValueError if `hashed` is malformed: a broken stored hash is an operator's problem to
    see, not a wrong password.
    """
    n, r, p, salt, key = parse_hash(hashed)
    if not isinstance(password, str):
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(key)), key)


def needs_rehash(hashed: str) -> bool:
    """True if `hashed` was made with other parameters than today's (rehash on next login)."""
    try:
        n, r, p, _, key = parse_hash(hashed)
    except ValueError:
        return True
    return (n, r, p, len(key)) != (N, R, P, KEY_BYTES)


def _check_cost(n: int, r: int, p: int) -> None:
    if n < 2 or n & (n - 1) or n > MAX_N:
        raise ValueError(f"scrypt n must be a power of 2 between 2 and {MAX_N}, got {n}")
    if not (1 <= r <= MAX_RP and 1 <= p <= MAX_RP):
        raise ValueError(f"scrypt r and p must be between 1 and {MAX_RP}, got r={r} p={p}")
