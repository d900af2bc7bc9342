"""0520-kafka-python: the pure-Python client (python3-kafka 2.0.2).

kafka-python does not negotiate per API: it guesses a broker release from
ApiVersions v0 and hard-wires every request version to it (see
kafka-protocol/README.md 7.1), so the guess is checked first. Then:
KafkaAdminClient creates, lists and deletes topics; KafkaProducer sends
keyed records with headers and explicit timestamps with acks=1 and with
acks=all + gzip; KafkaConsumer (no group: assign + seek_to_beginning) reads
them back exactly; beginning_offsets / end_offsets / offsets_for_times
(ListOffsets) give the right answers.
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

N_A = 1200  # records to the 3-partition topic, acks=1, uncompressed
N_B = 1000  # records to the 1-partition topic, acks=all, gzip

tap = harness.Tap(timeout=240)
kafka = harness.require_module(tap, "kafka", "python3-kafka")
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402
import kafka.errors as kerr  # noqa: E402

tap.plan(20)
broker = harness.Broker(tap, args=["--set", "auto.create.topics.enable=false"])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
BS = broker.bootstrap
COMMON = dict(bootstrap_servers=BS, request_timeout_ms=15000, retry_backoff_ms=100)
base_ts = int(__import__("time").time() * 1000) - 3600 * 1000


def record(topic, i):
    """Key, value, headers and timestamp of record i of a topic.

    Every 97th record has a null value, every 50th a null key."""
    key = None if i % 50 == 49 else ("%s-key-%d" % (topic, i)).encode()
    value = None if i % 97 == 96 else (("%s value %d " % (topic, i)) * (1 + i % 7)).encode()
    headers = [("idx", str(i).encode()), ("bin", bytes([i % 256, 0, 255, (i * 7) % 256]))]
    return key, value, headers, base_ts + i * 10


def produce(producer, topic, n):
    """Sends n records and waits for each; returns [(partition, offset, ts)]."""
    futs = []
    for i in range(n):
        key, value, headers, ts = record(topic, i)
        futs.append(producer.send(topic, key=key, value=value, headers=headers, timestamp_ms=ts))
    producer.flush(timeout=60)
    out, errors = [], []
    for i, f in enumerate(futs):
        try:
            md = f.get(timeout=30)
            out.append((md.partition, md.offset, md.timestamp))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("record %d: %r" % (i, e))
            out.append(None)
    return out, errors


def dense_offsets(meta):
    """Problems if, per partition, offsets are not 0..n-1 in send order."""
    bad, nxt = [], {}
    for i, m in enumerate(meta):
        if m is None:
            continue
        p, off, _ = m
        if off != nxt.get(p, 0):
            bad.append("record %d at [%d]@%d, expected offset %d" % (i, p, off, nxt.get(p, 0)))
        nxt[p] = off + 1
    return bad


# ---- version guess and admin --------------------------------------------

admin = None
with tap.section("version guess", cases=1, timeout=30):
    admin = KafkaAdminClient(**COMMON)
    guess = admin.config["api_version"]
    tap.diag("kafka-python guessed broker version %s" % (guess,))
    tap.ok(guess >= (2, 1), "kafka-python's version guess is >= 2.1 (got %s)" % (guess,),
           "a lower guess silently downgrades every request (README 7.4)")

with tap.section("create_topics", cases=3, timeout=60):
    res = admin.create_topics([NewTopic("kp-a", 3, 1), NewTopic("kp-b", 1, 1),
                               NewTopic("kp-del", 2, 1)], timeout_ms=10000)
    tap.is_(sorted((t[0], t[1]) for t in res.topic_errors),
            [("kp-a", 0), ("kp-b", 0), ("kp-del", 0)], "create_topics: three topics, no errors")
    topics = set(admin.list_topics())
    tap.ok({"kp-a", "kp-b", "kp-del"} <= topics, "list_topics shows them", "got %s" % sorted(topics))
    try:
        admin.create_topics([NewTopic("kp-a", 3, 1)], timeout_ms=10000)
        tap.ok(False, "create_topics of an existing topic fails with TopicAlreadyExistsError")
    except kerr.TopicAlreadyExistsError:
        tap.ok(True, "create_topics of an existing topic fails with TopicAlreadyExistsError")

with tap.section("delete_topics", cases=2, timeout=60):
    res = admin.delete_topics(["kp-del"], timeout_ms=10000)
    tap.is_([(t[0], t[1]) for t in res.topic_error_codes], [("kp-del", 0)], "delete_topics kp-del")
    harness.wait_until(lambda: "kp-del" not in admin.list_topics(), 10)
    topics = set(admin.list_topics())
    tap.ok("kp-del" not in topics and {"kp-a", "kp-b"} <= topics,
           "list_topics no longer shows kp-del", "got %s" % sorted(topics))
if admin is not None:
    admin.close()

# ---- produce -------------------------------------------------------------

meta = {}
with tap.section("produce acks=1", cases=3, timeout=90):
    producer = KafkaProducer(acks=1, linger_ms=5, **COMMON)
    meta["kp-a"], errors = produce(producer, "kp-a", N_A)
    producer.close(timeout=10)
    tap.ok(not errors, "acks=1: all %d sends acknowledged" % N_A, *errors[:10])
    bad = dense_offsets(meta["kp-a"])
    tap.ok(not bad, "acks=1: offsets per partition are 0, 1, 2, ... in send order", *bad[:10])
    bad = ["record %d: timestamp %r" % (i, m[2]) for i, m in enumerate(meta["kp-a"])
           if m is not None and m[2] != record("kp-a", i)[3]]
    tap.ok(not bad, "acks=1: RecordMetadata carries the CreateTime timestamps", *bad[:10])

with tap.section("produce acks=all gzip", cases=2, timeout=90):
    producer = KafkaProducer(acks="all", compression_type="gzip", linger_ms=5, **COMMON)
    meta["kp-b"], errors = produce(producer, "kp-b", N_B)
    producer.close(timeout=10)
    tap.ok(not errors, "acks=all gzip: all %d sends acknowledged" % N_B, *errors[:10])
    tap.is_([m[:2] if m else None for m in meta["kp-b"]], [(0, i) for i in range(N_B)],
            "acks=all gzip: offsets 0..%d on partition 0" % (N_B - 1))

# ---- consume -------------------------------------------------------------

with tap.section("consume", cases=3, timeout=90):
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, **COMMON)
    tps = [TopicPartition("kp-a", p) for p in range(3)] + [TopicPartition("kp-b", 0)]
    consumer.assign(tps)
    consumer.seek_to_beginning()
    got = []
    want = N_A + N_B

    def poll_some():
        for recs in consumer.poll(timeout_ms=500).values():
            got.extend(recs)
        return len(got) >= want

    harness.wait_until(poll_some, 60, interval=0)
    consumer.close()
    tap.is_(len(got), want, "all %d records read back from the beginning" % want)
    content, place = [], []
    seen = set()
    for r in got:
        try:
            i = int(dict(r.headers)["idx"])
        except (KeyError, ValueError):
            content.append("[%s/%d]@%d without a usable idx header" % (r.topic, r.partition, r.offset))
            continue
        if (r.topic, i) in seen:
            content.append("%s record %d read twice" % (r.topic, i))
        seen.add((r.topic, i))
        key, value, headers, ts = record(r.topic, i)
        if (r.key, r.value, [tuple(h) for h in r.headers], r.timestamp, r.timestamp_type) != \
                (key, value, headers, ts, 0):
            content.append("%s record %d: got key %r value %r headers %r ts %r type %r"
                           % (r.topic, i, r.key, (r.value or b"")[:40], r.headers, r.timestamp,
                              r.timestamp_type))
        m = meta[r.topic][i]
        if m is None or (r.partition, r.offset) != m[:2]:
            place.append("%s record %d at [%d]@%d, producer was told %r"
                         % (r.topic, i, r.partition, r.offset, m))
    tap.ok(not content, "keys, null values, headers and timestamps (CreateTime) match",
           *content[:10])
    order = []
    last = {}
    for r in got:
        tp = (r.topic, r.partition)
        if r.offset <= last.get(tp, -1):
            order.append("%s [%d]: offset %d after %d" % (r.topic, r.partition, r.offset, last[tp]))
        last[tp] = r.offset
    tap.ok(not place and not order, "partition, offset and order match what the producer was told",
           *(place + order)[:10])

# ---- offsets (ListOffsets) -----------------------------------------------

with tap.section("offsets", cases=4, timeout=60):
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, **COMMON)
    tps = [TopicPartition("kp-a", p) for p in range(3)] + [TopicPartition("kp-b", 0)]
    counts = {tp: 0 for tp in tps}
    for t in ("kp-a", "kp-b"):
        for m in meta[t]:
            if m is not None:
                counts[TopicPartition(t, m[0])] += 1
    tap.is_(consumer.beginning_offsets(tps), {tp: 0 for tp in tps}, "beginning_offsets are 0")
    tap.is_(consumer.end_offsets(tps), counts, "end_offsets are the record counts")
    tpb = TopicPartition("kp-b", 0)
    r = consumer.offsets_for_times({tpb: base_ts + 500 * 10 - 5})
    got = (r[tpb].offset, r[tpb].timestamp) if r.get(tpb) else None
    tap.is_(got, (500, base_ts + 500 * 10), "offsets_for_times finds the first record at or after a time")
    r = consumer.offsets_for_times({tpb: base_ts + N_B * 10 + 60000})
    tap.is_(r.get(tpb), None, "offsets_for_times after the last record gives None")
    consumer.close()

with tap.section("stop", cases=1, timeout=40):
    tap.is_(broker.stop(), 0, "broker exits 0 on SIGTERM")

tap.done()
