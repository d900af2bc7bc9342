"""0610-group-kafka-python: consumer groups with kafka-python 2.0.2.

KafkaConsumer(group_id=...) with manual commits (JoinGroup v2, SyncGroup
v1, Heartbeat v1, OffsetCommit v2, OffsetFetch v1 as the library picks
them): a consumer commits half a topic and leaves, the next one in the
group resumes exactly there; two consumers share the topic in one
generation; KafkaAdminClient lists and describes groups, lists committed
offsets and deletes a group. Committed offsets survive a graceful broker
restart and a SIGKILL, and a consumer resumes from them.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOPIC = "kp-topic"
NPARTS = 4
N = 2000

tap = harness.Tap(timeout=300)
kafka = harness.require_module(tap, "kafka", "python3-kafka")
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402,F401

tap.plan(23)
broker = harness.Broker(tap, advertise=True, args=["--set", "group.initial.rebalance.delay.ms=0",
                                                        "--set", "http.listener="])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
BS = broker.bootstrap


def consumer(group, **kw):
    conf = dict(bootstrap_servers=BS, group_id=group, auto_offset_reset="earliest",
                enable_auto_commit=False, session_timeout_ms=10000,
                heartbeat_interval_ms=500, client_id=kw.pop("client_id", "kp-client"))
    conf.update(kw)
    c = KafkaConsumer(**conf)
    c.subscribe([TOPIC])
    return c


def drain(consumers, want, timeout):
    """Polls the consumers round-robin until `want` records in total or
    timeout; returns {consumer index: [(partition, offset, value)]}."""
    got = {i: [] for i in range(len(consumers))}
    deadline = time.monotonic() + timeout
    total = 0
    while total < want and time.monotonic() < deadline:
        for i, c in enumerate(consumers):
            for recs in c.poll(timeout_ms=100, max_records=500).values():
                for r in recs:
                    got[i].append((r.partition, r.offset, r.value))
                    total += 1
    return got


def produce(start, count):
    p = KafkaProducer(bootstrap_servers=BS, acks="all")
    futs = [p.send(TOPIC, value=("m-%d" % i).encode(), partition=i % NPARTS)
            for i in range(start, start + count)]
    p.flush(30)
    ok = sum(1 for f in futs if f.succeeded())
    p.close()
    return ok


def admin():
    return KafkaAdminClient(bootstrap_servers=BS, request_timeout_ms=20000)


def committed_map(ad, group):
    return {tp.partition: om.offset for tp, om in ad.list_consumer_group_offsets(group).items()
            if tp.topic == TOPIC}


with tap.section("topic and records", cases=2, timeout=60):
    ad = admin()
    ad.create_topics([NewTopic(TOPIC, NPARTS, 1)])
    tap.ok(TOPIC in ad.list_topics(), "topic created with KafkaAdminClient")
    tap.is_(produce(0, N), N, "%d records produced with acks=all" % N)

positions = {}
with tap.section("commit half, leave, resume", cases=6, timeout=90):
    a = consumer("kp")
    got = drain([a], N // 2, 60)[0][:N // 2]
    tap.is_(len(got), N // 2, "the first consumer read %d records" % (N // 2))
    # Commit exactly what was read: per partition, the last offset + 1.
    for part, off, _ in got:
        positions[part] = max(positions.get(part, 0), off + 1)
    a.commit({TopicPartition(TOPIC, p): OffsetAndMetadata(o, "md-%d" % p)
              for p, o in positions.items()})
    a.close()
    ad = admin()
    groups = ad.list_consumer_groups()
    tap.ok(("kp", "consumer") in groups, "list_consumer_groups lists kp as a consumer group",
           "groups: %r" % (groups,))
    got_md = {tp.partition: (om.offset, om.metadata)
              for tp, om in ad.list_consumer_group_offsets("kp").items()}
    tap.is_(got_md, {p: (o, "md-%d" % p) for p, o in positions.items()},
            "list_consumer_group_offsets returns the commits with their metadata")
    desc = ad.describe_consumer_groups(["kp"])[0]
    tap.is_((desc.state, desc.protocol_type, len(desc.members)), ("Empty", "consumer", 0),
            "describe_consumer_groups: Empty consumer group after the member left")
    b = consumer("kp")
    seen = set((p, o) for p, o, _ in got)
    rest = drain([b], N - N // 2, 60)[0]
    both = seen | set((p, o) for p, o, _ in rest)
    tap.ok(len(rest) == N - N // 2 and not (seen & set((p, o) for p, o, _ in rest)),
           "the next consumer resumed at the commits: %d new records, no overlap" % len(rest))
    tap.is_(len(both), N, "together they read every record once")
    b.commit()
    b.close()

with tap.section("two consumers share the topic", cases=5, timeout=120):
    # kafka-python blocks inside poll() while its JoinGroup is parked, so
    # each member runs in its own thread.
    c1 = consumer("kp2", client_id="kp-one")
    c2 = consumer("kp2", client_id="kp-two")
    stop = threading.Event()
    recs, lock, assigned = [], threading.Lock(), [set(), set()]

    def member(i, c):
        while not stop.is_set():
            batch = c.poll(timeout_ms=100)
            with lock:
                for rs in batch.values():
                    recs.extend((r.partition, r.offset, r.value) for r in rs)
                assigned[i] = set(tp.partition for tp in c.assignment())

    threads = [threading.Thread(target=member, args=(i, c)) for i, c in enumerate((c1, c2))]
    for t in threads:
        t.start()

    def both_done():
        with lock:
            return len(recs) >= N and assigned[0] and assigned[1] and \
                assigned[0] | assigned[1] == set(range(NPARTS))

    harness.wait_until(both_done, 90)
    stop.set()
    for t in threads:
        t.join(30)
    tap.is_(len(set((p, o) for p, o, _ in recs)), N, "the two members read the whole topic")
    a1, a2 = assigned
    tap.ok(a1 and a2 and not (a1 & a2) and (a1 | a2) == set(range(NPARTS)),
           "the partitions are split between the members (%s / %s)" % (sorted(a1), sorted(a2)))
    ad = admin()
    desc = ad.describe_consumer_groups(["kp2"])[0]
    ids = sorted(m.client_id for m in desc.members)
    tap.is_((desc.state, ids), ("Stable", ["kp-one", "kp-two"]),
            "describe_consumer_groups: Stable with both members")
    c1.commit()
    c2.commit()
    c1.close()
    c2.close()
    res = ad.delete_consumer_groups(["kp2"])
    tap.is_([(g, e.__name__) for g, e in res], [("kp2", "NoError")], "delete_consumer_groups")
    tap.ok(("kp2", "consumer") not in ad.list_consumer_groups(), "the deleted group is not listed")

with tap.section("graceful restart keeps offsets", cases=4, timeout=120):
    ad = admin()
    before = committed_map(ad, "kp")
    ad.close()
    tap.ok(broker.restart(), "broker restarts (SIGTERM, start)")
    ad = admin()
    tap.is_(committed_map(ad, "kp"), before, "committed offsets are the same after the restart")
    tap.is_(produce(N, 500), 500, "500 more records produced")
    d = consumer("kp")
    got = drain([d], 500, 60)[0]
    extra = drain([d], 1, 2)[0]
    tap.ok(sorted(v for _, _, v in got) == sorted(("m-%d" % i).encode() for i in range(N, N + 500))
           and not extra, "a consumer resumes after the restart and reads exactly the new records")
    d.commit()
    d.close()

with tap.section("SIGKILL keeps acknowledged commits", cases=4, timeout=120):
    ad = admin()
    before = committed_map(ad, "kp")
    tap.is_(sum(before.values()), N + 500, "every record is committed before the kill")
    ad.close()
    broker.kill()
    tap.ok(broker.start(), "broker starts again after SIGKILL")
    ad = admin()
    tap.is_(committed_map(ad, "kp"), before, "committed offsets survived SIGKILL (acks=all)")
    e = consumer("kp")
    n = 0
    deadline = time.monotonic() + 30
    while not e.assignment() and time.monotonic() < deadline:
        n += sum(len(v) for v in e.poll(timeout_ms=100).values())
    pos = {tp.partition: e.position(tp) for tp in e.assignment()}
    n += sum(len(v) for v in e.poll(timeout_ms=500).values())
    tap.ok(pos == before and n == 0,
           "a new member starts at the committed offsets and finds nothing left to read",
           "positions %r, records %d" % (pos, n))
    e.close()

tap.is_(broker.stop(), 0, "broker stops cleanly")
tap.done()
