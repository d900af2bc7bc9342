"""0840-http-server: the HTTP server itself.

Start-up rules: a non-loopback listener without http.auth.token refuses
to start with a message naming the settings; http.auth.disable=true
allows it; an empty http.listener disables HTTP. Bearer tokens: 401 with
WWW-Authenticate without or with a wrong token, the Authorization header
and ?access_token= accepted, /healthz and /readyz open, the token never
shown (DescribeConfigs marks it sensitive). Limits: http.max.body.bytes
(with Content-Length and chunked), http.max.connections. Hostile input
(bad escapes, NUL, too many segments, garbage requests, huge headers and
URLs) gets 4xx or a closed connection and the server goes on. Many
concurrent requests all succeed. The Kafka listener keeps serving while
dozens of HTTP connections are parked or stalled, and SIGTERM with open
tails and stalled requests exits 0 promptly.
"""

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

lib = harness.load_httplib()

tap = harness.Tap(timeout=300)
ck = harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka.admin import AdminClient, ConfigResource  # noqa: E402

tap.plan(27)
call = lib.call


def raw_exchange(port, data, timeout=5):
    """Sends raw bytes; returns what came back before close/timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                break
    except OSError:
        pass
    finally:
        s.close()
    return out


with tap.section("start-up rules", cases=4, timeout=60):
    with tempfile.TemporaryDirectory(prefix="runnel-it-") as d:
        p = subprocess.run([tap.runneld, "--data-dir", d, "--listen", "127.0.0.1:0",
                            "--http", "0.0.0.0:%d" % harness.free_port()],
                           capture_output=True, timeout=30)
        err = p.stderr.decode()
        tap.ok(p.returncode != 0 and "http.auth.token" in err and "http.auth.disable" in err,
               "a non-loopback listener without a token refuses to start, naming the settings",
               "status %d" % p.returncode, err[-500:])
    b0 = lib.HttpBroker(tap, http_host="0.0.0.0", args=["--set", "http.auth.disable=true"])
    tap.ok(b0.start(), "http.auth.disable=true serves 0.0.0.0 without a token")
    tap.is_(call(b0, "GET", "/api/v1/cluster")[0], 200, "and answers without a token")
    b0.stop()
    b1 = harness.Broker(tap, args=["--http", ""])
    ok = b1.start()
    time.sleep(0.3)
    tap.ok(ok and "http server disabled" in b1.log_text(), "an empty http.listener disables HTTP")
    b1.stop()

with tap.section("bearer token", cases=8, timeout=60):
    TOKEN = "s3cret-t0ken"
    bt = lib.HttpBroker(tap, http_host="0.0.0.0", args=["--set", "http.auth.token=" + TOKEN])
    tap.ok(bt.start(), "a non-loopback listener with a token starts")
    st, h, e = call(bt, "GET", "/api/v1/cluster")
    tap.is_((st, e["error_code"], h.get("www-authenticate")), (401, "UNAUTHORIZED", "Bearer"),
            "no token: 401 with WWW-Authenticate: Bearer")
    tap.is_(call(bt, "GET", "/api/v1/cluster", token="wrong")[0], 401, "a wrong token: 401")
    tap.is_(call(bt, "GET", "/api/v1/cluster", token=TOKEN)[0], 200, "the token: 200")
    tap.is_(call(bt, "GET", "/api/v1/topics?access_token=" + TOKEN)[0], 200,
            "?access_token= works too (EventSource clients)")
    tap.is_([call(bt, "GET", p)[0] for p in ("/healthz", "/readyz")], [200, 200],
            "/healthz and /readyz need no token")
    tap.is_([call(bt, "GET", "/metrics", raw=True)[0],
             call(bt, "GET", "/metrics", token=TOKEN, raw=True)[0]], [401, 200],
            "/metrics needs the token")
    admin = AdminClient({"bootstrap.servers": bt.bootstrap, "broker.address.family": "v4"})
    res = ConfigResource(ConfigResource.Type.BROKER, "1")
    cfg = admin.describe_configs([res])[res].result(30)
    e = cfg.get("http.auth.token")
    tap.ok(e is not None and e.is_sensitive and e.value is None,
           "DescribeConfigs reports http.auth.token as sensitive, without its value")
    del admin
    bt.stop()

b = lib.HttpBroker(tap, args=["--set", "http.max.body.bytes=2048",
                              "--set", "http.max.connections=40"])
if not tap.ok(b.start(), "broker with small body and connection limits starts"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": b.bootstrap, "broker.address.family": "v4"}

with tap.section("limits", cases=4, timeout=60):
    st, _, e = call(b, "POST", "/api/v1/topics", b"x" * 5000)
    tap.is_((st, e["error_code"]), (413, "PAYLOAD_TOO_LARGE"), "a 5000-byte body is 413")
    c = http.client.HTTPConnection("127.0.0.1", b.http_port, timeout=10)
    c.request("POST", "/api/v1/topics", body=iter([b"y" * 1000] * 5), encode_chunked=True)
    r = c.getresponse()
    tap.is_(r.status, 413, "a 5000-byte chunked body is 413")
    c.close()
    st, _, e = call(b, "POST", "/api/v1/topics", b"z" * 2000)
    tap.is_((st, e["error_code"]), (400, "INVALID_JSON"), "a body under the limit is read")
    tails = [lib.Sse(b, "/api/v1/topics/__consumer_offsets/tail") for _ in range(40)]
    try:
        st = call(b, "GET", "/readyz", timeout=3)[0]
    except OSError:
        st = "refused"
    for t in tails:
        t.close()

    def ready():
        try:
            return call(b, "GET", "/readyz", timeout=3)[0] == 200
        except OSError:
            return False
    # A parked tail notices its client left at its next keep-alive (15 s).
    st2 = harness.wait_until(ready, 25, 0.5)
    tap.ok(st != 200 and st2, "http.max.connections refuses more, then recovers",
           "with 40 tails: %r, after: %r" % (st, st2))

with tap.section("hostile input", cases=6, timeout=60):
    sts = [call(b, "GET", p)[0] for p in ("/api/v1/topics/%zz", "/api/v1/topics/a%00b",
                                           "/a/b/c/d/e/f/g/h/i/j", "/api/v1/topics/%")]
    tap.is_(sts, [400, 400, 400, 400], "bad escapes, NUL and too many segments are 400")
    out = raw_exchange(b.http_port, b"GARBAGE\r\n\r\n")
    tap.ok(out == b"" or out.startswith(b"HTTP/1.1 4"), "a garbage request: 4xx or closed", out[:80])
    out = raw_exchange(b.http_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 +
                       b"\r\n\r\n")
    tap.ok(out == b"" or out.startswith(b"HTTP/1.1 4"), "a 200 KB header: 4xx or closed", out[:80])
    out = raw_exchange(b.http_port, b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    tap.ok(out == b"" or out.startswith(b"HTTP/1.1 4"), "a 100 KB URL: 4xx or closed", out[:80])
    st, _, e = call(b, "GET", "/api/v1/topics/x/records?filter=" + "(" * 3000 + "key")
    tap.ok(st in (400, 404), "a hostile filter is refused", st)
    tap.is_(call(b, "GET", "/readyz")[0], 200, "the server is still ready")

with tap.section("concurrency and the Kafka listener", cases=4, timeout=120):
    call(b, "POST", "/api/v1/topics", {"name": "cc", "partitions": 4})
    results = []
    lock = threading.Lock()

    def worker(i):
        for j in range(25):
            paths = [("GET", "/api/v1/topics", None), ("GET", "/api/v1/topics/cc/records", None),
                     ("POST", "/api/v1/topics/cc/records", {"key": "w%d" % i, "value": {"j": j}})]
            m, p, body = paths[j % 3]
            try:
                st = call(b, m, p, body)[0]
            except OSError as ex:
                st = str(ex)
            with lock:
                results.append(st)
    ths = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(60)
    tap.ok(len(results) == 200 and all(s == 200 for s in results),
           "200 concurrent requests from 8 threads all succeed",
           sorted(set(map(str, results))))
    # Parked tails and stalled half-requests must not hold up Kafka.
    tails = [lib.Sse(b, "/api/v1/topics/cc/tail") for _ in range(20)]
    stalled = []
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", b.http_port))
        s.sendall(b"POST /api/v1/topics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        stalled.append(s)
    t0 = time.monotonic()
    recs = [(b"k%d" % i, b"v%d" % i, None, None) for i in range(2000)]
    reports, errors, left = harness.ck_produce(dict(COMMON), "cc", recs)
    msgs, rerr, complete = harness.ck_read_all(dict(COMMON), "cc", 4, timeout=60)
    tap.ok(not errors and left == 0 and complete and len(msgs) == 2000 + 64,
           "Kafka produce and fetch work while 30 HTTP connections are parked or stalled",
           "errors %r, read %d, %.1f s" % (errors[:3], len(msgs), time.monotonic() - t0))
    ev = tails[0].events(5, 20)
    tap.is_(len(ev), 5, "the parked tails deliver what was produced")
    rc = b.stop(timeout=20)
    tap.is_(rc, 0, "SIGTERM with open tails and stalled requests exits 0")
    for s in stalled:
        s.close()
    for t in tails:
        t.close()

tap.done()
