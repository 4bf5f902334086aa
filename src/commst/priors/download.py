"""Download prior resources: streamed, checksum-verified, retried, written atomically."""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from commst._utils import atomic_path

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class _ChecksumMismatch(Exception):
    """Internal: the body arrived complete but its SHA-256 differs (not retried)."""


class CommstDownloadError(RuntimeError):
    """A download failed; the message names the URL, the problem and the fix."""

    def __init__(self, url: str, problem: str, fix: str) -> None:
        self.url, self.problem, self.fix = url, problem, fix
        super().__init__(f"download of {url} failed: {problem}. Fix: {fix}")


def sha256sum(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _attempt(url: str, tmp: Path, timeout: float) -> tuple[int, str]:
    """One transfer into ``tmp``; returns (bytes, sha256). Raises on a short or broken transfer."""
    h = hashlib.sha256()
    n = 0
    req = urllib.request.Request(url, headers={"User-Agent": "commst-priors"})
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(tmp, "wb") as out:
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        while True:
            block = resp.read(_CHUNK)
            if not block:
                break
            out.write(block)
            h.update(block)
            n += len(block)
        if expected is not None and n != expected:
            raise OSError(f"transfer interrupted after {n} of {expected} bytes")
    return n, h.hexdigest()


def fetch(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    retries: int = 3,
    timeout: float = 60,
    backoff: float = 1.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically.

    The body is streamed to a temporary file in ``dest``'s folder, its length checked against
    ``Content-Length``, its SHA-256 compared with ``sha256`` when given, and only then moved
    onto ``dest`` with :func:`os.replace`; on any failure no file is left behind.

    Parameters
    ----------
    url
        ``http(s)://`` or ``file://`` URL.
    dest
        Target path; parent folders are created.
    sha256
        Expected hex SHA-256 (case-insensitive). ``None`` or ``""`` skips the check (logged).
    retries
        Further attempts after a failed transfer (network error, timeout, short body).
        A checksum mismatch is not retried: the server delivered a different file.
    timeout
        Socket timeout per attempt, in seconds.
    backoff
        Seconds to wait before the first retry; doubled for each further one.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    CommstDownloadError
        After the last failed attempt, or on a checksum mismatch.
    """
    dest = Path(dest)
    attempts = max(int(retries), 0) + 1
    last: Exception | None = None
    for i in range(attempts):
        try:
            with atomic_path(dest) as tmp:  # moved onto dest only if the block succeeds
                n, digest = _attempt(url, tmp, timeout)
                if sha256 and digest.lower() != sha256.strip().lower():
                    raise _ChecksumMismatch(
                        f"expected sha256 {sha256.strip().lower()}, got {digest} ({n} bytes)"
                    )
        except _ChecksumMismatch as err:
            raise CommstDownloadError(
                url,
                f"checksum mismatch: {err}; the file was removed",
                "the resource changed or the transfer was corrupted: check the version and update the "
                "sha256 in config priors, or set it to empty to skip the check",
            ) from None
        except urllib.error.HTTPError as err:
            last = err
            if 400 <= err.code < 500 and err.code not in (408, 429):
                raise CommstDownloadError(
                    url,
                    f"server answered HTTP {err.code} {err.reason}",
                    "check the URL in config priors (it may have moved)",
                ) from err
        except (OSError, urllib.error.URLError, TimeoutError) as err:
            last = err
        else:
            if not sha256:
                log.warning("no sha256 configured for %s; downloaded file has sha256 %s", url, digest)
            log.info("downloaded %s -> %s (%d bytes, sha256 %s)", url, dest, n, digest)
            return dest
        if i + 1 < attempts:
            wait = backoff * 2**i
            log.warning(
                "download of %s failed (%s); retry %d/%d in %.1f s", url, last, i + 1, attempts - 1, wait
            )
            time.sleep(wait)
    raise CommstDownloadError(
        url,
        f"{attempts} attempt(s) failed, last error: {last}",
        "check the network connection or proxy, or run offline with priors: source: bundled",
    ) from last
