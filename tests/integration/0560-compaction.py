"""0560-compaction: cleanup.policy=compact with confluent-kafka-python.

A compacted topic (created through AdminClient with segment.bytes,
segment.ms, min.cleanable.dirty.ratio, delete.retention.ms and
min.compaction.lag.ms) receives many updates per key, some compressed,
tombstones for a few keys, then more updates of the other keys. Once the
broker's log cleaner has run, a consumer reading from the beginning sees,
below the active segment, exactly the latest value of every key (at the
offset it was produced at, so offsets have gaps) and none of the deleted
keys once delete.retention.ms has passed; the active segment, which is
never cleaned, is read back whole. The same holds after a restart, and
again after more updates.

Needs the broker to map the compaction topic configs into the log config
(broker/topic.c, rn_topic_log_config) and to run the log cleaner
(broker/main.c, rn_log_cleaner_start).
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOPIC = "compacted"
NKEYS = 50
DELETED = ["key-%02d" % k for k in range(5)]
CLEAN_TIMEOUT = 90  # the cleaner's default backoff is 15 s; a roll wakes it

tap = harness.Tap(timeout=400)
ck = harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka import KafkaException  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

tap.plan(14)
broker = harness.Broker(tap, advertise=True)
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}
# Small batches: many segments of segment.bytes each.
PRODUCER = dict(COMMON, **{"linger.ms": 0, "batch.num.messages": 7, "acks": "all"})

produced = []  # (key, value or None, offset), in offset order


def produce_rounds(first_round, nrounds, codec, keys, deletes=()):
    """nrounds updates of each key in keys, then a tombstone for each key in
    deletes. Returns (ok, diagnostic)."""
    records = []
    for r in range(first_round, first_round + nrounds):
        for key in keys:
            value = ("%s round %d " % (key, r) * (1 + (len(key) + r) % 5)).encode()
            records.append((key.encode(), value, [("round", str(r).encode())], None))
    for key in deletes:
        records.append((key.encode(), None, None, None))
    reports, errors, left = harness.ck_produce(dict(PRODUCER, **{"compression.type": codec}),
                                               TOPIC, records)
    if errors or left or None in reports:
        return False, "errors %s, %d left, %d undelivered" % (errors[:3], left,
                                                              reports.count(None))
    for (key, value, _, _), (_, off) in zip(records, reports):
        produced.append((key.decode(), value, off))
    produced.sort(key=lambda r: r[2])
    return True, ""


def active_base():
    """Base offset of the partition's active segment: its last .log file."""
    pdir = os.path.join(broker.data_dir, TOPIC + "-0")
    bases = [int(n[:20]) for n in os.listdir(pdir) if re.fullmatch(r"[0-9]{20}\.log", n)]
    return max(bases) if bases else 0


def expected():
    """What a reader must see once the cleaner is done: below the active
    segment, each key's last record there unless it is a tombstone; the
    active segment whole."""
    a = active_base()
    last = {}
    for key, value, off in produced:
        if off < a:
            last[key] = (key, value, off)
    want = [r for r in last.values() if r[1] is not None]
    want += [r for r in produced if r[2] >= a]
    return sorted(want, key=lambda r: r[2]), a


def read_log():
    """Everything from the beginning: ([(key, value, offset)], errors, complete)."""
    msgs, errors, complete = harness.ck_read_all(COMMON, TOPIC, 1, timeout=30,
                                                 alive=broker.alive)
    out = [(m.key().decode() if m.key() is not None else None, m.value(), m.offset())
           for m in msgs]
    return out, errors, complete


def wait_compacted(what):
    """Reads the topic until it holds what expected() says. Returns (ok,
    diagnostic, records)."""
    last = [None]

    def done():
        recs, errors, complete = read_log()
        want, a = expected()
        last[0] = (recs, errors, complete, want, a)
        return complete and not errors and recs == want

    ok = harness.wait_until(done, CLEAN_TIMEOUT, interval=1.0)
    recs, errors, complete, want, a = last[0]
    diag = "%s: %d records read, %d expected (active segment at %d), complete %s, errors %s" % (
        what, len(recs), len(want), a, complete, errors[:3])
    return bool(ok), diag, recs


admin = AdminClient(dict(COMMON))
with tap.section("create the compacted topic", cases=1, timeout=60):
    fut = admin.create_topics([NewTopic(TOPIC, 1, 1, config={
        "cleanup.policy": "compact",
        "segment.bytes": "4096",
        "segment.ms": "1000",
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": "1000",
        "min.compaction.lag.ms": "0",
    })], operation_timeout=5, request_timeout=10)[TOPIC]
    try:
        fut.result(30)
        created = None
    except KafkaException as e:
        created = e.args[0].name()
    tap.is_(created, None, "create_topics with cleanup.policy=compact and its configs")

KEYS = ["key-%02d" % k for k in range(NKEYS)]
LIVE = [k for k in KEYS if k not in DELETED]
with tap.section("produce updates and tombstones", cases=2, timeout=120):
    ok, diag = produce_rounds(0, 15, "none", KEYS, deletes=DELETED)
    tap.ok(ok, "15 updates of %d keys, then %d tombstones, produced uncompressed"
           % (NKEYS, len(DELETED)), diag)
    ok, diag = produce_rounds(15, 15, "lz4", LIVE)
    tap.ok(ok, "15 more updates (lz4) of the %d other keys produced" % len(LIVE), diag)

with tap.section("compacted view", cases=4, timeout=CLEAN_TIMEOUT + 60):
    ok, diag, recs = wait_compacted("after cleaning")
    tap.ok(ok, "below the active segment, exactly the latest value of each live key", diag)
    offsets = [off for _, _, off in recs]
    at = {off: (k, v) for k, v, off in produced}
    tap.ok(offsets == sorted(offsets) and all(at.get(off) == (k, v) for k, v, off in recs),
           "every record is read at the offset it was produced at")
    # Nothing was deleted by retention: the log starts at 0, so the first
    # record read at a later offset, or a jump, is a gap left by the cleaner.
    tap.ok(len(offsets) > 1 and (offsets[0] > 0 or offsets[-1] - offsets[0] + 1 > len(offsets)),
           "offsets have gaps where records were removed (first record at offset %d)"
           % (offsets[0] if offsets else -1), "offsets %s..." % offsets[:10])
    tap.ok(not any(k in DELETED for k, _, _ in recs),
           "deleted keys are gone after delete.retention.ms")

with tap.section("restart", cases=3, timeout=CLEAN_TIMEOUT + 60):
    tap.ok(broker.restart(), "broker restarts on the cleaned data")
    before = recs
    recs, errors, complete = read_log()
    tap.ok(complete and not errors and recs == before,
           "the compacted log reads back the same after the restart",
           "%d records (%d before), complete %s, errors %s"
           % (len(recs), len(before), complete, errors[:3]))
    ok, diag = produce_rounds(30, 10, "zstd", KEYS)
    ok2, diag2, recs = wait_compacted("after more updates")
    tap.ok(ok and ok2, "10 more rounds (zstd) are compacted too", diag, diag2)

with tap.section("log files", cases=2, timeout=30):
    pdir = os.path.join(broker.data_dir, TOPIC + "-0")
    names = sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []
    segs = [n for n in names if n.endswith(".log")]
    size = sum(os.path.getsize(os.path.join(pdir, n)) for n in segs)
    tap.ok(not any(n.endswith(".cleaned") or n.endswith(".swap") for n in names),
           "no cleaner files left in the partition directory", "files: %s" % names[:20])
    tap.ok(size < 4096 * 6, "the cleaned partition is small (%d bytes in %d segments)"
           % (size, len(segs)))

with tap.section("shutdown", cases=1, timeout=60):
    tap.ok(broker.stop() == 0, "broker stops cleanly")

tap.done()
