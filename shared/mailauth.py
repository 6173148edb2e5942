"""Each store's own credentials at the platform's mail relay, derived from one relay key:
the username is the store's id, the password HMAC-SHA256(relay key, store id). The
provisioner computes a store's password into the store's `store-smtp` Secret; the relay
(`services.mailrelay`) checks a login by computing it again, so no table of passwords
exists and no secret shared between stores ever lands in a store namespace. A store that
reads its own password learns nothing about another store's, nor about the key.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac

# Domain separation: the relay key derives nothing but mail passwords.
_CONTEXT = b"storefleet mail relay password v1\x00"
MIN_KEY_BYTES = 32


def store_mail_password(key: bytes, store_id: str) -> str:
    """The password store `store_id` logs in to the relay with (hex, 64 characters)."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the mail relay key must be at least {MIN_KEY_BYTES} bytes")
    return hmac.new(key, _CONTEXT + store_id.encode(), hashlib.sha256).hexdigest()


def is_store_mail_password(key: bytes, store_id: str, password: str) -> bool:
    """Whether `password` is store `store_id`'s, compared in constant time."""
    expected = store_mail_password(key, store_id).encode()
    return hmac.compare_digest(expected, password.encode(errors="replace"))
