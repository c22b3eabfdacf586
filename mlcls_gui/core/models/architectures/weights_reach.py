"""Say at once when pretrained weights cannot be downloaded, instead of after the
hub's retries (about 46 s for a timm model without internet).

Weights already in the local cache (torch hub's, Hugging Face's) need no
network. Otherwise one TCP connection to the weights' host, with a short
timeout, tells an offline machine from a slow download; its answer is kept for
a minute, so a user who plugs the cable in is not told the old news for long.
"""

from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlparse

CONNECT_TIMEOUT_S = 3.0
ANSWER_KEPT_S = 60.0
_answers: dict[str, tuple[float, str]] = {}


def unreachable_reason(url_or_host: str) -> str:
    """'' when the host answers on HTTPS's port, else why not (one short line)."""
    host = urlparse(url_or_host).hostname if "://" in url_or_host else url_or_host
    if not host:
        return ""
    now = time.monotonic()
    kept = _answers.get(host)
    if kept is not None and now - kept[0] < ANSWER_KEPT_S:
        return kept[1]
    try:
        with socket.create_connection((host, 443), timeout=CONNECT_TIMEOUT_S):
            reason = ""
    except OSError as exc:
        reason = f"{host} cannot be reached: {exc.strerror or exc}" if not isinstance(exc, TimeoutError) \
            else f"{host} did not answer within {CONNECT_TIMEOUT_S:g} s"
    _answers[host] = (now, reason)
    return reason


def hub_offline() -> bool:
    """The user told the Hugging Face hub to stay offline (it then fails at once itself)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
