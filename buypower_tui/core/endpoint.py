"""Where a key may be sent. The live key goes only over HTTPS to BuyPower's live API; a
plain-HTTP URL is only ever a sandbox on this machine (anything else could be read on the
way, or be a server that collects keys)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LIVE_URL = "https://api.buypower.ng/v2"
SANDBOX_URL = "https://idev.buypower.ng/v2"
LIVE_HOST = "api.buypower.ng"


def is_loopback(host: str | None) -> bool:
    host = (host or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname)):
        return None
    return (f"refused to send the API key to {url}: plain HTTP is only for a sandbox on this machine "
            "(127.0.0.1, ::1 or localhost); any other server must use https://")


def key_destination_problem(mode: str, url: str) -> str | None:
    """Why the `mode` key must not be sent to `url`, in one line; None when it may."""
    if mode == "live":
        parts = urlsplit(url)
        if parts.scheme != "https" or (parts.hostname or "").lower() != LIVE_HOST:
            return (f"refused to send the live API key to {url}: it only ever goes over HTTPS to "
                    f"{LIVE_URL}; use --sandbox for any other server")
        return None
    return plain_http_problem(url)
