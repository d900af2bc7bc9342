"""1220-slow-reader: clients that never read their responses cannot grow
broker memory without bound, and do not starve other clients.

A topic is filled with ~4 MiB of records. Then SLOW connections each send
a stream of pipelined Fetch requests (partition max bytes 1 MiB, from offset
0: every answer is large) mixed with Metadata requests, as fast as the
socket takes them, and never read a byte. The broker must stop reading from
them (runnel.max.inflight.requests.per.connection and
runnel.max.queued.output.bytes, docs/reliability.md "Limits"). While they
sit there, a well-behaved confluent-kafka client produces and reads back a
second topic. The limits are set low here (QUEUED_MIB of queued output,
INFLIGHT requests) so that the bound is small: per connection at most
QUEUED_MIB + INFLIGHT x 1 MiB (each Fetch answer is at most 1 MiB). The
broker's VmRSS (/proc/PID/status) may grow by at most RSS_SLACK_MIB (the
sum of those bounds plus 16 MiB) while the slow readers are connected; a
second round of slow readers must not grow it by more than 16 MiB beyond
the first (memory is reused, not leaked), and the broker must still be
alive and serving once they go away.

Before the fix in broker/net.c (one read of many small pipelined requests
dispatched them all, whatever the limits), this test saw 3 GB.
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

SLOW = 4
QUEUED_MIB = 4
INFLIGHT = 8
RSS_SLACK_MIB = SLOW * (QUEUED_MIB + INFLIGHT) + 16
FILL_TOPIC = "sr-fill"
LIVE_TOPIC = "sr-live"

tap = harness.Tap(timeout=240)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka import Consumer, Producer  # noqa: E402,F401

tap.plan(10)
broker = harness.Broker(tap, args=["--set", "auto.create.topics.enable=true",
                                   "--set", "num.partitions=1",
                                   "--set", "runnel.max.queued.output.bytes=%d" % (QUEUED_MIB << 20),
                                   "--set", "runnel.max.inflight.requests.per.connection=%d"
                                   % INFLIGHT])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
conf = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def frame(api_key, version, corr, body):
    hdr = struct.pack(">hhi", api_key, version, corr) + kstr("slow-reader")
    msg = hdr + body
    return struct.pack(">i", len(msg)) + msg


def fetch_req(corr, topic):
    # Fetch v4: replica_id, max_wait_ms, min_bytes, max_bytes, isolation,
    # [topic [partition, fetch_offset, partition_max_bytes]]
    body = struct.pack(">iiiib", -1, 0, 1, 64 << 20, 0)
    body += struct.pack(">i", 1) + kstr(topic) + struct.pack(">i", 1)
    body += struct.pack(">iqi", 0, 0, 1 << 20)
    return frame(1, 4, corr, body)


def metadata_req(corr):
    return frame(3, 1, corr, struct.pack(">i", -1))


# ---- fill -------------------------------------------------------------------
value = b"x" * 4000
reports, errors, left = harness.ck_produce(
    dict(conf, **{"acks": "all", "linger.ms": 20}), FILL_TOPIC,
    [(b"k%d" % i, value, None, None) for i in range(1000)])
tap.ok(not errors and left == 0 and all(r is not None for r in reports),
       "filled %s with 1000 x 4 KB records" % FILL_TOPIC, *errors[:5])

rss0 = broker.status_kb("VmRSS")
tap.diag("VmRSS before the slow readers: %s kB" % rss0)

# ---- slow readers ----------------------------------------------------------------
stop = threading.Event()
sent = [0] * SLOW
socks = []


def start_slow():
    stop.clear()
    del socks[:]
    for i in range(SLOW):
        sent[i] = 0
    ts = [threading.Thread(target=slow_reader, args=(i,), daemon=True) for i in range(SLOW)]
    for t in ts:
        t.start()
    return ts


def stop_slow(ts):
    stop.set()
    for s in list(socks):
        try:
            s.close()
        except OSError:
            pass
    for t in ts:
        t.join(10)


def slow_reader(i):
    s = socket.create_connection(("127.0.0.1", broker.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(0.5)
    socks.append(s)
    corr = 0
    while not stop.is_set():
        corr += 1
        req = fetch_req(corr, FILL_TOPIC) if corr % 4 else metadata_req(corr)
        try:
            s.sendall(req)
            sent[i] += 1
        except socket.timeout:
            continue  # the broker stopped reading from us: good
        except OSError:
            return


threads = start_slow()
time.sleep(3)

# ---- a well-behaved client meanwhile ---------------------------------------------
records = [(b"live%d" % i, b"value %d" % i, None, None) for i in range(2000)]
reports, errors, left = harness.ck_produce(dict(conf, **{"acks": "all"}), LIVE_TOPIC, records,
                                           flush_timeout=60)
tap.ok(not errors and left == 0 and all(r is not None for r in reports),
       "a normal producer is served while %d slow readers hang on" % SLOW, *errors[:5])
msgs, rerrors, complete = harness.ck_read_all(conf, LIVE_TOPIC, 1, timeout=60)
tap.is_(sorted(m.value() for m in msgs), sorted(r[1] for r in records),
        "a normal consumer reads every record back")

time.sleep(3)
rss1 = broker.status_kb("VmRSS")
peak = broker.status_kb("VmHWM")
tap.diag("slow readers had %d requests accepted by their sockets" % sum(sent))
tap.diag("VmRSS with the slow readers: %s kB (VmHWM %s kB)" % (rss1, peak))
tap.ok(rss0 is not None and rss1 is not None and rss1 - rss0 < broker.rss_slack_kb(RSS_SLACK_MIB),
       "broker RSS grew by less than %d MiB (%s kB)"
       % (RSS_SLACK_MIB, None if rss1 is None or rss0 is None else rss1 - rss0))
tap.ok(rss1 is not None and peak is not None and peak - rss0 < broker.rss_slack_kb(RSS_SLACK_MIB),
       "peak RSS (VmHWM) within the bound too (%s kB above the start)"
       % (None if peak is None or rss0 is None else peak - rss0))

# ---- they go away, and come back ---------------------------------------------------
stop_slow(threads)
tap.ok(broker.alive(), "broker alive after the slow readers disconnect")
time.sleep(1)
threads = start_slow()
time.sleep(6)
rss2 = broker.status_kb("VmRSS")
stop_slow(threads)
tap.diag("VmRSS with a second round of slow readers: %s kB" % rss2)
tap.ok(rss1 is not None and rss2 is not None and rss2 - rss1 < broker.rss_slack_kb(16),
       "a second round does not grow RSS by 16 MiB more (%s kB)"
       % (None if rss1 is None or rss2 is None else rss2 - rss1))
reports, errors, left = harness.ck_produce(dict(conf, **{"acks": "all"}), LIVE_TOPIC,
                                           [(b"after", b"after", None, None)])
tap.ok(not errors and left == 0, "broker serves produce afterwards", *errors[:5])
tap.is_(broker.stop(), 0, "broker exits 0 on SIGTERM")
sys.exit(tap.done())
