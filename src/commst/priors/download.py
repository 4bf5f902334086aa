"""Download prior resources: https only, SHA-256 required, size-capped, retried, written atomically.

Official files (STRING, NicheNet) are fetched only with ``priors: source: download`` and only
with the SHA-256 of every file in the config (:func:`missing_hashes` lets the workflow stop
before any transfer when one is empty). :func:`fetch` streams the body to a temporary file
beside the target, checks its length against ``Content-Length`` and its SHA-256 against the
configured one, and only then renames it onto the target; interrupted transfers (short bodies,
``IncompleteRead``, timeouts) are retried. :func:`verify_file` re-checks a cached file before
use. ``file://`` URLs are accepted only where ``$COMMST_ALLOW_FILE_URLS`` is ``1`` (the tests).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from commst._utils import atomic_path

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
#: Largest file :func:`fetch` accepts by default (the official files are 20-800 MB).
DEFAULT_MAX_BYTES = 2000 * 2**20
#: Environment variable that also allows ``file://`` URLs (set by the tests only).
ENV_ALLOW_FILE = "COMMST_ALLOW_FILE_URLS"
_HASH_FIX = (
    "download the file once yourself from the URL in the config, check it against the publisher's "
    "checksum where there is one (Zenodo lists an MD5 per file), then write the output of "
    "`sha256sum <file>` into that key of your config; or keep priors: source: bundled (the default, "
    "offline)"
)


class _ChecksumMismatch(Exception):
    """Internal: the body arrived but its SHA-256 differs."""


class _TooLarge(Exception):
    """Internal: the body is larger than the cap (not retried)."""


class CommstDownloadError(RuntimeError):
    """A download failed; the message names the URL, the problem and the fix."""

    def __init__(self, url: str, problem: str, fix: str) -> None:
        self.url, self.problem, self.fix = url, problem, fix
        super().__init__(f"download of {url} failed: {problem}. Fix: {fix}")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return (type(self), (self.url, self.problem, self.fix))


def allowed_schemes() -> tuple[str, ...]:
    """``("https",)``, plus ``"file"`` where ``$COMMST_ALLOW_FILE_URLS`` is ``1``."""
    return ("https", "file") if os.environ.get(ENV_ALLOW_FILE) == "1" else ("https",)


def sha256sum(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def missing_hashes(priors: Mapping[str, Any], species: Iterable[str]) -> list[str]:
    """Config keys (``priors.…``) of official files whose SHA-256 is empty, for ``species``."""
    missing = []
    for sp in species:
        string = priors.get("string", {}).get(sp, {})
        for key in ("links_sha256", "info_sha256"):
            if not string.get(key):
                missing.append(f"priors.string.{sp}.{key}")
        if not priors.get("nichenet", {}).get(sp, {}).get("sha256"):
            missing.append(f"priors.nichenet.{sp}.sha256")
    return missing


def missing_hashes_message(missing: list[str]) -> str:
    """What to tell the user when :func:`missing_hashes` finds empty hashes."""
    return (
        "priors: source: download needs the SHA-256 of every official file it downloads, but "
        f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} empty, so nothing was downloaded. "
        f"Fix: {_HASH_FIX}."
    )


def verify_file(path: str | os.PathLike, sha256: str, url: str = "") -> Path:
    """Check a downloaded (cached) file against its configured SHA-256 before use.

    Raises
    ------
    CommstDownloadError
        The file's SHA-256 differs (it changed since it was downloaded, or the config's hash
        changed): the message says to delete it so that the workflow fetches it again.
    """
    path = Path(path)
    digest = sha256sum(path)
    if digest != sha256.strip().lower():
        raise CommstDownloadError(
            url or str(path),
            f"the cached file {path} has sha256 {digest}, not the configured {sha256.strip().lower()}",
            f"delete {path} and run the workflow again to download it afresh (or correct the sha256 in the config)",
        )
    return path


def _check_url(url: str, schemes: tuple[str, ...]) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in schemes:
        raise CommstDownloadError(
            url,
            f"URL scheme {scheme or '(none)'!r} is not allowed (only {', '.join(s + '://' for s in schemes)})",
            "use the https:// URL of the official file (plain http can be tampered with on the way)",
        )


def _attempt(url: str, tmp: Path, timeout: float, max_bytes: int) -> tuple[int, str, bool]:
    """One transfer into ``tmp``: (bytes, sha256, whether the server announced the length)."""
    h = hashlib.sha256()
    n = 0
    req = urllib.request.Request(url, headers={"User-Agent": "commst-priors"})
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(tmp, "wb") as out:
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        if expected is not None and expected > max_bytes:
            raise _TooLarge(f"the server announces {expected} bytes, more than the cap of {max_bytes}")
        while True:
            block = resp.read(_CHUNK)
            if not block:
                break
            n += len(block)
            if n > max_bytes:
                raise _TooLarge(f"the server sent more than the cap of {max_bytes} bytes")
            out.write(block)
            h.update(block)
        if expected is not None and n != expected:
            raise OSError(f"transfer interrupted after {n} of {expected} bytes")
    return n, h.hexdigest(), expected is not None


def fetch(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str,
    retries: int = 3,
    timeout: float = 60,
    backoff: float = 1.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    schemes: tuple[str, ...] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verified against ``sha256``.

    An existing ``dest`` with the right SHA-256 is kept (no transfer); one with another is
    replaced. The body is streamed to a temporary file in ``dest``'s folder, its length checked
    against ``Content-Length``, its SHA-256 compared with ``sha256``, and only then moved onto
    ``dest``; on any failure no file is left behind and an existing ``dest`` stays as it was.

    Parameters
    ----------
    url
        ``https://`` URL (``file://`` only where :func:`allowed_schemes` allows it).
    dest
        Target path; parent folders are created.
    sha256
        Expected hex SHA-256 (case-insensitive); required.
    retries
        Further attempts after a failed transfer: network error, timeout, a body shorter than
        its ``Content-Length``, ``IncompleteRead``, and a checksum mismatch when the server sent
        no ``Content-Length`` (a cut transfer then looks like a different file). A mismatch of a
        complete transfer is not retried: the server delivered a different file.
    timeout
        Socket timeout per attempt, in seconds.
    backoff
        Seconds to wait before the first retry; doubled for each further one.
    max_bytes
        Largest body accepted (announced or received); larger ones fail at once.
    schemes
        URL schemes accepted (default :func:`allowed_schemes`).

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    CommstDownloadError
        No ``sha256``, a scheme not allowed, a body over ``max_bytes``, a checksum mismatch, or
        the last failed attempt.
    """
    dest = Path(dest)
    if not sha256 or not sha256.strip():
        raise CommstDownloadError(url, "no sha256 is configured for this file, so it cannot be verified", _HASH_FIX)
    expected = sha256.strip().lower()
    _check_url(url, schemes or allowed_schemes())
    if dest.is_file():
        if sha256sum(dest) == expected:
            log.info("%s is already downloaded and matches sha256 %s", dest, expected)
            return dest
        log.warning("%s exists but its sha256 differs from the configured one; downloading it again", dest)
    attempts = max(int(retries), 0) + 1
    last: Exception | None = None
    for i in range(attempts):
        try:
            with atomic_path(dest) as tmp:  # moved onto dest only if the block succeeds
                n, digest, announced = _attempt(url, tmp, timeout, max_bytes)
                if digest != expected:
                    raise _ChecksumMismatch(f"expected sha256 {expected}, got {digest} ({n} bytes)", announced)
        except _TooLarge as err:
            raise CommstDownloadError(
                url, f"{err}; the file was removed", "check the URL in config priors, or raise priors.download.max_mb"
            ) from None
        except _ChecksumMismatch as err:
            problem, announced = err.args
            if announced:
                raise CommstDownloadError(
                    url,
                    f"checksum mismatch: {problem}; the file was removed",
                    "the resource changed or the transfer was corrupted: check the version and the sha256 in "
                    "config priors",
                ) from None
            last = OSError(f"checksum mismatch without Content-Length (possibly a cut transfer): {problem}")
        except urllib.error.HTTPError as err:
            last = err
            if 400 <= err.code < 500 and err.code not in (408, 429):
                raise CommstDownloadError(
                    url,
                    f"server answered HTTP {err.code} {err.reason}",
                    "check the URL in config priors (it may have moved)",
                ) from None
        except (OSError, urllib.error.URLError, TimeoutError, http.client.HTTPException) as err:
            last = err  # IncompleteRead and other protocol errors are HTTPExceptions, not OSErrors
        else:
            log.info("downloaded %s -> %s (%d bytes, sha256 %s)", url, dest, n, digest)
            return dest
        if i + 1 < attempts:
            wait = backoff * 2**i
            log.warning(
                "download of %s failed (%s: %s); retry %d/%d in %.1f s",
                url,
                type(last).__name__,
                last,
                i + 1,
                attempts - 1,
                wait,
            )
            time.sleep(wait)
    raise CommstDownloadError(
        url,
        f"{attempts} attempt(s) failed, last error: {type(last).__name__}: {last}",
        "check the network connection or proxy, or run offline with priors: source: bundled",
    ) from None
