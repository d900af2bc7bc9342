"""1223-connection-caps: max.connections and max.connections.per.ip are
enforced, and CreateTopics refuses absurd requests.

The broker runs with max.connections=MAX_CONN and
max.connections.per.ip=PER_IP. A connection counts as served when an
ApiVersions v0 request on it is answered, and as refused when the broker
closes it instead. From 127.0.0.1, PER_IP connections are served and the
ones after them refused; from 127.0.0.2 (another loopback address) PER_IP
more are served; from 127.0.0.3 only what is left of MAX_CONN. Closing
connections makes room again, and a confluent-kafka client works once
there is room. CreateTopics with more partitions than the broker allows
per topic (100000) gets INVALID_PARTITIONS, invalid topic names get
INVALID_TOPIC_EXCEPTION, a batch above message.max.bytes gets
MESSAGE_TOO_LARGE, and the broker is still fine afterwards.
"""

import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from kwire import api_versions_answered  # noqa: E402

MAX_CONN = 30
PER_IP = 12

tap = harness.Tap(timeout=180)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")

tap.plan(13)
broker = harness.Broker(tap, args=["--set", "max.connections=%d" % MAX_CONN,
                                   "--set", "max.connections.per.ip=%d" % PER_IP,
                                   "--set", "auto.create.topics.enable=false",
                                   "--set", "runnel.max.partitions.per.topic=16"])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")


def broker_fds():
    return len(os.listdir("/proc/%d/fd" % broker.pid))


def settle(limit, timeout=20):
    """Waits until the broker holds at most limit descriptors (closed
    connections are counted until the broker has seen them close)."""
    ok = harness.wait_until(lambda: broker_fds() <= limit, timeout, 0.05)
    time.sleep(0.2)  # the descriptor goes first, the connection's close callback after
    return ok


# The harness's own readiness probe connected once; let that close count down.
time.sleep(0.3)
base_fds = broker_fds()


def open_from(src, n):
    """Opens n connections from source address src, one after another (each
    checked before the next, so the broker counts them in order); returns
    (served sockets, number refused)."""
    kept, refused = [], 0
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((src, 0))
            s.connect(("127.0.0.1", broker.port))
        except OSError as e:
            tap.diag("connect from %s: %s" % (src, e))
            s.close()
            refused += 1
            continue
        if api_versions_answered(s, 7, 5, b"caps"):
            kept.append(s)
        else:
            s.close()
            refused += 1
    return kept, refused


settle(base_fds)
a, ra = open_from("127.0.0.1", PER_IP + 5)
tap.is_((len(a), ra), (PER_IP, 5), "127.0.0.1: %d served, the 5 after them refused "
        "(max.connections.per.ip)" % PER_IP)
settle(base_fds + len(a))
b, rb = open_from("127.0.0.2", PER_IP)
tap.is_((len(b), rb), (PER_IP, 0), "127.0.0.2 has its own %d" % PER_IP)
room = MAX_CONN - 2 * PER_IP
settle(base_fds + len(a) + len(b))
c, rc = open_from("127.0.0.3", room + 4)
tap.is_((len(c), rc), (room, 4), "127.0.0.3: %d served, then max.connections (%d) refuses"
        % (room, MAX_CONN))
tap.ok(all(api_versions_answered(s, 100 + i, 5, b"caps") for i, s in enumerate(a[:3] + b[:3] + c[:1])),
       "the connections that were let in are still served")

# Room again.
for s in a + b + c:
    s.close()
settle(base_fds)
d, rd = open_from("127.0.0.1", PER_IP)
tap.is_((len(d), rd), (PER_IP, 0), "after closing, 127.0.0.1 gets %d again" % PER_IP)
for s in d:
    s.close()
settle(base_fds)

# A real client once there is room, and the CreateTopics limits.
conf = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}


ERRORS = {0: "NO_ERROR", 17: "INVALID_TOPIC_EXCEPTION", 36: "TOPIC_ALREADY_EXISTS",
          37: "INVALID_PARTITIONS", 38: "INVALID_REPLICATION_FACTOR", 42: "INVALID_REQUEST"}


def create(name, parts):
    """CreateTopics v0 on a raw socket (clients refuse to send some of
    these); returns the error name of the topic's result."""
    nb = name.encode()
    body = struct.pack(">i", 1) + struct.pack(">h", len(nb)) + nb
    body += struct.pack(">ihii", parts, 1, 0, 0) + struct.pack(">i", 20000)
    hdr = struct.pack(">hhi", 19, 0, 42) + struct.pack(">h", 4) + b"caps"
    msg = hdr + body
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=30)
    try:
        s.sendall(struct.pack(">i", len(msg)) + msg)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                return "connection closed"
            data += chunk
    finally:
        s.close()
    # size, correlation id, topics count, name, error code
    pos = 12
    nlen = struct.unpack(">h", data[pos:pos + 2])[0]
    pos += 2 + max(nlen, 0)
    code = struct.unpack(">h", data[pos:pos + 2])[0]
    return ERRORS.get(code, "error %d" % code)


tap.is_(create("caps-ok", 2), "NO_ERROR", "CreateTopics of a normal topic works")
tap.is_(create("caps-huge", 100001), "INVALID_PARTITIONS",
        "CreateTopics with 100001 partitions: INVALID_PARTITIONS")
tap.is_([create("caps-17", 17), create("caps-16", 16)], ["INVALID_PARTITIONS", "NO_ERROR"],
        "runnel.max.partitions.per.topic=16: 17 partitions refused, 16 accepted")
bad = ["bad/name", "a" * 250, "..", ".", "with space", "tab\tname"]
got = [create(n, 1) for n in bad]
tap.is_(got, ["INVALID_TOPIC_EXCEPTION"] * len(bad),
        "invalid topic names: INVALID_TOPIC_EXCEPTION (%d names)" % len(bad))
reports, errors, left = harness.ck_produce(dict(conf, **{"acks": "all"}), "caps-ok",
                                           [(b"k", b"v", None, None)])
tap.ok(not errors and left == 0 and reports[0] is not None, "a producer works afterwards",
       *errors[:5])

# A batch above message.max.bytes (1 MiB by default) is refused by the
# broker: the client is told to allow 8 MB so that it sends it.
from confluent_kafka import Producer  # noqa: E402
big_errs = []
bp = Producer(dict(conf, **{"acks": "all", "retries": 0, "message.max.bytes": 8000000,
                            "compression.type": "none"}))
bp.produce("caps-ok", value=os.urandom(2 << 20),
           on_delivery=lambda err, msg: big_errs.append(err.name() if err else "NO_ERROR"))
bp.flush(30)
tap.is_(big_errs, ["MSG_SIZE_TOO_LARGE"], "a 2 MiB batch: MESSAGE_TOO_LARGE (message.max.bytes)")
tap.is_(broker.stop(), 0, "broker exits 0 on SIGTERM")
sys.exit(tap.done())
