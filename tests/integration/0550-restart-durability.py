"""0550-restart-durability: what was acknowledged and created survives.

With small segments (log.segment.bytes=64 KiB, so every partition has many
segments and index files), records are produced with acks=all to a
1-partition and a 4-partition topic, and the broker is killed with SIGKILL
right after the last acknowledgement (DESIGN §1.3: acks=all is answered
only after fsync). After a restart on the same port and directory:
topics keep their partition counts and configs and a deleted topic stays
deleted (metadata log); ListOffsets earliest/latest (watermarks) and by
timestamp (time index) are right; every record reads back intact; new
records continue at the old log end. A graceful restart (SIGTERM, exit 0)
then keeps all of it too.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

N = 4000  # records per topic in the first round
MORE = 1000  # records appended after the first restart
TOPICS = {"dur-1": 1, "dur-4": 4}
RETENTION = "86400000"

tap = harness.Tap(timeout=300)
ck = harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

tap.plan(19)
broker = harness.Broker(tap, args=["--set", "auto.create.topics.enable=false",
                                   "--set", "log.segment.bytes=65536"])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}
base_ts = int(time.time() * 1000) - 3600 * 1000
reports = {t: [] for t in TOPICS}  # per topic: [(partition, offset)] by index


def record(topic, i):
    return (("%s-%d" % (topic, i)).encode(), ("%s payload %d " % (topic, i)).encode() * (1 + i % 9),
            [("i", str(i).encode())], base_ts + i * 10)


def admin():
    return AdminClient(dict(COMMON))


def wait_result(fut):
    """None on success, else the KafkaError name."""
    try:
        fut.result(30)
        return None
    except KafkaException as e:
        return e.args[0].name()


def produce(topic, lo, hi):
    """Produces records lo..hi-1 with acks=all; one case."""
    recs = [record(topic, i) for i in range(lo, hi)]
    reps, errors, left = harness.ck_produce(dict(COMMON, **{"acks": "all", "linger.ms": 5}), topic, recs)
    reports[topic].extend(reps)
    missing = sum(1 for r in reps if r is None)
    return tap.ok(left == 0 and not errors and missing == 0,
                  "%s: records %d..%d acknowledged (acks=all)" % (topic, lo, hi - 1),
                  "%d left, %d without report" % (left, missing), *errors[:10])


def check_topics(when):
    """Two cases: partition counts, and the topic config."""
    a = admin()  # must outlive the futures below
    md = a.list_topics(timeout=10)
    got = {t: len(md.topics[t].partitions) for t in TOPICS if t in md.topics}
    tap.ok(got == TOPICS and "dur-del" not in md.topics,
           "%s: topics keep their partition counts, dur-del stays deleted" % when,
           "got %s; all topics %s" % (got, sorted(md.topics)))
    fut = a.describe_configs([ConfigResource("topic", "dur-4")], request_timeout=10)
    cfg = list(fut.values())[0].result(30)
    v = cfg["retention.ms"].value if "retention.ms" in cfg else None
    tap.is_(v, RETENTION, "%s: dur-4 keeps retention.ms=%s" % (when, RETENTION))


def check_offsets(when):
    """Two cases: watermarks = (0, count) per partition; ListOffsets by time."""
    c = Consumer(dict(COMMON, **{"group.id": "rn-it-unused", "enable.auto.commit": False}))
    want, got = {}, {}
    for t, n in TOPICS.items():
        for p in range(n):
            want[(t, p)] = (0, sum(1 for r in reports[t] if r and r[0] == p))
            got[(t, p)] = c.get_watermark_offsets(TopicPartition(t, p), timeout=10, cached=False)
    tap.is_(got, want, "%s: ListOffsets earliest/latest are 0 and the record counts" % when)
    n = len(reports["dur-1"])
    probes = [n // 3, n - 1]
    # One request per probe: librdkafka merges duplicate partitions in a list.
    got = [c.offsets_for_times([TopicPartition("dur-1", 0, record("dur-1", i)[3])],
                               timeout=10)[0].offset for i in probes]
    tap.is_(got, [reports["dur-1"][i][1] for i in probes],
            "%s: ListOffsets by timestamp finds records %s" % (when, probes))
    c.close()


def check_records(when):
    """One case: every acknowledged record, intact, at its offset, once."""
    bad, count = [], 0
    for t, n in TOPICS.items():
        msgs, errors, complete = harness.ck_read_all(COMMON, t, n, timeout=60, alive=broker.alive)
        bad += errors
        if not complete:
            bad.append("%s: not every partition reached its end" % t)
        seen = {}
        for m in msgs:
            seen[(m.partition(), m.offset())] = (m.key(), m.value(), m.headers(), m.timestamp()[1])
        for i, r in enumerate(reports[t]):
            k, v, h, ts = record(t, i)
            if r is None:
                continue
            count += 1
            if seen.pop(r, None) != (k, v, h, ts):
                bad.append("%s record %d at [%d]@%d missing or different" % (t, i, r[0], r[1]))
        bad += ["%s: unexpected record at %s" % (t, pos) for pos in list(seen)[:5]]
    tap.ok(not bad, "%s: all %d acknowledged records read back intact" % (when, count), *bad[:10])


with tap.section("create", cases=1, timeout=60):
    a = admin()
    futs = a.create_topics([NewTopic("dur-1", 1, 1), NewTopic("dur-del", 2, 1),
                            NewTopic("dur-4", 4, 1, config={"retention.ms": RETENTION})],
                           operation_timeout=5, request_timeout=10)
    res = {t: wait_result(f) for t, f in futs.items()}
    res["delete dur-del"] = wait_result(a.delete_topics(["dur-del"], operation_timeout=5,
                                                        request_timeout=10)["dur-del"])
    tap.is_(res, {"dur-1": None, "dur-4": None, "dur-del": None, "delete dur-del": None},
            "create dur-1, dur-4 (retention.ms), dur-del; delete dur-del")

with tap.section("produce", cases=3, timeout=120):
    for t in TOPICS:
        produce(t, 0, N)
    broker.kill()
    tap.ok(broker.start(), "broker restarts after SIGKILL right after the acknowledgements")

def check_all(when):
    """Five cases, each group in its own section so one failure does not
    hide the others."""
    with tap.section("%s: topics" % when, cases=2, timeout=60):
        check_topics(when)
    with tap.section("%s: offsets" % when, cases=2, timeout=60):
        check_offsets(when)
    with tap.section("%s: records" % when, cases=1, timeout=90):
        check_records(when)


check_all("after SIGKILL")

with tap.section("append", cases=2, timeout=60):
    end = reports["dur-1"][-1][1] + 1 if reports["dur-1"][-1] else None
    produce("dur-1", N, N + MORE)
    first = reports["dur-1"][N]
    tap.is_(first, (0, end), "new records continue at the old log end offset")

with tap.section("graceful restart", cases=1, timeout=60):
    tap.ok(broker.restart(), "broker restarts (SIGTERM exit 0, same port and directory)")
check_all("after SIGTERM")
with tap.section("stop", cases=1, timeout=40):
    tap.is_(broker.stop(), 0, "broker exits 0 on SIGTERM")

tap.done()
