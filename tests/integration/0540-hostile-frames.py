"""0540-hostile-frames: bad bytes on the Kafka port never hurt the broker.

Raw sockets send what a confused or hostile peer might: random frames, an
HTTP request, size prefixes above socket.request.max.bytes (set to 1 MiB
here), negative and tiny sizes, truncated headers and bodies, unknown API
keys, unsupported versions, array counts and string lengths far beyond the
bytes present, and many abandoned half-sent connections. The broker must
close such connections (Kafka's behaviour, DESIGN §4) without allocating
what the frame claims (VmPeak of the process is watched), except for
ApiVersions with a too-new version, which gets a v0-format
UNSUPPORTED_VERSION answer carrying the ApiVersions range on a connection
that stays usable (kafka-protocol/README.md §4). Meanwhile a
confluent-kafka producer keeps producing with acks=all; afterwards every
record it was told about is read back.
"""

import os
import socket
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MAX_REQ = 1 << 20
LIVE_TOPIC = "hf-live"
VMPEAK_SLACK_KB = 256 * 1024  # growth allowed while a 2 GiB frame is refused

tap = harness.Tap(timeout=300)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka import Producer  # noqa: E402

tap.plan(31)
broker = harness.Broker(tap, args=["--set", "socket.request.max.bytes=%d" % MAX_REQ,
                                   "--set", "auto.create.topics.enable=true",
                                   "--set", "num.partitions=2"])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}

# ---- raw protocol helpers -------------------------------------------------


def header(api_key, version, corr, client_id=b"rn-it-hostile", flexible=False):
    """Request header v1 (v2 with an empty tagged-field section if flexible)."""
    h = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    return h + (b"\x00" if flexible else b"")


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def connect():
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_frame(s):
    """One response frame's payload (without the size prefix)."""
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    if size < 4 or size > 1 << 24:
        raise ValueError("response size %d" % size)
    return recv_exact(s, size)


def outcome(s, timeout=5.0):
    """("closed", bytes_received) if the broker closed the connection within
    timeout, else ("open", bytes_received)."""
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                return "closed", data
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return "closed", data
    except socket.timeout:
        pass
    return "open", data


def send_and_outcome(payload, timeout=5.0):
    s = connect()
    try:
        s.sendall(payload)
    except (ConnectionResetError, BrokenPipeError):
        s.close()
        return "closed", b""
    res = outcome(s, timeout)
    s.close()
    return res


def parse_api_versions_v0(payload):
    """(corr, error, {key: (min, max)}) of a v0-format ApiVersions response
    (ranges is None, after a diagnostic, if the body is not v0-format)."""
    corr, err, n = struct.unpack(">ihi", payload[:10])
    if n < 0 or 10 + 6 * n > len(payload):
        tap.diag("not a v0-format ApiVersions body (array count %d, %d bytes): %r"
                 % (n, len(payload), payload[:48]))
        return corr, err, None
    ranges = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", payload[10 + 6 * i:16 + 6 * i])
        ranges[k] = (lo, hi)
    return corr, err, ranges


def api_versions_v0(corr):
    return frame(header(18, 0, corr))


def api_versions_ok(corr=4242):
    """True if a new connection gets a correct ApiVersions v0 answer."""
    try:
        s = connect()
        s.sendall(api_versions_v0(corr))
        c, err, ranges = parse_api_versions_v0(read_frame(s))
        s.close()
        return c == corr and err == 0 and 18 in ranges
    except (OSError, EOFError, ValueError, struct.error) as e:
        tap.diag("ApiVersions on a new connection failed: %r" % e)
        return False


def expect_closed(desc, payload, timeout=5.0):
    """One case: the broker closes the connection without an answer and
    still answers ApiVersions on a new connection afterwards."""
    status, data = send_and_outcome(payload, timeout)
    up = broker.alive() and api_versions_ok()
    return tap.ok(status == "closed" and data == b"" and up, desc,
                  "connection %s, %d bytes received: %r; broker %s"
                  % (status, len(data), data[:64], "up" if up else "DOWN"))


# ---- a producer that keeps going meanwhile ---------------------------------

live = {"sent": 0, "acked": {}, "errors": [], "stop": threading.Event()}


def live_producer():
    p = Producer(dict(COMMON, **{"acks": "all", "linger.ms": 2}))

    def on_delivery(err, msg):
        if err is not None:
            live["errors"].append("%s: %s" % (msg.key(), err))
        else:
            live["acked"][msg.key()] = (msg.partition(), msg.offset(), msg.value())

    i = 0
    while not live["stop"].is_set():
        key = b"live-%d" % i
        try:
            p.produce(LIVE_TOPIC, key=key, value=b"record %d while under attack" % i,
                      on_delivery=on_delivery)
            i += 1
        except BufferError:
            pass
        p.poll(0.005)
    live["sent"] = i
    live["left"] = p.flush(30)


producer_thread = threading.Thread(target=live_producer, name="live-producer", daemon=True)
producer_thread.start()

# ---- well-formed requests first --------------------------------------------

with tap.section("sane", cases=3, timeout=30):
    tap.ok(api_versions_ok(), "ApiVersions v0 is answered with error 0 and the ApiVersions range")
    s = connect()
    s.sendall(api_versions_v0(1) + api_versions_v0(2))
    corrs = [parse_api_versions_v0(read_frame(s))[0] for _ in range(2)]
    s.close()
    tap.is_(corrs, [1, 2], "two pipelined requests are answered in order")
    s = connect()
    for b in api_versions_v0(77):
        s.send(bytes([b]))
        time.sleep(0.002)
    corr = parse_api_versions_v0(read_frame(s))[0]
    s.close()
    tap.is_(corr, 77, "a request sent one byte at a time is answered")

with tap.section("unsupported ApiVersions version", cases=3, timeout=30):
    s = connect()
    body = b"\x06rn-it\x04" + b"1.0" + b"\x00"  # compact strings, tagged fields
    s.sendall(frame(header(18, 127, 99, flexible=True) + body))
    corr, err, ranges = parse_api_versions_v0(read_frame(s))
    tap.is_((corr, err), (99, 35), "ApiVersions v127: v0-format answer, UNSUPPORTED_VERSION (35)")
    av = ranges.get(18) if ranges is not None else None
    tap.ok(av is not None and av[0] == 0 and av[1] >= 3,
           "the answer carries the ApiVersions range (0..>=3)", "ApiVersions range: %r" % (av,))
    s.sendall(api_versions_v0(100))
    corr, err, _ = parse_api_versions_v0(read_frame(s))
    s.close()
    tap.is_((corr, err), (100, 0), "the connection stays usable afterwards")

# ---- framing violations -----------------------------------------------------

with tap.section("sizes", cases=7, timeout=60):
    expect_closed("an HTTP request on the Kafka port is closed",
                  b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    expect_closed("size prefix socket.request.max.bytes + 1 is closed",
                  struct.pack(">i", MAX_REQ + 1) + header(18, 0, 1))
    peak0 = broker.status_kb("VmPeak")
    expect_closed("size prefix 2 GiB - 1 is closed", struct.pack(">i", 0x7FFFFFFF) + header(18, 0, 1))
    peak1 = broker.status_kb("VmPeak")
    grew = (peak1 - peak0) if peak0 is not None and peak1 is not None else None
    tap.ok(grew is not None and grew < VMPEAK_SLACK_KB,
           "refusing the 2 GiB frame did not allocate it (VmPeak +%s kB)" % grew,
           "VmPeak before %s kB, after %s kB" % (peak0, peak1))
    expect_closed("negative size prefix is closed", b"\xff\xff\xff\xff" + header(18, 0, 1))
    expect_closed("size 0 is closed", b"\x00\x00\x00\x00")
    expect_closed("size 3 (shorter than any header) is closed", b"\x00\x00\x00\x03abc")

with tap.section("truncated", cases=4, timeout=60):
    expect_closed("a header cut after the correlation id's first bytes is closed",
                  frame(struct.pack(">hh", 3, 1) + b"\x00\x01"))
    expect_closed("a client id longer than the frame is closed",
                  frame(struct.pack(">hhih", 18, 0, 5, 0x7FFF) + b"abc"))
    # Metadata v1 claiming one topic, with no topic name after the count.
    expect_closed("a body cut short (Metadata v1, 1 topic, no name) is closed",
                  frame(header(3, 1, 6) + struct.pack(">i", 1)))
    s = connect()
    s.sendall(struct.pack(">i", 100) + header(18, 0, 7))
    s.shutdown(socket.SHUT_WR)
    status, data = outcome(s)
    s.close()
    tap.ok(status == "closed" and data == b"", "a partial frame followed by EOF is closed",
           "connection %s, %d bytes received" % (status, len(data)))

with tap.section("unknown", cases=2, timeout=30):
    expect_closed("an unknown API key (32000) is closed without an answer",
                  frame(header(32000, 0, 8)))
    expect_closed("an unsupported Metadata version (v99) is closed without an answer",
                  frame(header(3, 99, 9) + b"\x00" * 16))

with tap.section("huge counts", cases=4, timeout=60):
    peak0 = broker.status_kb("VmPeak")
    expect_closed("Metadata v1 with topic count 2^31-1 and no topics is closed",
                  frame(header(3, 1, 10) + struct.pack(">i", 0x7FFFFFFF)))
    # Produce v7: transactional id null, acks -1, timeout, topic count huge.
    expect_closed("Produce v7 with topic count 2^31-1 is closed",
                  frame(header(0, 7, 11) + struct.pack(">hhii", -1, -1, 1000, 0x7FFFFFFF)))
    # ApiVersions v3 (flexible): a compact string length of 2^28 in 4 bytes.
    expect_closed("ApiVersions v3 with a 256 MiB compact string length is closed",
                  frame(header(18, 3, 12, flexible=True) + b"\x81\x80\x80\x80\x01abc"))
    peak1 = broker.status_kb("VmPeak")
    grew = (peak1 - peak0) if peak0 is not None and peak1 is not None else None
    tap.ok(grew is not None and grew < VMPEAK_SLACK_KB,
           "huge counts were not allocated (VmPeak +%s kB)" % grew,
           "VmPeak before %s kB, after %s kB" % (peak0, peak1))

with tap.section("random", cases=2, timeout=90):
    rnd = tap.random
    answered = 0
    for i in range(60):
        # A plausible size and a random API key, version and body.
        body = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300)))
        key = rnd.choice([0, 1, 2, 3, 8, 9, 10, 11, 18, 19, 20, 32, 60, rnd.randint(0, 32767)])
        payload = struct.pack(">hhi", key, rnd.randint(-2, 20), 1000 + i) + body
        status, data = send_and_outcome(frame(payload), timeout=1.0)
        answered += bool(data)
    tap.diag("%d of 60 random frames got some answer" % answered)
    tap.ok(broker.alive() and api_versions_ok(), "after 60 random frames the broker still answers")
    socks = []
    for i in range(200):
        s = connect()
        s.sendall(struct.pack(">i", 50 + i) + header(3, 1, i)[: i % 12])
        socks.append(s)
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # reset, mid-frame
    tap.ok(broker.alive() and api_versions_ok(),
           "after 200 connections reset mid-frame the broker still answers")

# ---- the producer that ran meanwhile ---------------------------------------

with tap.section("meanwhile", cases=4, timeout=150):
    time.sleep(0.5)
    live["stop"].set()
    producer_thread.join(60)
    tap.ok(broker.alive() and api_versions_ok(), "broker alive and answering after everything")
    tap.ok(live["sent"] > 0 and live.get("left") == 0 and not live["errors"]
           and len(live["acked"]) == live["sent"],
           "the producer running meanwhile had all %d records acknowledged" % live["sent"],
           "acknowledged %d, left %r" % (len(live["acked"]), live.get("left")), *live["errors"][:10])
    msgs, errors, complete = harness.ck_read_all(COMMON, LIVE_TOPIC, 2, timeout=60,
                                                 alive=broker.alive)
    got = {m.key(): (m.partition(), m.offset(), m.value()) for m in msgs}
    tap.is_(len(got), len(live["acked"]), "a consumer reads them all back")
    bad = [k for k, v in live["acked"].items() if got.get(k) != v]
    tap.ok(not bad, "each at its acknowledged partition and offset with its value",
           *["%r: acked %r, read %r" % (k, live["acked"][k], got.get(k)) for k in bad[:10]])

with tap.section("stop", cases=1, timeout=40):
    tap.is_(broker.stop(), 0, "broker exits 0 on SIGTERM")

tap.done()
