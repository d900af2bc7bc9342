"""1222-random-frames: a client sending random frames for DURATION seconds
does not disturb well-behaved clients.

FLOODERS threads open connection after connection and send, in a random
mix: frames with a valid request header (every API key 0..74, versions
0..17, a client id, flexible-header tag bytes or not) followed by random
body bytes; frames of random bytes throughout; valid size prefixes with
truncated bodies; and garbage without framing. They read whatever comes
back without waiting long, and sometimes close in the middle. The random
source is seeded (RN_IT_SEED repeats a run). Meanwhile a confluent-kafka
producer sends records with acks=all the whole time. Afterwards: the
broker is alive, every record the producer was told about is read back
exactly once, the broker's VmRSS grew by less than RSS_SLACK_MIB, no
sanitizer report is in the broker log (sanitizer builds), and SIGTERM
gives exit status 0.
"""

import os
import random
import socket
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DURATION = 10.0
FLOODERS = 3
RSS_SLACK_MIB = 64
TOPIC = "rf-live"

tap = harness.Tap(timeout=240)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka import Producer  # noqa: E402

seed = tap.seed

tap.plan(7)
broker = harness.Broker(tap, args=["--set", "auto.create.topics.enable=true",
                                   "--set", "num.partitions=3",
                                   "--set", "socket.request.max.bytes=1048576"])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
conf = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}

# Warm-up, so that the RSS baseline includes topic and client state.
harness.ck_produce(dict(conf, **{"acks": "all"}), TOPIC, [(b"w", b"warm-up", None, None)])
rss0 = broker.status_kb("VmRSS")

stop = threading.Event()
stats = {"conns": 0, "frames": 0, "bytes": 0, "answers": 0}
lock = threading.Lock()


def random_frame(rng):
    kind = rng.randrange(10)
    if kind < 6:
        # A valid request header, then random bytes.
        hdr = struct.pack(">hhi", rng.randrange(75), rng.randrange(18), rng.randrange(1 << 31))
        cid = bytes(rng.randrange(32, 127) for _ in range(rng.randrange(12)))
        hdr += struct.pack(">h", len(cid) if rng.randrange(8) else -1) + cid
        if rng.randrange(2):
            hdr += bytes([rng.randrange(3)])  # flexible header: tag count
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
        # Bias: small counts and lengths that point beyond the frame.
        if body and rng.randrange(2):
            pos = rng.randrange(len(body))
            body = body[:pos] + struct.pack(">i", rng.choice([-1, 0, 1, 0x7fffffff, 1 << 20])) + body[pos:]
        msg = hdr + body
        return struct.pack(">i", len(msg)) + msg
    if kind < 8:
        msg = bytes(rng.randrange(256) for _ in range(rng.randrange(8, 400)))
        return struct.pack(">i", len(msg)) + msg
    if kind < 9:
        # Size prefix with a truncated body.
        return struct.pack(">i", rng.randrange(100, 1 << 20)) + bytes(rng.randrange(50))
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))


def flooder(i):
    rng = random.Random(seed * 31 + i)
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", broker.port), timeout=2)
        except OSError:
            time.sleep(0.05)
            continue
        with lock:
            stats["conns"] += 1
        s.settimeout(0.02)
        try:
            for _ in range(rng.randrange(1, 20)):
                f = random_frame(rng)
                s.sendall(f)
                with lock:
                    stats["frames"] += 1
                    stats["bytes"] += len(f)
                try:
                    if s.recv(65536):
                        with lock:
                            stats["answers"] += 1
                except socket.timeout:
                    pass
                if rng.randrange(15) == 0:
                    break
        except OSError:
            pass  # the broker closed on us: expected for most frames
        finally:
            s.close()


threads = [threading.Thread(target=flooder, args=(i,), daemon=True) for i in range(FLOODERS)]
for t in threads:
    t.start()

delivered, errors = [], []
p = Producer(dict(conf, **{"acks": "all", "linger.ms": 5}))


def on_delivery(err, msg):
    if err is not None:
        errors.append(str(err))
    else:
        delivered.append(msg.value())


n = 0
t_end = time.monotonic() + DURATION
while time.monotonic() < t_end:
    p.produce(TOPIC, key=b"k%d" % n, value=b"live %d" % n, on_delivery=on_delivery)
    n += 1
    p.poll(0.002)
left = p.flush(60)
stop.set()
for t in threads:
    t.join(10)
tap.diag("flooders: %(conns)d connections, %(frames)d frames, %(bytes)d bytes, "
         "%(answers)d reads with an answer" % stats)
tap.ok(stats["frames"] > 1000, "the flooders sent %d random frames" % stats["frames"])
tap.ok(not errors and left == 0 and len(delivered) == n,
       "producer: all %d records acknowledged while the flood ran" % n, *errors[:5])

msgs, rerrors, complete = harness.ck_read_all(conf, TOPIC, 3, timeout=60)
got = sorted(m.value() for m in msgs if m.key() != b"w")
tap.ok(complete and got == sorted(delivered),
       "every acknowledged record read back exactly once (%d)" % len(got), *rerrors[:5])
rss1 = broker.status_kb("VmRSS")
tap.diag("VmRSS %s kB before, %s kB after the flood" % (rss0, rss1))
tap.ok(broker.alive() and rss0 is not None and rss1 is not None
       and rss1 - rss0 < broker.rss_slack_kb(RSS_SLACK_MIB),
       "broker alive, RSS grew by less than %d MiB" % RSS_SLACK_MIB)
log = broker.log_text()
tap.ok(not harness.SANITIZER_RE.search(log), "no sanitizer report in the broker log")
tap.is_(broker.stop(), 0, "broker exits 0 on SIGTERM")
sys.exit(tap.done())
