"""0561-compaction-txn: cleanup.policy=compact with transactions (KIP-98).

A compacted topic (small segment.bytes, segment.ms and
min.cleanable.dirty.ratio so that the cleaner runs) receives transactions
from a confluent-kafka-python transactional producer, committed and
aborted in turn, each writing every key; the last transaction of all is
aborted, so each key's newest record is an aborted one. A plain producer
writes one key in between. After the log rolls (one record appended
after segment.ms) and the cleaner has run, a read_committed consumer sees
exactly the latest committed value of every key (before the fix, the
aborted newer values made the cleaner remove the committed ones), and a
read_uncommitted consumer sees no aborted record any more (the cleaner
removed them). The same holds after a restart.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOPIC = "compacted-txn"
NKEYS = 20
NTXN = 8  # even: committed, odd: aborted (the last one is aborted)
SEGMENT_MS = 1000
CLEAN_TIMEOUT = 90  # the cleaner's default backoff is 15 s; a roll wakes it

tap = harness.Tap(timeout=400)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka import KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

tap.plan(9)
broker = harness.Broker(tap, advertise=True)
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}
KEYS = ["key-%02d" % k for k in range(NKEYS)]
PLAIN_KEY = "key-03"

with tap.section("create the compacted topic", cases=1, timeout=60):
    err = None
    try:
        admin = AdminClient(dict(COMMON))
        admin.create_topics([NewTopic(TOPIC, 1, 1, config={
            "cleanup.policy": "compact",
            "segment.bytes": "4096",
            "segment.ms": str(SEGMENT_MS),
            "min.cleanable.dirty.ratio": "0.01",
            "min.compaction.lag.ms": "0",
        })], operation_timeout=5, request_timeout=10)[TOPIC].result(30)
    except KafkaException as e:
        err = e.args[0].name()
    tap.is_(err, None, "create_topics with cleanup.policy=compact")


def value(t, key):
    kind = "committed" if t % 2 == 0 else "aborted"
    return ("%s txn %d %s " % (kind, t, key) * 8).encode()


latest = {}  # key -> latest committed value
with tap.section("transactions", cases=2, timeout=180):
    errors = []
    p = Producer(dict(COMMON, **{"transactional.id": "compact-txn", "linger.ms": 5,
                                 "batch.num.messages": 5}))
    try:
        p.init_transactions(30)
        for t in range(NTXN):
            if t == NTXN - 1:
                # A plain (non-transactional) record between the transactions.
                reports, errs, left = harness.ck_produce(
                    dict(COMMON, **{"acks": "all"}), TOPIC,
                    [(PLAIN_KEY.encode(), b"plain value", None, None)])
                errors += errs + (["plain record not delivered"] if left or None in reports
                                  else [])
                latest[PLAIN_KEY] = b"plain value"
            p.begin_transaction()
            for key in KEYS:
                p.produce(TOPIC, key=key.encode(), value=value(t, key), partition=0)
            p.flush(30)
            if t % 2 == 0:
                p.commit_transaction(30)
                for key in KEYS:
                    latest[key] = value(t, key)
            else:
                p.abort_transaction(30)
    except KafkaException as e:
        errors.append(str(e))
    tap.ok(not errors, "%d transactions (committed and aborted in turn) of %d keys each"
           % (NTXN, NKEYS), *errors[:3])
    # Roll: the compacted log rolls only on append, once segment.ms passed,
    # so everything above leaves the active segment (which is never cleaned).
    time.sleep(SEGMENT_MS / 1000.0 + 0.5)
    reports, errs, left = harness.ck_produce(dict(COMMON, **{"acks": "all"}), TOPIC,
                                             [(b"roll", b"roll", None, None)])
    tap.ok(not errs and not left and None not in reports,
           "one record after segment.ms rolls the log", *errs[:3])
    latest["roll"] = b"roll"


def read(isolation):
    msgs, errors, complete = harness.ck_read_all(
        dict(COMMON, **{"isolation.level": isolation}), TOPIC, 1, timeout=30,
        alive=broker.alive)
    recs = [(m.key().decode() if m.key() is not None else None, m.value()) for m in msgs]
    return recs, errors, complete


def committed_view_ok():
    recs, errors, complete = read("read_committed")
    got = {}
    dup = []
    for k, v in recs:
        if k in got:
            dup.append(k)
        got[k] = v
    return complete and not errors and not dup and got == latest, recs, errors, complete


with tap.section("compacted view", cases=2, timeout=CLEAN_TIMEOUT + 90):
    last = [None]

    def done():
        last[0] = committed_view_ok()
        return last[0][0]

    ok = harness.wait_until(done, CLEAN_TIMEOUT, interval=1.0)
    _, recs, errors, complete = last[0]
    got = {}
    for k, v in recs:
        got.setdefault(k, []).append(v[:24])
    wrong = sorted(k for k in latest if [latest[k][:24]] != got.get(k))
    tap.ok(bool(ok), "read_committed sees exactly the latest committed value of every key",
           "%d records, complete %s, errors %s" % (len(recs), complete, errors[:3]),
           "keys not as expected: %s" % wrong[:5],
           "e.g. %s: %s" % ((wrong[0], got.get(wrong[0])) if wrong else ("-", "-")))
    recs, errors, complete = read("read_uncommitted")
    aborted = [k for k, v in recs if v.startswith(b"aborted")]
    tap.ok(complete and not errors and not aborted and len(recs) == len(latest),
           "read_uncommitted: the aborted records were removed by the cleaner",
           "%d records (%d expected), %d aborted ones, complete %s, errors %s"
           % (len(recs), len(latest), len(aborted), complete, errors[:3]))

with tap.section("restart", cases=2, timeout=CLEAN_TIMEOUT + 60):
    tap.ok(broker.restart(), "broker restarts on the cleaned data")
    ok, recs, errors, complete = committed_view_ok()
    tap.ok(ok, "after the restart read_committed sees the same latest committed values",
           "%d records, complete %s, errors %s" % (len(recs), complete, errors[:3]))

with tap.section("shutdown", cases=1, timeout=60):
    tap.is_(broker.stop(), 0, "broker stops cleanly")

broker.cleanup()
sys.exit(tap.done())
