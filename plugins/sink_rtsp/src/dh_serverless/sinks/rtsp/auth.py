"""Basic and digest authentication of RTSP requests (RFC 2617, as RTSP clients use it).

Digest is offered without ``qop`` (the RFC 2069 form live555 servers use and ffmpeg,
VLC and GStreamer answer); nonces are HMACs of their issue time, so none are stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time

__all__ = ("Authenticator",)

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')
_NONCE_LIFETIME = 24 * 3600.0  # ffmpeg keeps one nonce for a whole session


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class Authenticator:
    """Checks the ``Authorization`` header of requests against one user.

    :param scheme: ``basic`` or ``digest``.
    """

    def __init__(self, scheme: str, username: str, password: str, realm: str) -> None:
        self.scheme = scheme
        self.username = username
        self.realm = realm
        self._password = password
        self._secret = os.urandom(16)
        self._ha1 = _md5(f"{username}:{realm}:{password}")

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value of a 401 answer."""
        if self.scheme == "basic":
            return f'Basic realm="{self.realm}"'
        return f'Digest realm="{self.realm}", nonce="{self._nonce()}", algorithm=MD5'

    def check(self, method: str, authorization: str | None) -> bool:
        """Whether ``authorization`` (the header's value) admits a ``method`` request."""
        if not authorization:
            return False
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme.lower() != self.scheme:
            return False
        if self.scheme == "basic":
            return self._check_basic(rest.strip())
        return self._check_digest(method, rest)

    def _check_basic(self, token: str) -> bool:
        try:
            decoded = base64.b64decode(token, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        return hmac.compare_digest(user.encode(), self.username.encode()) & hmac.compare_digest(
            password.encode(), self._password.encode()
        )

    def _check_digest(self, method: str, rest: str) -> bool:
        params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(rest)}
        nonce = params.get("nonce", "")
        if params.get("username") != self.username or not self._nonce_valid(nonce):
            return False
        if params.get("realm") != self.realm:
            return False
        ha2 = _md5(f"{method}:{params.get('uri', '')}")
        qop = params.get("qop")
        if qop:
            nc, cnonce = params.get("nc", ""), params.get("cnonce", "")
            expected = _md5(f"{self._ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
        else:
            expected = _md5(f"{self._ha1}:{nonce}:{ha2}")
        return hmac.compare_digest(expected, params.get("response", "").lower())

    def _nonce(self, issued: int | None = None) -> str:
        stamp = format(int(time.time()) if issued is None else issued, "x")
        mac = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{stamp}{mac}"

    def _nonce_valid(self, nonce: str) -> bool:
        stamp = nonce[:-24]
        try:
            issued = int(stamp, 16)
        except ValueError:
            return False
        if not 0 <= time.time() - issued <= _NONCE_LIFETIME:
            return False
        return hmac.compare_digest(nonce, self._nonce(issued))
