"""0620-group-confluent: consumer groups with confluent-kafka-python 1.7.0.

Two Consumer members (librdkafka 2.0.2 underneath) subscribe to a
3-partition topic and commit what they process (synchronously on every
revoke and every few hundred records); together they process every record
exactly once. AdminClient.list_groups (ListGroups v0 + DescribeGroups v0,
the only group call confluent-kafka 1.7 has) shows the group Stable with
both members, their client ids, hosts and assignments.

Then the broker restarts while the members keep running: the group was
persisted, so after the restart the same member ids carry on in the same
group and the records produced afterwards are processed exactly once. After
the members leave, a new member resumes at the committed offsets, and the
committed offsets survive a SIGKILL of the broker.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOPIC = "ck-grp"
GROUP = "ckg"
NPARTS = 3
N = 3000

tap = harness.Tap(timeout=300)
ck = harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka import Consumer, KafkaError, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

tap.plan(19)
broker = harness.Broker(tap, advertise=True, args=["--set", "group.initial.rebalance.delay.ms=200",
                                                        "--set", "http.listener="])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}


def produce(start, count):
    # Keyed, so that every partition gets records: librdkafka's sticky
    # partitioner may put a whole run of null-key records into one
    # partition, and a consumer commits nothing for a partition it never
    # read from (offset -1001), which the checks below would misread.
    recs = [(("k-%d" % i).encode(), ("v-%d" % i).encode(), None, None)
            for i in range(start, start + count)]
    reports, errors, left = harness.ck_produce(COMMON, TOPIC, recs)
    return sum(1 for r in reports if r is not None)


class Member:
    """A consumer in its own thread: processes records, remembers them and
    commits synchronously every 250 records and on every revoke."""

    def __init__(self, name, seen, lock):
        self.name, self.seen, self.lock = name, seen, lock
        self.stop = threading.Event()
        self.errors = []
        self.assigned = []
        self.c = Consumer(dict(COMMON, **{
            "group.id": GROUP, "client.id": name, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 500}))
        self.pending = 0
        self.c.subscribe([TOPIC], on_assign=self.on_assign, on_revoke=self.on_revoke)
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def commit(self):
        if self.pending:
            try:
                self.c.commit(asynchronous=False)
            except ck.KafkaException as e:
                if e.args[0].code() != KafkaError._NO_OFFSET:
                    self.errors.append("commit: %s" % e)
            self.pending = 0

    def on_assign(self, c, parts):
        self.assigned = sorted(p.partition for p in parts)

    def on_revoke(self, c, parts):
        self.commit()
        self.assigned = []

    def run(self):
        while not self.stop.is_set():
            m = self.c.poll(0.1)
            if m is None:
                continue
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    self.errors.append(str(m.error()))
                continue
            with self.lock:
                self.seen.append((m.partition(), m.offset(), m.value()))
            self.pending += 1
            if self.pending >= 250:
                self.commit()
        self.commit()

    def halt(self):
        self.stop.set()
        self.t.join(60)

    def close(self):
        self.c.close()


def describe(admin):
    for g in admin.list_groups(timeout=10):
        if g.id == GROUP:
            return g
    return None


seen, lock = [], threading.Lock()


def wait_seen(count, timeout):
    return harness.wait_until(lambda: len(seen) >= count, timeout)


with tap.section("two members process every record once", cases=6, timeout=120):
    admin = AdminClient(dict(COMMON))
    for f in admin.create_topics([NewTopic(TOPIC, NPARTS, 1)]).values():
        f.result(30)
    tap.is_(produce(0, N), N, "%d records produced" % N)
    m1 = Member("ck-one", seen, lock)
    m2 = Member("ck-two", seen, lock)
    both = harness.wait_until(lambda: m1.assigned and m2.assigned, 60)
    tap.ok(both, "both members get partitions (%s / %s)" % (m1.assigned, m2.assigned))
    wait_seen(N, 60)
    time.sleep(1)  # let a duplicate show up if there is one
    with lock:
        offs = [(p, o) for p, o, _ in seen]
    tap.is_(len(set(offs)), N, "every record was processed")
    tap.is_(len(offs), N, "no record was processed twice")
    g = describe(admin)
    tap.ok(g is not None and g.state == "Stable" and g.protocol_type == "consumer"
           and g.protocol in ("range", "roundrobin") and len(g.members) == 2,
           "list_groups: Stable consumer group with 2 members",
           "group: %r" % (g and (g.state, g.protocol_type, g.protocol, len(g.members)),))
    ids_before = sorted(m.id for m in g.members) if g else []
    ok = g is not None and sorted(m.client_id for m in g.members) == ["ck-one", "ck-two"] and \
        all(m.client_host == "/127.0.0.1" and len(m.assignment) > 0 and len(m.metadata) > 0
            for m in g.members)
    tap.ok(ok, "members carry client ids, hosts, metadata and assignments")

with tap.section("broker restart under running members", cases=5, timeout=150):
    tap.ok(broker.restart(), "broker restarts (SIGTERM, start) while the members run")
    tap.is_(produce(N, 1000), 1000, "1000 more records produced after the restart")
    wait_seen(N + 1000, 90)
    time.sleep(1)
    with lock:
        offs = [(p, o) for p, o, _ in seen]
    tap.ok(len(offs) == N + 1000 and len(set(offs)) == N + 1000,
           "the members carried on: every new record processed once (%d, %d distinct)"
           % (len(offs), len(set(offs))))
    admin = AdminClient(dict(COMMON))
    g = describe(admin)
    ids_after = sorted(m.id for m in g.members) if g else []
    tap.is_(ids_after, ids_before, "the same member ids are in the group (the group was persisted)")
    errs = m1.errors + m2.errors
    tap.ok(not [e for e in errs if "commit" in e], "no commit failed", "errors: %r" % errs[:5])

with tap.section("leave, then a new member resumes", cases=4, timeout=90):
    m1.halt()
    m2.halt()
    m1.close()
    m2.close()
    admin = AdminClient(dict(COMMON))
    g = describe(admin)
    tap.ok(g is not None and g.state == "Empty" and not g.members,
           "after both members left the group is Empty")
    c = Consumer(dict(COMMON, **{"group.id": GROUP, "enable.auto.commit": False}))
    parts = [TopicPartition(TOPIC, p) for p in range(NPARTS)]
    committed = {tp.partition: tp.offset for tp in c.committed(parts, timeout=10)}
    ends = {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1]
            for p in range(NPARTS)}
    tap.is_(committed, ends, "committed offsets are the end of every partition")
    c.close()
    tap.is_(produce(N + 1000, 100), 100, "100 more records produced")
    seen2 = []
    m3 = Member("ck-three", seen2, threading.Lock())
    harness.wait_until(lambda: len(seen2) >= 100, 60)
    time.sleep(1)
    m3.halt()
    m3.close()
    tap.is_(sorted(v for _, _, v in seen2),
            sorted(("v-%d" % i).encode() for i in range(N + 1000, N + 1100)),
            "a new member resumes at the commits and reads exactly the new records")

with tap.section("SIGKILL keeps commits", cases=2, timeout=60):
    broker.kill()
    tap.ok(broker.start(), "broker starts again after SIGKILL")
    c = Consumer(dict(COMMON, **{"group.id": GROUP, "enable.auto.commit": False}))
    parts = [TopicPartition(TOPIC, p) for p in range(NPARTS)]
    after = {tp.partition: tp.offset for tp in c.committed(parts, timeout=10)}
    ends = {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1]
            for p in range(NPARTS)}
    c.close()
    tap.ok(after == ends and sum(after.values()) == N + 1100,
           "every committed offset survived SIGKILL (acks=all)",
           "committed %r, ends %r" % (after, ends))

tap.is_(broker.stop(), 0, "broker stops cleanly")
tap.done()
