"""commst.priors.download.fetch against a local HTTP server serving bundled prior files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from commst.priors import bundled_dir
from commst.priors.download import CommstDownloadError, fetch, sha256sum

BUNDLED = "dorothea_ABC_human.tsv.gz"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the bundled folder; ``/broken/<file>`` promises the full length but sends half."""

    hits: dict[str, int] = {}

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        _Handler.hits[self.path] = _Handler.hits.get(self.path, 0) + 1
        if self.path.startswith("/broken/"):
            data = (Path(self.directory) / self.path.removeprefix("/broken/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
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


def test_fetch_success_verifies_checksum(server: str, tmp_path: Path) -> None:
    src = bundled_dir() / BUNDLED
    expected = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = fetch(f"{server}/{BUNDLED}", tmp_path / "sub" / "d.tsv.gz", sha256=expected.upper(), retries=0)
    assert dest.read_bytes() == src.read_bytes()
    assert sha256sum(dest) == expected
    assert sorted(p.name for p in dest.parent.iterdir()) == ["d.tsv.gz"]  # no temp file left


def test_fetch_checksum_mismatch_leaves_no_file(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "d.tsv.gz"
    with pytest.raises(CommstDownloadError, match="checksum mismatch") as info:
        fetch(f"{server}/{BUNDLED}", dest, sha256="0" * 64, retries=2, backoff=0)
    assert BUNDLED in str(info.value) and "sha256" in info.value.fix
    assert list(tmp_path.iterdir()) == []


def test_fetch_interrupted_transfer_retries_then_fails(server: str, tmp_path: Path) -> None:
    path = f"/broken/{BUNDLED}"
    before = _Handler.hits.get(path, 0)
    with pytest.raises(CommstDownloadError, match="3 attempt") as info:
        fetch(f"{server}{path}", tmp_path / "d.tsv.gz", retries=2, backoff=0.01, timeout=5)
    assert _Handler.hits[path] - before == 3
    assert "interrupted" in info.value.problem
    assert list(tmp_path.iterdir()) == []


def test_fetch_missing_file_is_not_retried(server: str, tmp_path: Path) -> None:
    path = "/no_such_file.gz"
    with pytest.raises(CommstDownloadError, match="HTTP 404"):
        fetch(f"{server}{path}", tmp_path / "x", retries=3, backoff=0)
    assert _Handler.hits[path] == 1
    assert list(tmp_path.iterdir()) == []


def test_fetch_keeps_existing_file_on_failure(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "d.tsv.gz"
    dest.write_bytes(b"old")
    with pytest.raises(CommstDownloadError):
        fetch(f"{server}/{BUNDLED}", dest, sha256="f" * 64, retries=0)
    assert dest.read_bytes() == b"old"
