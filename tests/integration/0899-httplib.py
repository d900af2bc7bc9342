"""0899-httplib: helpers for the HTTP integration tests (08xx), not a test.

Loaded by the 08xx tests with load() below (a module name cannot start
with a digit). Standard library only:

  HttpBroker(tap, args)    a harness.Broker with --http on a free loopback
                           port; start() also waits until /readyz answers.
  call(b, method, path, body=None, headers=None, token=None, raw=False)
                           one request; returns (status, headers, json or
                           bytes). body: dict/list (sent as JSON), bytes or
                           str. Never raises on HTTP errors.
  Sse(b, path, token=None) a Server-Sent Events reader: events(n, timeout)
                           returns up to n parsed events (dicts with id,
                           event, data, json) within timeout seconds.
"""

import http.client
import importlib.util
import json
import os
import socket
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


def load():
    """This module (for tests: lib = load() after importing harness)."""
    return sys.modules[__name__]


class HttpBroker(harness.Broker):
    def __init__(self, tap, args=(), advertise=True, http_host="127.0.0.1"):
        self.http_port = harness.free_port()
        self.http_host = http_host
        super().__init__(tap, args=["--http", "%s:%d" % (http_host, self.http_port)] + list(args),
                         advertise=advertise)

    def start(self, ready_timeout=10.0):
        if not super().start():
            return False
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            try:
                st, _, _ = call(self, "GET", "/readyz", timeout=2)
                if st == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        self.tap.diag("HTTP server on port %d did not become ready" % self.http_port)
        return False


def call(b, method, path, body=None, headers=None, token=None, raw=False, timeout=30):
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
    if token:
        hdrs["Authorization"] = "Bearer " + token
    c = http.client.HTTPConnection("127.0.0.1", b.http_port, timeout=timeout)
    try:
        c.request(method, path, body=data, headers=hdrs)
        r = c.getresponse()
        payload = r.read()
        rh = {k.lower(): v for k, v in r.getheaders()}
        if raw:
            return r.status, rh, payload
        try:
            return r.status, rh, json.loads(payload) if payload else None
        except ValueError:
            return r.status, rh, payload
    finally:
        c.close()


class Sse:
    """Reads a text/event-stream response incrementally (own socket and
    chunked decoding, so a read timeout leaves the stream usable)."""

    def __init__(self, b, path, token=None, headers=None, timeout=30):
        hdrs = dict(headers or {})
        hdrs["Accept"] = "text/event-stream"
        hdrs["Host"] = "127.0.0.1:%d" % b.http_port
        if token:
            hdrs["Authorization"] = "Bearer " + token
        self.sock = socket.create_connection(("127.0.0.1", b.http_port), timeout=timeout)
        req = "GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in hdrs.items())
        self.sock.sendall((req + "\r\n").encode())
        self.raw = b""          # bytes received, not yet decoded
        self.text = ""          # decoded body, not yet split into lines
        self.comments = []
        self.ended = False
        self.chunk_left = None  # bytes left in the current chunk
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw and self._recv(deadline):
            pass
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.raw) < n and self._recv(deadline):
                pass
            self.body = self.raw[:n]

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            self.ended = True
            return False
        if not data:
            self.ended = True
            return False
        self.raw += data
        return True

    def _decode(self):
        """Moves complete chunk data from raw to text."""
        if not self.chunked:
            self.text += self.raw.decode("utf-8")
            self.raw = b""
            return
        while not self.ended:
            if self.chunk_left is None:
                line, sep, rest = self.raw.partition(b"\r\n")
                if not sep:
                    return
                size = int(line.split(b";")[0], 16)
                self.raw = rest
                if size == 0:
                    self.ended = True
                    return
                self.chunk_left = size
            if len(self.raw) < self.chunk_left + 2:
                return
            self.text += self.raw[:self.chunk_left].decode("utf-8")
            self.raw = self.raw[self.chunk_left + 2:]
            self.chunk_left = None

    def _line(self, deadline):
        while True:
            self._decode()
            if "\n" in self.text:
                line, _, self.text = self.text.partition("\n")
                return line.rstrip("\r")
            if self.ended or not self._recv(deadline):
                return None

    def events(self, n, timeout):
        """Up to n events (record and error events) within timeout s."""
        out = []
        deadline = time.monotonic() + timeout
        cur = {}
        while len(out) < n:
            line = self._line(deadline)
            if line is None:
                break
            if line == "":
                if "data" in cur or "event" in cur:
                    try:
                        cur["json"] = json.loads(cur.get("data", ""))
                    except ValueError:
                        cur["json"] = None
                    out.append(cur)
                cur = {}
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data" and "data" in cur:
                cur["data"] += "\n" + value
            else:
                cur[field] = value
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def records_all(b, topic, query="", token=None):
    """Every record of topic (all partitions), paging with next_offset."""
    out = []
    st, _, body = call(b, "GET", "/api/v1/topics/%s/records?limit=1000%s" % (topic, query),
                       token=token)
    if st != 200:
        raise AssertionError("GET records: %d %r" % (st, body))
    out.extend(body["records"])
    for p in body["partitions"]:
        nxt = p["next_offset"]
        while nxt < p["high_watermark"]:
            st, _, page = call(b, "GET", "/api/v1/topics/%s/records?partition=%d&offset=%d"
                               "&limit=1000%s" % (topic, p["partition"], nxt, query), token=token)
            if st != 200 or page["partitions"][0]["next_offset"] == nxt:
                break
            out.extend(page["records"])
            nxt = page["partitions"][0]["next_offset"]
    return out
