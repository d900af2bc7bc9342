"""1001-idempotence-confluent: confluent-kafka-python idempotent producer.

One Producer with enable.idempotence=true keeps producing while the broker
is restarted gracefully and then killed with SIGKILL and started again on
the same port and data directory. librdkafka retries the batches whose
answers were lost with their original sequence numbers; the broker must
recognise those it already wrote (producer state rebuilt from the snapshot
and the log), so every message is delivered, none fails, and a
read_committed consumer reads each exactly once, in order per partition.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOPIC = "idem-ck"
NPARTS = 2
N = 6000

tap = harness.Tap(timeout=300)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka import KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

tap.plan(10)
broker = harness.Broker(tap, advertise=True)
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}

admin = AdminClient(dict(COMMON))
with tap.section("create topic", cases=1, timeout=60):
    err = None
    try:
        admin.create_topics([NewTopic(TOPIC, NPARTS, 1)])[TOPIC].result(30)
    except KafkaException as e:
        err = e.args[0].name()
    tap.is_(err, None, "topic created")

reports = [None] * N
errors = []
fatal = []


def on_delivery(i):
    def cb(err, msg):
        if err is not None:
            errors.append("message %d: %s" % (i, err))
        else:
            reports[i] = (msg.partition(), msg.offset())
    return cb


def on_error(err):
    if err.fatal():
        fatal.append(str(err))


with tap.section("produce through a restart and a kill -9", cases=4, timeout=200):
    p = Producer(dict(COMMON, **{"enable.idempotence": True, "linger.ms": 2,
                                 "batch.num.messages": 50, "error_cb": on_error}))
    for i in range(N):
        if i == N // 3:
            p.flush(30)
            tap.ok(broker.restart(), "graceful restart while the producer lives")
        if i == 2 * N // 3:
            # Batches in flight lose their answers; librdkafka retries them.
            broker.kill()
            tap.ok(broker.start(), "start after kill -9")
        while True:
            try:
                p.produce(TOPIC, value=b"%d" % i, partition=i % NPARTS, on_delivery=on_delivery(i))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(120)
    tap.is_(left, 0, "every message answered")
    tap.ok(not errors and not fatal and all(r is not None for r in reports),
           "every message delivered, no fatal idempotence error",
           "errors: %s" % errors[:5], "fatal: %s" % fatal[:5])

with tap.section("read back", cases=3, timeout=90):
    msgs, rerrors, complete = harness.ck_read_all(COMMON, TOPIC, NPARTS, timeout=60)
    tap.ok(complete and not rerrors, "both partitions read to their end", "%s" % rerrors[:5])
    seen = {}
    order_bad = 0
    last = {}
    for m in msgs:
        i = int(m.value())
        seen[i] = seen.get(i, 0) + 1
        if i <= last.get(m.partition(), -1):
            order_bad += 1
        last[m.partition()] = i
    dups = sorted(i for i, n in seen.items() if n > 1)
    missing = [i for i in range(N) if i not in seen]
    tap.ok(not dups and not missing, "each message exactly once",
           "duplicates: %d %s" % (len(dups), dups[:10]),
           "missing: %d %s" % (len(missing), missing[:10]))
    tap.is_(order_bad, 0, "order kept per partition")

tap.is_(broker.stop(), 0, "broker stops cleanly")
tap.done()
