"""The resumable, checked download (nst_installer/download.py) against a local HTTP server."""
from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading

import pytest

from nst_installer import download as downloads


class Server:
    """A local HTTP server for one payload, with Range support and scripted failures."""

    def __init__(self, payload: bytes, failures=()):
        self.payload, self.failures, self.ranges = payload, list(failures), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                server.ranges.append(self.headers.get("Range"))
                failure = server.failures.pop(0) if server.failures else None
                if failure == "503":
                    self.send_error(503)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                else:
                    self.send_response(200)
                body = server.payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if failure == "cut":  # the connection drops half-way
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/vgg-x.pth"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


PAYLOAD = os.urandom(3 << 20)


PREFIX = hashlib.sha256(PAYLOAD).hexdigest()[:8]


def test_download_verifies_the_checksum(tmp_path):
    with Server(PAYLOAD) as s:
        digest = downloads.download(s.url, tmp_path / "w.pth", PREFIX, retries=1, backoff=0)
    assert digest == hashlib.sha256(PAYLOAD).hexdigest()
    assert (tmp_path / "w.pth").read_bytes() == PAYLOAD and not (tmp_path / "w.pth.part").exists()


def test_download_resumes_a_broken_connection_with_range(tmp_path):
    seen = []
    with Server(PAYLOAD, failures=["cut"]) as s:
        downloads.download(s.url, tmp_path / "w.pth", PREFIX, retries=3, backoff=0,
                      progress=lambda done, total: seen.append((done, total)))
        ranges = s.ranges
    assert (tmp_path / "w.pth").read_bytes() == PAYLOAD
    assert ranges[0] is None and ranges[1].startswith("bytes=") and int(ranges[1][6:-1]) > 0
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_download_resumes_a_part_file_from_an_earlier_run(tmp_path):
    (tmp_path / "w.pth.part").write_bytes(PAYLOAD[:1000])
    with Server(PAYLOAD) as s:
        downloads.download(s.url, tmp_path / "w.pth", PREFIX, retries=1, backoff=0)
        assert s.ranges == ["bytes=1000-"]
    assert (tmp_path / "w.pth").read_bytes() == PAYLOAD


def test_download_retries_server_errors(tmp_path):
    with Server(PAYLOAD, failures=["503", "503"]) as s:
        downloads.download(s.url, tmp_path / "w.pth", PREFIX, retries=3, backoff=0)
        assert len(s.ranges) == 3
    assert (tmp_path / "w.pth").read_bytes() == PAYLOAD


def test_download_rejects_a_wrong_checksum(tmp_path):
    with Server(PAYLOAD) as s:
        with pytest.raises(downloads.DownloadError, match="checksum mismatch"):
            downloads.download(s.url, tmp_path / "w.pth", "00000000", retries=2, backoff=0)
    assert not (tmp_path / "w.pth").exists() and not (tmp_path / "w.pth.part").exists()
