"""1011-txn-confluent: confluent-kafka-python transactional producer.

A Producer with a transactional.id commits one transaction and aborts
another on a two-partition topic, and a third transaction stays open while
consumers read. read_committed consumers (isolation.level) see exactly the
committed records, read_uncommitted ones every data record, and neither
gets a control record as a message. After a graceful restart the same
holds, the open transaction is still hidden, and a new producer instance
with the same transactional.id fences it (its records stay invisible).
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOPIC = "txn-ck"
NPARTS = 2

tap = harness.Tap(timeout=300)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka import KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

tap.plan(19)
broker = harness.Broker(tap, advertise=True, args=["--set", "http.listener="])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}

with tap.section("create topic", cases=1, timeout=60):
    err = None
    try:
        admin = AdminClient(dict(COMMON))
        admin.create_topics([NewTopic(TOPIC, NPARTS, 1)])[TOPIC].result(30)
    except KafkaException as e:
        err = e.args[0].name()
    tap.is_(err, None, "topic created")


def produce(p, tag, n):
    for i in range(n):
        p.produce(TOPIC, value=("%s-%d" % (tag, i)).encode(), partition=i % NPARTS)
    p.flush(30)


def read(isolation):
    msgs, errors, complete = harness.ck_read_all(dict(COMMON, **{"isolation.level": isolation}),
                                                 TOPIC, NPARTS, timeout=60)
    for e in errors[:5]:
        tap.diag("%s consumer: %s" % (isolation, e))
    tags = {}
    for m in msgs:
        tag = m.value().decode(errors="replace").split("-")[0]
        tags[tag] = tags.get(tag, 0) + 1
    return tags, len(msgs), complete


with tap.section("commit, abort, open", cases=4, timeout=120):
    p = Producer(dict(COMMON, **{"transactional.id": "ck-txn", "linger.ms": 5}))
    p.init_transactions(30)
    p.begin_transaction()
    produce(p, "commit", 8)
    p.commit_transaction(30)
    p.begin_transaction()
    produce(p, "abort", 8)
    p.abort_transaction(30)
    p.begin_transaction()
    produce(p, "open", 4)  # stays open
    tap.ok(True, "two transactions ended, a third one open")
    tags, n, complete = read("read_committed")
    tap.ok(complete, "read_committed reaches the LSO of every partition")
    tap.is_(tags, {"commit": 8}, "read_committed sees exactly the committed records")
    tags, n, complete = read("read_uncommitted")
    tap.is_((tags, complete), ({"commit": 8, "abort": 8, "open": 4}, True),
            "read_uncommitted sees every data record and no control record")

with tap.section("restart", cases=3, timeout=120):
    tap.ok(broker.restart(), "broker restarts gracefully")
    tags, n, complete = read("read_committed")
    tap.is_((tags, complete), ({"commit": 8}, True),
            "after the restart read_committed still hides the open transaction")
    tags, n, complete = read("read_uncommitted")
    tap.is_(tags, {"commit": 8, "abort": 8, "open": 4},
            "after the restart read_uncommitted sees the same records")

with tap.section("fencing", cases=6, timeout=120):
    p2 = Producer(dict(COMMON, **{"transactional.id": "ck-txn", "linger.ms": 5}))
    p2.init_transactions(60)
    tap.ok(True, "a new instance with the same transactional.id initialises")
    p2.begin_transaction()
    produce(p2, "new", 4)
    p2.commit_transaction(30)
    tap.ok(True, "the new instance commits")
    fenced = None
    try:
        p.commit_transaction(30)
    except KafkaException as e:
        fenced = e.args[0]
        tap.diag("old instance: %s" % fenced)
    tap.ok(fenced is not None, "the old instance cannot commit its open transaction")
    tap.ok(fenced is not None and (fenced.fatal() or fenced.name() in
                                   ("_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH")),
           "the old instance is fenced")
    tags, n, complete = read("read_committed")
    tap.is_((tags, complete), ({"commit": 8, "new": 4}, True),
            "read_committed: the fenced transaction was aborted, the new one committed")
    tags, n, complete = read("read_uncommitted")
    tap.is_(n, 24, "read_uncommitted: 24 data records, no control records")

with tap.section("abort after restart", cases=3, timeout=120):
    p2.begin_transaction()
    produce(p2, "late", 6)
    tap.ok(broker.restart(), "broker restarts with a transaction open")
    p2.abort_transaction(60)
    tap.ok(True, "the open transaction is aborted after the restart")
    tags, n, complete = read("read_committed")
    tap.is_((tags, complete), ({"commit": 8, "new": 4}, True),
            "read_committed never sees the aborted records")

tap.is_(broker.stop(), 0, "broker stops cleanly")
broker.cleanup()
sys.exit(tap.done())
