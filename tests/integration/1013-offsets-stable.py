"""1013-offsets-stable: OffsetFetch RequireStable (KIP-447) on a raw socket.

While a transaction holds a TxnOffsetCommit offset for a group and
partition, OffsetFetch v7 (one group) and v8 (the multi-group form) with
RequireStable=true answer UNSTABLE_OFFSET_COMMIT for that partition, and
only for it (another partition of the same topic, another group and a
request without RequireStable are answered normally, the latter with the
last committed offset); after EndTxn commit the new offset is returned,
after an abort the previous one stays, and neither is unstable any more.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

tap = harness.Tap(timeout=120)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

NONE, UNSTABLE = 0, 88
TOPIC = "stable-t"

tap.plan(14)
broker = harness.Broker(tap, advertise=True)
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")


from kwire import (W, Conn, batch, init_pid, add_parts, add_offsets, end_txn,  # noqa: E402
                   txn_offset_commit)


def produce(c, b, part=0):
    w = W().str(None).i16(-1).i32(30000).arr(
        [TOPIC], lambda w, t: w.str(t).arr([part], lambda w, p: w.i32(p).bytes_(b)))
    r = c.call(0, 3, False, w)
    res = r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    return res[0][1][0][1], res[0][1][0][2]


def offset_commit(c, group, part, offset):
    """OffsetCommit v2 outside any group generation (simple consumer)."""
    w = W().str(group).i32(-1).str("").i64(-1).arr(
        [TOPIC], lambda w, t: w.str(t).arr([part], lambda w, p: w.i32(p).i64(offset).str(None)))
    r = c.call(8, 2, False, w)
    return r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i16()))))[0][1][0][1]


def _parts(r):
    def part(r):
        p = (r.i32(), r.i64(), r.i32(), r.str(), r.i16())
        r.tags()
        return p

    def topic(r):
        t = (r.str(), r.arr(part))
        r.tags()
        return t
    return {(t, p[0]): (p[1], p[4]) for t, ps in r.arr(topic) for p in ps}


def fetch_v7(c, group, parts, stable):
    """OffsetFetch v7: {(topic, partition): (offset, error)}."""
    w = W(True).str(group).arr(
        [TOPIC], lambda w, t: w.str(t).arr(parts, lambda w, p: w.i32(p)).tags())
    r = c.call(9, 7, True, w.i8(1 if stable else 0).tags())
    r.i32()
    out = _parts(r)
    out["error"] = r.i16()
    return out


def fetch_v8(c, groups, parts, stable):
    """OffsetFetch v8 (several groups): {group: {(topic, partition): (offset, error)}}."""
    def grp(w, g):
        w.str(g).arr([TOPIC], lambda w, t: w.str(t).arr(parts, lambda w, p: w.i32(p)).tags()).tags()
    r = c.call(9, 8, True, W(True).arr(groups, grp).i8(1 if stable else 0).tags())
    r.i32()

    def group(r):
        gid = r.str()
        ps = _parts(r)
        ps["error"] = r.i16()
        r.tags()
        return gid, ps
    return dict(r.arr(group))


# ---- the test ------------------------------------------------------------------

with tap.section("create topic", cases=1, timeout=60):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"})
    admin.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(30)
    tap.ok(True, "topic created")

c = Conn(broker.port)
with tap.section("pending transactional offsets", cases=6, timeout=30):
    tap.is_(offset_commit(c, "sg", 0, 5), NONE, "a plain commit of offset 5 for partition 0")
    err, pid, epoch = init_pid(c, 1, "st1")
    add_parts(c, 1, "st1", pid, epoch, [(TOPIC, 0)])
    produce(c, batch(pid, epoch, 0, b"v", attrs=0x10))
    add_offsets(c, "st1", pid, epoch, "sg")
    tap.is_(txn_offset_commit(c, "st1", "sg", pid, epoch, TOPIC, 0, 7), NONE,
            "TxnOffsetCommit of offset 7 in an open transaction")
    got = fetch_v7(c, "sg", [0, 1], True)
    tap.is_((got[(TOPIC, 0)][1], got[(TOPIC, 1)], got["error"]), (UNSTABLE, (-1, NONE), NONE),
            "v7 RequireStable: UNSTABLE_OFFSET_COMMIT for partition 0 only")
    got = fetch_v7(c, "sg", [0], False)
    tap.is_(got[(TOPIC, 0)], (5, NONE), "v7 without RequireStable: the committed offset 5")
    got = fetch_v8(c, ["sg", "other"], [0], True)
    tap.is_((got["sg"][(TOPIC, 0)][1], got["other"][(TOPIC, 0)]), (UNSTABLE, (-1, NONE)),
            "v8 RequireStable: unstable for the transaction's group, not another group")
    tap.is_(end_txn(c, "st1", pid, epoch, True), NONE, "EndTxn commit")

with tap.section("after commit and abort", cases=5, timeout=30):
    tap.is_(fetch_v7(c, "sg", [0], True)[(TOPIC, 0)], (7, NONE),
            "after the commit: offset 7, stable")
    add_parts(c, 1, "st1", pid, epoch, [(TOPIC, 0)])
    produce(c, batch(pid, epoch, 1, b"w", attrs=0x10))
    add_offsets(c, "st1", pid, epoch, "sg")
    tap.is_(txn_offset_commit(c, "st1", "sg", pid, epoch, TOPIC, 0, 9), NONE,
            "a second transaction commits offset 9")
    tap.is_(fetch_v8(c, ["sg"], [0], True)["sg"][(TOPIC, 0)][1], UNSTABLE,
            "v8 RequireStable: unstable again")
    tap.is_(end_txn(c, "st1", pid, epoch, False), NONE, "EndTxn abort")
    tap.is_(fetch_v7(c, "sg", [0], True)[(TOPIC, 0)], (7, NONE),
            "after the abort: still offset 7, stable")

tap.is_(broker.stop(), 0, "broker stops cleanly")
broker.cleanup()
tap.done()
