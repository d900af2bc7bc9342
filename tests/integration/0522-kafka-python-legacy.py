"""0522-kafka-python-legacy: Produce v0-v2 with legacy message sets.

kafka-python can be pinned to an old broker release, which makes it send
Produce v2 with magic-1 message sets (api_version 0.10.x) or Produce v1 with
magic-0 message sets (0.9), uncompressed or gzip-wrapped. runneld up-converts
them to record batch v2; a modern consumer must read back every key and
value, with the producer's timestamps for magic 1 and none (-1) for magic 0,
and the offsets the producer was told.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

N = 200
CASES = [((0, 10, 1), None, 1), ((0, 10, 1), "gzip", 1), ((0, 9), None, 0), ((0, 9), "gzip", 0)]

tap = harness.Tap(timeout=180)
harness.require_module(tap, "kafka", "python3-kafka")
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

tap.plan(2 + 3 * len(CASES) + 1)
broker = harness.Broker(tap)
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
BS = broker.bootstrap
ts0 = int(time.time() * 1000) - 60000

for n, (av, comp, magic) in enumerate(CASES):
    topic = "legacy-%d" % n
    p = KafkaProducer(bootstrap_servers=BS, api_version=av, compression_type=comp,
                      request_timeout_ms=15000)
    futs = [p.send(topic, key=b"k%d" % i, value=b"v%d-%d" % (n, i),
                   timestamp_ms=(ts0 + i) if magic == 1 else None) for i in range(N)]
    p.flush(30)
    p.close()
    offs = [f.get(0).offset if f.succeeded() else None for f in futs]
    tap.is_(offs, list(range(N)), "%s %s (magic %d): offsets 0..%d acknowledged"
            % (av, comp, magic, N - 1))
    c = KafkaConsumer(bootstrap_servers=BS, consumer_timeout_ms=3000)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning()
    msgs = list(c)
    c.close()
    tap.is_([(m.offset, m.key, m.value) for m in msgs],
            [(i, b"k%d" % i, b"v%d-%d" % (n, i)) for i in range(N)],
            "%s %s: every key and value read back in order" % (av, comp))
    want_ts = [ts0 + i for i in range(N)] if magic == 1 else [-1] * N
    tap.is_([m.timestamp for m in msgs], want_ts,
            "%s %s: timestamps %s" % (av, comp, "kept" if magic == 1 else "absent (-1)"))

tap.ok(broker.alive(), "broker still running")
tap.is_(broker.stop(), 0, "broker exits 0 on SIGTERM")
tap.done()
