"""1002-idempotence-dup-durable: idempotent producers on a raw socket.

Requests are encoded here by hand from the Kafka message specs. Covered:
the same acks=all batch sent twice back to back (pipelined on one
connection, and again from a second connection): both answers carry the
original offset and the log holds one copy (the duplicate's answer waits
for the original's fdatasync, rn_log_sync_barrier(); the ordering itself
is checked in tests/unit/0602); producer.id.expiration.ms set to 1.5 s:
an idle producer disappears from DescribeProducers, its next sequence is
answered UNKNOWN_PRODUCER_ID and sequence 0 starts it again, while a
producer with an open transaction stays; periodic producer-state
snapshots: with small segments, numbered "<offset>.snapshot" files appear
(the newest two), and after kill -9 and a restart a retry of a batch
written before the last roll is still recognised as a duplicate.
"""

import os
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

tap = harness.Tap(timeout=180)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

NONE, OUT_OF_ORDER, UNKNOWN_PRODUCER_ID = 0, 45, 59
TOPIC = "dup-t"

tap.plan(19)
broker = harness.Broker(tap, advertise=True, args=[
    "--set", "producer.id.expiration.ms=1500",
    "--set", "log.retention.check.interval.ms=200",
    "--set", "log.segment.bytes=2048"])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")


from kwire import W, R, Conn, batch, init_pid, add_parts, end_txn  # noqa: E402


def produce_body(b, part=0, acks=-1):
    return W().str(None).i16(acks).i32(30000).arr(
        [TOPIC], lambda w, t: w.str(t).arr([part], lambda w, p: w.i32(p).bytes_(b)))


def produce_result(r):
    res = r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    return res[0][1][0][1], res[0][1][0][2]


def produce(c, b, part=0):
    return produce_result(c.call(0, 3, False, produce_body(b, part)))


def producers(c, part=0):
    """DescribeProducers v0: {producer id: last sequence} of one partition."""
    w = W(True).arr([TOPIC], lambda w, t: w.str(t).arr([part], lambda w, p: w.i32(p)).tags())
    r = c.call(61, 0, True, w.tags())
    r.i32()

    def prod(r):
        p = (r.i64(), r.i32(), r.i32(), r.i64(), r.i32(), r.i64())
        r.tags()
        return p

    def partition(r):
        p = (r.i32(), r.i16(), r.str(), r.arr(prod))
        r.tags()
        return p

    def topic(r):
        t = (r.str(), r.arr(partition))
        r.tags()
        return t
    return {p[0]: p[2] for p in r.arr(topic)[0][1][0][3]}


def fetch_values(c, part=0):
    """Every record value of the partition (Fetch v4, read_uncommitted)."""
    out, offset = [], 0
    while True:
        w = W().i32(-1).i32(0).i32(0).i32(1 << 20).i8(0).arr(
            [TOPIC], lambda w, t: w.str(t).arr([part], lambda w, p: w.i32(p).i64(offset).i32(1 << 20)))
        r = c.call(1, 4, False, w)
        r.i32()
        p = r.arr(lambda r: (r.str(), r.arr(lambda r: dict(
            index=r.i32(), error=r.i16(), hw=r.i64(), lso=r.i64(),
            aborted=r.arr(lambda r: (r.i64(), r.i64())), records=r.bytes_()))))[0][1][0]
        data = p["records"] or b""
        if not data:
            return out
        pos = 0
        while pos + 12 <= len(data):
            base, blen = struct.unpack(">qi", data[pos:pos + 12])
            if pos + 12 + blen > len(data):
                break
            attrs = struct.unpack(">h", data[pos + 21:pos + 23])[0]
            last_delta = struct.unpack(">i", data[pos + 23:pos + 27])[0]
            if not attrs & 0x20:  # not a control batch: our one-record batches
                rr = R(data[pos + 61:pos + 12 + blen])
                rr.uvarint()  # length (zigzag, small)
                rr.i8()
                rr.uvarint()
                rr.uvarint()
                rr.uvarint()  # key length -1
                vlen = rr.uvarint() >> 1
                out.append((base, rr.take(vlen)))
            offset = base + last_delta + 1
            pos += 12 + blen
        if offset >= p["hw"]:
            return out


# ---- the test ------------------------------------------------------------------

with tap.section("create topic", cases=1, timeout=60):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"})
    admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(30)
    tap.ok(True, "topic created")

c = Conn(broker.port)
with tap.section("acks=all duplicate", cases=5, timeout=30):
    err, pid, epoch = init_pid(c, 1, None)
    tap.is_((err, epoch), (NONE, 0), "InitProducerId (idempotent): epoch 0")
    b0 = batch(pid, 0, 0, b"first")
    # Both frames go out before either answer is read: the second is a
    # duplicate of a batch whose write and fsync may still be in flight.
    k1 = c.send(0, 3, False, produce_body(b0))
    k2 = c.send(0, 3, False, produce_body(b0))
    a1 = produce_result(c.recv(k1, False))
    a2 = produce_result(c.recv(k2, False))
    tap.is_((a1, a2), ((NONE, 0), (NONE, 0)), "both answers carry the original offset 0")
    c2 = Conn(broker.port)
    tap.is_(produce(c2, b0), (NONE, 0), "the same batch from another connection: offset 0")
    tap.is_(produce(c, batch(pid, 0, 1, b"second")), (NONE, 1), "the next sequence: offset 1")
    tap.is_(fetch_values(c), [(0, b"first"), (1, b"second")], "the log holds one copy of each")

with tap.section("producer.id.expiration.ms", cases=6, timeout=60):
    # A transactional producer with a transaction open on the partition.
    terr, tpid, _ = init_pid(c, 1, "exp-txn")
    add_parts(c, 1, "exp-txn", tpid, 0, [(TOPIC, 0)])
    tap.is_(produce(c, batch(tpid, 0, 0, b"in-txn", attrs=0x10)), (NONE, 2),
            "a transactional record (its transaction stays open)")
    gone = harness.wait_until(lambda: pid not in producers(c), 30)
    tap.ok(gone, "the idle idempotent producer is expired from the partition's state")
    tap.ok(tpid in producers(c), "the producer with an open transaction is kept")
    tap.is_(produce(c, batch(pid, 0, 2, b"late")), (UNKNOWN_PRODUCER_ID, -1),
            "its next sequence: UNKNOWN_PRODUCER_ID")
    tap.is_(produce(c, batch(pid, 0, 0, b"again")), (NONE, 3), "sequence 0 starts it again")
    tap.is_(end_txn(c, "exp-txn", tpid, 0, True), NONE, "the transaction commits")

with tap.section("periodic snapshots and kill -9", cases=5, timeout=60):
    offs = [produce(c, batch(pid, 0, s, b"x" * 200))[1] for s in range(1, 40)]
    tap.ok(all(o >= 0 for o in offs), "39 more batches written across small segments")
    d = os.path.join(broker.data_dir, TOPIC + "-0")
    snaps = sorted(f for f in os.listdir(d) if f.endswith(".snapshot") and f[:20].isdigit())
    tap.is_(len(snaps), 2, "the newest two numbered snapshots are kept (%s)" % snaps)
    c.s.close()
    c2.s.close()
    broker.kill()
    tap.ok(broker.start(), "broker restarts after kill -9")
    c = Conn(broker.port)
    # The producer state is rebuilt from the newest snapshot and the scan
    # after it: the last five batches are still known.
    tap.is_(produce(c, batch(pid, 0, 35, b"x" * 200)), (NONE, offs[34]),
            "a retry of a batch from before the restart gets its original offset")
    tap.is_(produce(c, batch(pid, 0, 40, b"after")), (NONE, offs[-1] + 1),
            "the next sequence continues after the last batch")

tap.is_(broker.stop(), 0, "broker stops cleanly")
broker.cleanup()
tap.done()
