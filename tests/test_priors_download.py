"""commst.priors.download against a local HTTP server serving bundled prior files.

The server speaks plain http (a local test server has no certificate), so the transfer tests
pass ``schemes=("http",)``; the workflow's downloads accept only https (and file:// where
``$COMMST_ALLOW_FILE_URLS`` is 1, in the tests), which the scheme tests check.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from commst.priors import bundled_dir
from commst.priors.download import (
    ENV_ALLOW_FILE,
    CommstDownloadError,
    fetch,
    missing_hashes,
    sha256sum,
    verify_file,
)

BUNDLED = "dorothea_ABC_human.tsv.gz"
HTTP = ("http",)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the bundled folder, and broken transfers of its files under a route prefix.

    ``/broken/<file>`` promises the full length but sends half; ``/chunked-cut/<file>`` announces
    one chunk of the full length and sends half of it (``IncompleteRead``); ``/nolength/<file>``
    sends half without ``Content-Length``; ``/flaky-nolength/<file>`` does that on the first
    request only; ``/huge/<file>`` announces a terabyte.
    """

    hits: dict[str, int] = {}

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _body(self, prefix: str) -> bytes:
        return (Path(self.directory) / self.path.removeprefix(prefix)).read_bytes()

    def _send(self, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        hit = _Handler.hits[self.path] = _Handler.hits.get(self.path, 0) + 1
        if self.path.startswith("/broken/"):
            data = self._body("/broken/")
            return self._send(data[: len(data) // 2], {"Content-Length": str(len(data))})
        if self.path.startswith("/chunked-cut/"):
            data = self._body("/chunked-cut/")
            self.protocol_version = "HTTP/1.1"
            return self._send(f"{len(data):x}\r\n".encode() + data[: len(data) // 2], {"Transfer-Encoding": "chunked"})
        if self.path.startswith("/nolength/"):
            data = self._body("/nolength/")
            return self._send(data[: len(data) // 2], {})
        if self.path.startswith("/flaky-nolength/"):
            data = self._body("/flaky-nolength/")
            return self._send(data[: len(data) // 2] if hit == 1 else data, {})
        if self.path.startswith("/huge/"):
            return self._send(b"", {"Content-Length": str(10**12)})
        super().do_GET()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    handler = functools.partial(_Handler, directory=str(bundled_dir()))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def expected() -> str:
    return hashlib.sha256((bundled_dir() / BUNDLED).read_bytes()).hexdigest()


def _hits(path: str) -> int:
    return _Handler.hits.get(path, 0)


def test_fetch_success_verifies_checksum(server: str, tmp_path: Path, expected: str) -> None:
    src = bundled_dir() / BUNDLED
    dest = fetch(f"{server}/{BUNDLED}", tmp_path / "sub" / "d.tsv.gz", sha256=expected.upper(), retries=0, schemes=HTTP)
    assert dest.read_bytes() == src.read_bytes()
    assert sha256sum(dest) == expected
    assert sorted(p.name for p in dest.parent.iterdir()) == ["d.tsv.gz"]  # no temp file left


@pytest.mark.parametrize("url", ["http://example.org/x.gz", "ftp://example.org/x.gz", "file:///etc/hostname"])
def test_only_https_by_default(url: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(ENV_ALLOW_FILE, raising=False)
    with pytest.raises(CommstDownloadError, match="is not allowed .only https://") as info:
        fetch(url, tmp_path / "x", sha256="0" * 64)
    assert "https://" in info.value.fix
    assert list(tmp_path.iterdir()) == []


def test_file_urls_only_where_the_tests_allow_them(tmp_path: Path, expected: str, monkeypatch) -> None:
    url = (bundled_dir() / BUNDLED).as_uri()
    monkeypatch.setenv(ENV_ALLOW_FILE, "1")
    dest = fetch(url, tmp_path / "d.tsv.gz", sha256=expected)
    assert sha256sum(dest) == expected


@pytest.mark.parametrize("sha256", ["", "  "])
def test_sha256_is_required_before_any_transfer(server: str, tmp_path: Path, sha256: str) -> None:
    path = f"/{BUNDLED}?nohash"
    with pytest.raises(CommstDownloadError, match="no sha256 is configured") as info:
        fetch(f"{server}{path}", tmp_path / "d.tsv.gz", sha256=sha256, schemes=HTTP)
    assert "sha256sum" in info.value.fix
    assert _hits(path) == 0 and list(tmp_path.iterdir()) == []


def test_fetch_checksum_mismatch_leaves_no_file(server: str, tmp_path: Path) -> None:
    path = f"/{BUNDLED}?mismatch"
    dest = tmp_path / "d.tsv.gz"
    with pytest.raises(CommstDownloadError, match="checksum mismatch") as info:
        fetch(f"{server}{path}", dest, sha256="0" * 64, retries=2, backoff=0, schemes=HTTP)
    assert BUNDLED in str(info.value) and "sha256" in info.value.fix
    assert _hits(path) == 1  # a complete transfer of another file is not retried
    assert list(tmp_path.iterdir()) == []


def test_fetch_interrupted_transfer_retries_then_fails(server: str, tmp_path: Path, expected: str) -> None:
    path = f"/broken/{BUNDLED}"
    before = _hits(path)
    with pytest.raises(CommstDownloadError, match="3 attempt") as info:
        fetch(
            f"{server}{path}", tmp_path / "d.tsv.gz", sha256=expected, retries=2, backoff=0.01, timeout=5, schemes=HTTP
        )
    assert _hits(path) - before == 3
    assert "interrupted" in info.value.problem
    assert list(tmp_path.iterdir()) == []


def test_incomplete_read_is_retried_and_reported_as_ours(server: str, tmp_path: Path, expected: str) -> None:
    """A chunked body cut short raises http.client.IncompleteRead: retried, then our error."""
    path = f"/chunked-cut/{BUNDLED}"
    before = _hits(path)
    with pytest.raises(CommstDownloadError, match="IncompleteRead"):
        fetch(
            f"{server}{path}", tmp_path / "d.tsv.gz", sha256=expected, retries=2, backoff=0.01, timeout=5, schemes=HTTP
        )
    assert _hits(path) - before == 3
    assert list(tmp_path.iterdir()) == []


def test_truncated_body_without_length_is_detected_and_retried(server: str, tmp_path: Path, expected: str) -> None:
    path = f"/nolength/{BUNDLED}"
    before = _hits(path)
    with pytest.raises(CommstDownloadError, match="without Content-Length"):
        fetch(
            f"{server}{path}", tmp_path / "d.tsv.gz", sha256=expected, retries=2, backoff=0.01, timeout=5, schemes=HTTP
        )
    assert _hits(path) - before == 3
    assert list(tmp_path.iterdir()) == []
    # cut once, whole the next time: the retry delivers the right file
    dest = fetch(
        f"{server}/flaky-nolength/{BUNDLED}",
        tmp_path / "d.tsv.gz",
        sha256=expected,
        retries=2,
        backoff=0.01,
        schemes=HTTP,
    )
    assert sha256sum(dest) == expected and _hits(f"/flaky-nolength/{BUNDLED}") == 2


def test_size_cap(server: str, tmp_path: Path, expected: str) -> None:
    path = f"/huge/{BUNDLED}"
    with pytest.raises(CommstDownloadError, match="more than the cap") as info:
        fetch(f"{server}{path}", tmp_path / "d.tsv.gz", sha256=expected, retries=3, backoff=0, schemes=HTTP)
    assert _hits(path) == 1 and "max_mb" in info.value.fix
    size = (bundled_dir() / BUNDLED).stat().st_size
    with pytest.raises(CommstDownloadError, match="more than the cap"):  # announced size within, body beyond
        fetch(f"{server}/nolength/{BUNDLED}", tmp_path / "d.tsv.gz", sha256=expected, max_bytes=size // 4, schemes=HTTP)
    assert list(tmp_path.iterdir()) == []


def test_cached_file_is_verified_before_reuse(server: str, tmp_path: Path, expected: str) -> None:
    dest = tmp_path / "d.tsv.gz"
    path = f"/{BUNDLED}?cache"
    fetch(f"{server}{path}", dest, sha256=expected, schemes=HTTP)
    fetch(f"{server}{path}", dest, sha256=expected, schemes=HTTP)
    assert _hits(path) == 1  # the intact cached file is reused
    dest.write_bytes(b"tampered")
    with pytest.raises(CommstDownloadError, match="not the configured") as info:
        verify_file(dest, expected, "https://example.org/x")
    assert "delete" in info.value.fix
    fetch(f"{server}{path}", dest, sha256=expected, schemes=HTTP)  # a changed cache is fetched again
    assert _hits(path) == 2 and sha256sum(dest) == expected
    assert verify_file(dest, expected) == dest


def test_fetch_missing_file_is_not_retried(server: str, tmp_path: Path) -> None:
    path = "/no_such_file.gz"
    with pytest.raises(CommstDownloadError, match="HTTP 404"):
        fetch(f"{server}{path}", tmp_path / "x", sha256="0" * 64, retries=3, backoff=0, schemes=HTTP)
    assert _hits(path) == 1
    assert list(tmp_path.iterdir()) == []


def test_fetch_keeps_existing_file_on_failure(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "d.tsv.gz"
    dest.write_bytes(b"old")
    with pytest.raises(CommstDownloadError):
        fetch(f"{server}/{BUNDLED}", dest, sha256="f" * 64, retries=0, schemes=HTTP)
    assert dest.read_bytes() == b"old"


def test_missing_hashes_names_every_empty_key() -> None:
    priors = {
        "string": {"human": {"links_sha256": "a" * 64, "info_sha256": ""}, "mouse": {}},
        "nichenet": {"human": {"sha256": "b" * 64}, "mouse": {"sha256": ""}},
    }
    assert missing_hashes(priors, ["human"]) == ["priors.string.human.info_sha256"]
    assert missing_hashes(priors, ["mouse"]) == [
        "priors.string.mouse.links_sha256",
        "priors.string.mouse.info_sha256",
        "priors.nichenet.mouse.sha256",
    ]
