"""0521-confluent-kafka: confluent-kafka-python 1.7.0 on librdkafka 2.0.2.

AdminClient: create_topics (with topic configs; validate_only; an existing
topic; an invalid config value), list_topics, describe_configs for a topic
and for the broker, delete_topics. Producer: every codec (none, gzip,
snappy, lz4, zstd) with keys, headers and timestamps, plus a topic created
automatically on first use (num.partitions). Consumer: assign() from
OFFSET_BEGINNING, no subscription and no commits (confluent-kafka 1.7
insists on a group.id, which is never used), every record compared with
what was produced; get_watermark_offsets and offsets_for_times.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PER_CODEC = 2000
NPARTS = 3
AUTO_PARTS = 4
TOPIC = "ck-topic"

tap = harness.Tap(timeout=400)
ck = harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

tap.plan(26)
broker = harness.Broker(tap, advertise=True, args=[
    "--set", "num.partitions=%d" % AUTO_PARTS, "--set", "auto.create.topics.enable=true"])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}
base_ts = int(time.time() * 1000) - 3600 * 1000


def create(admin, topics, **kw):
    """create_topics; returns {name: None or KafkaError code name}."""
    out = {}
    for name, fut in admin.create_topics(topics, operation_timeout=5, request_timeout=10,
                                         **kw).items():
        try:
            fut.result(30)
            out[name] = None
        except KafkaException as e:
            out[name] = e.args[0].name()
    return out


def record(seq):
    """Key, value, headers and timestamp of record seq (over all codecs)."""
    key = ("key-%d" % seq).encode()
    value = None if seq % 333 == 332 else (("value %d, " % seq) * (1 + seq % 13)).encode()
    headers = [("seq", str(seq).encode()), ("codec", CODECS[seq // PER_CODEC].encode())]
    return key, value, headers, base_ts + seq * 10


# ---- admin ---------------------------------------------------------------

admin = AdminClient(dict(COMMON))
with tap.section("create_topics", cases=5, timeout=90):
    res = create(admin, [NewTopic(TOPIC, NPARTS, 1, config={"retention.ms": "3600000",
                                                            "cleanup.policy": "delete"}),
                         NewTopic("ck-del", 2, 1)])
    tap.is_(res, {TOPIC: None, "ck-del": None}, "create_topics with topic configs")
    res = create(admin, [NewTopic("ck-validate", 2, 1)], validate_only=True)
    tap.is_(res, {"ck-validate": None}, "create_topics validate_only succeeds")
    md = admin.list_topics(timeout=10)
    tap.ok("ck-validate" not in md.topics, "validate_only did not create the topic",
           "topics: %s" % sorted(md.topics))
    res = create(admin, [NewTopic(TOPIC, NPARTS, 1)])
    tap.is_(res, {TOPIC: "TOPIC_ALREADY_EXISTS"}, "create_topics of an existing topic is refused")
    res = create(admin, [NewTopic("ck-bad", 1, 1, config={"retention.ms": "not-a-number"})])
    tap.is_(res, {"ck-bad": "INVALID_CONFIG"}, "create_topics with an invalid config value is refused")

with tap.section("list_topics", cases=2, timeout=30):
    md = admin.list_topics(timeout=10)
    brokers = {b.id: (b.host, b.port) for b in md.brokers.values()}
    tap.is_(brokers, {1: ("127.0.0.1", broker.port)}, "list_topics: one broker, id 1, advertised address")
    t = md.topics.get(TOPIC)
    parts = sorted((p.id, p.leader, p.error) for p in t.partitions.values()) if t else None
    tap.is_(parts, [(p, 1, None) for p in range(NPARTS)],
            "list_topics: %s has %d partitions led by broker 1" % (TOPIC, NPARTS))

with tap.section("describe_configs topic", cases=1, timeout=30):
    fut = admin.describe_configs([ConfigResource("topic", TOPIC)], request_timeout=10)
    cfg = list(fut.values())[0].result(30)
    got = {k: (cfg[k].value, cfg[k].is_default) for k in ("retention.ms", "cleanup.policy") if k in cfg}
    tap.is_(got, {"retention.ms": ("3600000", False), "cleanup.policy": ("delete", False)},
            "describe_configs(topic) shows the configs it was created with")

with tap.section("describe_configs broker", cases=1, timeout=30):
    fut = admin.describe_configs([ConfigResource("broker", "1")], request_timeout=10)
    cfg = list(fut.values())[0].result(30)
    tap.is_(cfg["num.partitions"].value if "num.partitions" in cfg else None, str(AUTO_PARTS),
            "describe_configs(broker 1) shows num.partitions as set on the command line")

with tap.section("delete_topics", cases=2, timeout=60):
    fut = admin.delete_topics(["ck-del"], operation_timeout=5, request_timeout=10)["ck-del"]
    try:
        fut.result(30)
        err = None
    except KafkaException as e:
        err = e.args[0].name()
    tap.is_(err, None, "delete_topics ck-del")
    harness.wait_until(lambda: "ck-del" not in admin.list_topics(timeout=10).topics, 10)
    tap.ok("ck-del" not in admin.list_topics(timeout=10).topics, "list_topics no longer shows ck-del")

# ---- produce -------------------------------------------------------------

dr = {}  # seq -> (partition, offset) or error string

with tap.section("produce", cases=7, timeout=120):
    for c, codec in enumerate(CODECS):
        seqs = range(c * PER_CODEC, (c + 1) * PER_CODEC)
        reports, errors, left = harness.ck_produce(
            dict(COMMON, **{"compression.codec": codec, "acks": "all", "linger.ms": 5}),
            TOPIC, [record(s) for s in seqs])
        dr.update({s: r for s, r in zip(seqs, reports) if r is not None})
        missing = sum(1 for r in reports if r is None)
        tap.ok(left == 0 and not errors and missing == 0,
               "%s: all %d records delivered" % (codec, PER_CODEC),
               "%d left in queue, %d without report" % (left, missing), *errors[:10])

    reports, errors, left = harness.ck_produce(COMMON, "ck-auto", [(None, b"first", None, None)])
    tap.ok(left == 0 and not errors and reports[0] is not None,
           "producing to an unknown topic creates it", *errors)
    md = AdminClient(dict(COMMON)).list_topics(timeout=10)
    t = md.topics.get("ck-auto")
    tap.is_(len(t.partitions) if t else None, AUTO_PARTS,
            "the auto-created topic has num.partitions=%d partitions" % AUTO_PARTS)

# ---- consume -------------------------------------------------------------

N = PER_CODEC * len(CODECS)
with tap.section("consume", cases=3, timeout=120):
    msgs, errors, complete = harness.ck_read_all(COMMON, TOPIC, NPARTS, timeout=90,
                                                 alive=broker.alive)
    rows = [(m.key(), m.value(), m.headers(), m.timestamp(), m.partition(), m.offset())
            for m in msgs]
    tap.ok(len(rows) == N and complete, "all %d records read back" % N,
           "read %d, every partition at its end: %s" % (len(rows), complete))
    content, place, last = [], [], {}
    for key, value, headers, ts, part, off in rows:
        seq = int(key[4:])
        k, v, h, t = record(seq)
        if (key, value, headers, ts) != (k, v, h, (ck.TIMESTAMP_CREATE_TIME, t)):
            content.append("seq %d: %r %r %r %r" % (seq, key, (value or b"")[:30], headers, ts))
        if dr.get(seq) != (part, off):
            place.append("seq %d at [%d]@%d, delivery report %r" % (seq, part, off, dr.get(seq)))
        if off <= last.get(part, -1):
            place.append("[%d]: offset %d after %d" % (part, off, last[part]))
        last[part] = off
    tap.ok(not content and not errors, "keys, values, null values, headers and timestamps match",
           *(errors + content)[:10])
    tap.ok(not place, "partitions, offsets and order match the delivery reports", *place[:10])

with tap.section("offsets", cases=3, timeout=60):
    c = Consumer(dict(COMMON, **{"group.id": "rn-it-unused", "enable.auto.commit": False}))
    counts = [0] * NPARTS
    for part, off in dr.values():
        counts[part] += 1
    wm = [c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10, cached=False)
          for p in range(NPARTS)]
    tap.is_(wm, [(0, n) for n in counts], "get_watermark_offsets: (0, records) per partition")
    # The record in the middle of partition 0, found again by its timestamp.
    p0 = sorted(s for s, (part, _) in dr.items() if part == 0)
    mid = p0[len(p0) // 2]
    res = c.offsets_for_times([TopicPartition(TOPIC, 0, record(mid)[3] - 1)], timeout=10)
    tap.is_([(r.partition, r.offset) for r in res], [(0, dr[mid][1])],
            "offsets_for_times finds the first record at or after a time")
    res = c.offsets_for_times([TopicPartition(TOPIC, 0, base_ts + N * 10 + 60000)], timeout=10)
    tap.is_([r.offset for r in res], [ck.OFFSET_END],
            "offsets_for_times after the last record gives OFFSET_END (-1)")
    c.close()

with tap.section("stop", cases=1, timeout=40):
    tap.is_(broker.stop(), 0, "broker exits 0 on SIGTERM")

tap.done()
