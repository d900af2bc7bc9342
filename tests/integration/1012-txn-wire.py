"""1012-txn-wire: the transaction APIs on a raw socket, error paths first.

Requests and responses are encoded here by hand from the Kafka message
specs (classic and compact forms), independently of runnel's generated
codecs. Covered: InitProducerId v1/v3/v4 (bad timeout, empty id, KIP-360
bump, its retry, a stale epoch as PRODUCER_FENCED or, before v4,
INVALID_PRODUCER_EPOCH); EndTxn without a transaction, for an unknown id,
repeated after a commit, and with the other outcome; AddPartitionsToTxn
with a wrong epoch (v1 INVALID_PRODUCER_EPOCH, v2 PRODUCER_FENCED), a wrong
producer id, an unknown topic (OPERATION_NOT_ATTEMPTED for the others),
v3 (compact) and v4 (KIP-890 batched form, verify-only);
Produce of a transactional batch to a partition not in the transaction
(INVALID_TXN_STATE); AddOffsetsToTxn and TxnOffsetCommit (before the group
was added, with a wrong epoch, and the offset visible to OffsetFetch only
after the commit); TxnOffsetCommit v3 against a live group (KIP-447: member
id, group instance id and generation checked); DescribeTransactions v0, ListTransactions v0/v1 (state
filters, unknown filters, duration filter), DescribeProducers v0; the LSO
in ListOffsets v2 read_committed and Fetch v4 with AbortedTransactions.
A second broker with short timers checks that a transaction older than its
timeout is aborted with an epoch bump (the producer is fenced) and that an
idle transactional id expires (transactional.id.expiration.ms), durably.
A third one is restarted with a transaction left in PrepareCommit (a state
record appended to __transaction_state while it is down, as if it had died
before the markers): the commit is completed at start-up.
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

NONE, UNKNOWN_TOPIC, INVALID_REQUEST = 0, 3, 42
INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, INVALID_PID_MAPPING = 47, 48, 49
INVALID_TXN_TIMEOUT, OPERATION_NOT_ATTEMPTED = 50, 55
PRODUCER_FENCED, TXN_ID_NOT_FOUND = 90, 105
ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID = 22, 25, 82
TOPIC = "wire-t"

tap.plan(75)
broker = harness.Broker(tap, advertise=True, args=["--set", "http.listener="])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")


from kwire import (W, Conn, batch, init_pid, add_parts, add_offsets, end_txn,  # noqa: E402
                   txn_offset_commit)


def txn_batch(pid, epoch, seq, value):
    return batch(pid, epoch, seq, value.encode(), attrs=0x10)


# ---- requests ---------------------------------------------------------------

def presult(r):
    """(partition, error) of a compact per-partition result."""
    v = (r.i32(), r.i16())
    r.tags()
    return v


def tresult(r):
    """(topic, [(partition, error)]) of a compact per-topic result."""
    v = (r.str(), r.arr(presult))
    r.tags()
    return v


def add_parts_flex(c, ver, txn_id, pid, epoch, parts, verify_only=False):
    """AddPartitionsToTxn v3 (compact) or v4 (KIP-890 batched, one transaction)."""
    topics = {}
    for t, p in parts:
        topics.setdefault(t, []).append(p)

    def topic(w, x):
        w.str(x[0]).arr(x[1], lambda w, p: w.i32(p)).tags()
    w = W(True)
    if ver >= 4:
        w.arr([0], lambda w, _: w.str(txn_id).i64(pid).i16(epoch).i8(1 if verify_only else 0)
              .arr(list(topics.items()), topic).tags())
    else:
        w.str(txn_id).i64(pid).i16(epoch).arr(list(topics.items()), topic)
    r = c.call(24, ver, True, w.tags())
    r.i32()
    if ver >= 4:
        r.i16()

        def txres(r):
            v = (r.str(), r.arr(tresult))
            r.tags()
            return v
        res = r.arr(txres)[0][1]
    else:
        res = r.arr(tresult)
    return {(name, p): e for name, ps in res for p, e in ps}


def txn_offset_commit_v3(c, txn_id, group, pid, epoch, gen, member, instance, topic, part,
                         offset):
    """TxnOffsetCommit v3 (compact, KIP-447 consumer group metadata)."""
    w = W(True).str(txn_id).str(group).i64(pid).i16(epoch).i32(gen).str(member).str(instance)
    w.arr([topic], lambda w, t: w.str(t).arr(
        [part], lambda w, p: w.i32(p).i64(offset).i32(-1).str(None).tags()).tags())
    r = c.call(28, 3, True, w.tags())
    r.i32()
    return r.arr(tresult)[0][1][0][1]


def join_group(c, group, member, instance=None):
    """JoinGroup v5 (classic): (error, generation, member id)."""
    w = W().str(group).i32(30000).i32(30000).str(member).str(instance).str("consumer").arr(
        ["range"], lambda w, n: w.str(n).bytes_(b"\x00\x00\x00\x00\x00\x00\x00\x00"))
    r = c.call(11, 5, False, w)
    r.i32()
    err, gen = r.i16(), r.i32()
    r.str()
    r.str()
    return err, gen, r.str()


def sync_group(c, group, gen, member, instance=None):
    """SyncGroup v3 from the only member (the leader): the error."""
    w = W().str(group).i32(gen).str(member).str(instance).arr(
        [member], lambda w, m: w.str(m).bytes_(b""))
    r = c.call(14, 3, False, w)
    r.i32()
    return r.i16()


def offset_fetch(c, group, topic, part):
    w = W().str(group).arr([topic], lambda w, t: w.str(t).arr([part], lambda w, p: w.i32(p)))
    r = c.call(9, 1, False, w)
    res = r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i64(), r.str(), r.i16()))))
    return res[0][1][0][1]


def produce(c, batch, part):
    w = W().str(None).i16(-1).i32(30000).arr(
        [TOPIC], lambda w, t: w.str(t).arr([part], lambda w, p: w.i32(p).bytes_(batch)))
    r = c.call(0, 3, False, w)
    res = r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    return res[0][1][0][1], res[0][1][0][2]


def describe_txns(c, ids):
    r = c.call(65, 0, True, W(True).arr(ids, lambda w, s: w.str(s)).tags())
    r.i32()

    def topic(r):
        t = (r.str(), r.arr(lambda r: r.i32()))
        r.tags()
        return t

    def state(r):
        s = dict(error=r.i16(), id=r.str(), state=r.str(), timeout=r.i32(), start=r.i64(),
                 pid=r.i64(), epoch=r.i16(), topics=r.arr(topic))
        r.tags()
        return s
    return r.arr(state)


def list_txns(c, ver, states, duration=-1):
    w = W(True).arr(states, lambda w, s: w.str(s)).arr([], lambda w, x: w.i64(x))
    if ver >= 1:
        w.i64(duration)
    r = c.call(66, ver, True, w.tags())
    r.i32()
    err = r.i16()
    unknown = r.arr(lambda r: r.str())

    def st(r):
        s = (r.str(), r.i64(), r.str())
        r.tags()
        return s
    return err, unknown, r.arr(st)


def describe_producers(c, part):
    w = W(True).arr([TOPIC], lambda w, t: w.str(t).arr([part], lambda w, p: w.i32(p)).tags())
    r = c.call(61, 0, True, w.tags())
    r.i32()

    def prod(r):
        p = dict(pid=r.i64(), epoch=r.i32(), last_seq=r.i32(), last_ts=r.i64(), coord=r.i32(),
                 txn_start=r.i64())
        r.tags()
        return p

    def partition(r):
        p = dict(index=r.i32(), error=r.i16(), msg=r.str(), producers=r.arr(prod))
        r.tags()
        return p

    def topic(r):
        t = (r.str(), r.arr(partition))
        r.tags()
        return t
    return r.arr(topic)[0][1][0]


def list_offsets_latest(c, isolation, part):
    w = W().i32(-1).i8(isolation).arr(
        [TOPIC], lambda w, t: w.str(t).arr([part], lambda w, p: w.i32(p).i64(-1)))
    r = c.call(2, 2, False, w)
    r.i32()
    res = r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    return res[0][1][0][3]


def fetch_committed(c, part, offset):
    w = W().i32(-1).i32(0).i32(0).i32(1 << 20).i8(1).arr(
        [TOPIC], lambda w, t: w.str(t).arr([part], lambda w, p: w.i32(p).i64(offset).i32(1 << 20)))
    r = c.call(1, 4, False, w)
    r.i32()

    def p(r):
        return dict(index=r.i32(), error=r.i16(), hw=r.i64(), lso=r.i64(),
                    aborted=r.arr(lambda r: (r.i64(), r.i64())), records=r.bytes_())
    return r.arr(lambda r: (r.str(), r.arr(p)))[0][1][0]


# ---- the test ------------------------------------------------------------------

COMMON = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}
with tap.section("create topic", cases=1, timeout=60):
    admin = AdminClient(dict(COMMON))
    admin.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(30)
    tap.ok(True, "topic created")

c = Conn(broker.port)
with tap.section("InitProducerId and EndTxn errors", cases=6, timeout=30):
    err, pid, epoch = init_pid(c, 1, "w1")
    tap.is_((err, epoch), (NONE, 0), "InitProducerId v1 with a transactional id: epoch 0")
    tap.ok(pid >= 0, "a producer id (%d)" % pid)
    tap.is_(init_pid(c, 1, "w2", timeout=2147483647)[0], INVALID_TXN_TIMEOUT,
            "timeout above transaction.max.timeout.ms: INVALID_TRANSACTION_TIMEOUT")
    tap.is_(init_pid(c, 1, "")[0], INVALID_REQUEST, "empty transactional id: INVALID_REQUEST")
    tap.is_(end_txn(c, "w1", pid, 0, True), INVALID_TXN_STATE,
            "EndTxn without a transaction: INVALID_TXN_STATE")
    tap.is_(end_txn(c, "nope", pid, 0, True), INVALID_PID_MAPPING,
            "EndTxn for an unknown id: INVALID_PRODUCER_ID_MAPPING")

with tap.section("AddPartitionsToTxn and Produce", cases=8, timeout=30):
    tap.is_(add_parts(c, 1, "w1", pid, 3, [(TOPIC, 0)]), {(TOPIC, 0): INVALID_PRODUCER_EPOCH},
            "v1 with a wrong epoch: INVALID_PRODUCER_EPOCH")
    tap.is_(add_parts(c, 2, "w1", pid, 3, [(TOPIC, 0)]), {(TOPIC, 0): PRODUCER_FENCED},
            "v2 with a wrong epoch: PRODUCER_FENCED")
    tap.is_(add_parts(c, 1, "w1", pid + 1000, 0, [(TOPIC, 0)]), {(TOPIC, 0): INVALID_PID_MAPPING},
            "a wrong producer id: INVALID_PRODUCER_ID_MAPPING")
    tap.is_(add_parts(c, 1, "w1", pid, 0, [(TOPIC, 0), ("nosuch", 0)]),
            {(TOPIC, 0): OPERATION_NOT_ATTEMPTED, ("nosuch", 0): UNKNOWN_TOPIC},
            "an unknown topic: UNKNOWN_TOPIC_OR_PARTITION, the others OPERATION_NOT_ATTEMPTED")
    tap.is_(produce(c, txn_batch(pid, 0, 0, "early"), 0)[0], INVALID_TXN_STATE,
            "transactional produce before AddPartitionsToTxn: INVALID_TXN_STATE")
    tap.is_(add_parts(c, 1, "w1", pid, 0, [(TOPIC, 0)]), {(TOPIC, 0): NONE},
            "AddPartitionsToTxn adds partition 0")
    tap.is_(produce(c, txn_batch(pid, 0, 0, "p1"), 1)[0], INVALID_TXN_STATE,
            "transactional produce to a partition not added: INVALID_TXN_STATE")
    tap.is_(produce(c, txn_batch(pid, 0, 0, "data"), 0), (NONE, 0),
            "transactional produce to the added partition: offset 0")

with tap.section("offsets in the transaction", cases=5, timeout=30):
    tap.is_(txn_offset_commit(c, "w1", "wg", pid, 0, TOPIC, 0, 42), INVALID_TXN_STATE,
            "TxnOffsetCommit before AddOffsetsToTxn: INVALID_TXN_STATE")
    tap.is_(add_offsets(c, "w1", pid, 0, "wg"), NONE, "AddOffsetsToTxn")
    tap.is_(txn_offset_commit(c, "w1", "wg", pid, 1, TOPIC, 0, 42), INVALID_PRODUCER_EPOCH,
            "TxnOffsetCommit v1 with a wrong epoch: INVALID_PRODUCER_EPOCH")
    tap.is_(txn_offset_commit(c, "w1", "wg", pid, 0, TOPIC, 0, 42), NONE, "TxnOffsetCommit")
    tap.is_(offset_fetch(c, "wg", TOPIC, 0), -1, "the offset is not committed before EndTxn")

with tap.section("KIP-447 consumer group metadata (TxnOffsetCommit v3)", cases=8, timeout=40):
    g = Conn(broker.port)
    err, gen, mid2 = join_group(g, "wlive", "", "wi-1")
    tap.is_(err, NONE, "a static member joins group wlive (no MEMBER_ID_REQUIRED for it)")
    tap.is_(sync_group(g, "wlive", gen, mid2, "wi-1"), NONE, "and syncs: the group is Stable")
    tap.is_(add_offsets(c, "w1", pid, 0, "wlive"), NONE, "AddOffsetsToTxn wlive")
    tap.is_(txn_offset_commit_v3(c, "w1", "wlive", pid, 0, gen, mid2, "wi-1", TOPIC, 0, 7), NONE,
            "the member with its generation commits")
    tap.is_(txn_offset_commit_v3(c, "w1", "wlive", pid, 0, gen, "bogus", None, TOPIC, 0, 7),
            UNKNOWN_MEMBER_ID, "a member id not in the group: UNKNOWN_MEMBER_ID")
    tap.is_(txn_offset_commit_v3(c, "w1", "wlive", pid, 0, gen + 1, mid2, "wi-1", TOPIC, 0, 7),
            ILLEGAL_GENERATION, "another generation: ILLEGAL_GENERATION")
    tap.is_(txn_offset_commit_v3(c, "w1", "wlive", pid, 0, gen, "old-member", "wi-1", TOPIC, 0, 7),
            FENCED_INSTANCE_ID, "the instance id under another member id: FENCED_INSTANCE_ID")
    tap.is_(txn_offset_commit_v3(c, "w1", "wlive", pid, 0, -1, "", None, TOPIC, 0, 7), NONE,
            "no group metadata (generation -1, no member id): accepted, as in Kafka")
    g.s.close()

with tap.section("describe and list", cases=8, timeout=30):
    st = describe_txns(c, ["w1", "nope"])
    tap.is_((st[0]["error"], st[0]["state"], st[0]["pid"], st[0]["epoch"], st[0]["topics"]),
            (NONE, "Ongoing", pid, 0, [(TOPIC, [0])]),
            "DescribeTransactions: Ongoing with its partition")
    tap.ok(st[0]["start"] > 0 and st[0]["timeout"] == 60000, "start time and timeout reported")
    tap.is_(st[1]["error"], TXN_ID_NOT_FOUND, "unknown id: TRANSACTIONAL_ID_NOT_FOUND")
    err, unknown, states = list_txns(c, 0, ["Ongoing", "Bogus"])
    tap.is_((err, unknown, states), (NONE, ["Bogus"], [("w1", pid, "Ongoing")]),
            "ListTransactions v0 with state filters (one unknown)")
    tap.is_(list_txns(c, 0, ["CompleteCommit"])[2], [], "a filter that matches nothing")
    tap.is_(list_txns(c, 1, [], duration=3600000)[2], [],
            "ListTransactions v1: none running longer than an hour")
    dp = describe_producers(c, 0)
    mine = [p for p in dp["producers"] if p["pid"] == pid]
    tap.is_(dp["error"], NONE, "DescribeProducers answers")
    tap.is_([(p["epoch"], p["last_seq"], p["txn_start"]) for p in mine], [(0, 0, 0)],
            "DescribeProducers: epoch, last sequence and the open transaction's first offset")

with tap.section("EndTxn", cases=5, timeout=30):
    tap.is_(end_txn(c, "w1", pid, 0, True), NONE, "EndTxn commit")
    tap.is_(offset_fetch(c, "wg", TOPIC, 0), 42, "the offset is committed by the commit")
    tap.is_(end_txn(c, "w1", pid, 0, True), NONE, "EndTxn commit again (a retry): NONE")
    tap.is_(end_txn(c, "w1", pid, 0, False), INVALID_TXN_STATE,
            "EndTxn abort after the commit: INVALID_TXN_STATE")
    tap.is_(describe_txns(c, ["w1"])[0]["state"], "CompleteCommit", "state CompleteCommit")

with tap.section("KIP-360 epoch bump", cases=5, timeout=30):
    tap.is_(init_pid(c, 4, "w1", pid=pid, epoch=0), (NONE, pid, 1),
            "InitProducerId v4 with the current id/epoch bumps the epoch")
    tap.is_(init_pid(c, 4, "w1", pid=pid, epoch=0), (NONE, pid, 1),
            "the same request again (a retry) gets the bumped epoch")
    tap.is_(init_pid(c, 4, "w1", pid=pid, epoch=5)[0], PRODUCER_FENCED,
            "a wrong epoch in v4: PRODUCER_FENCED")
    tap.is_(init_pid(c, 3, "w1", pid=pid, epoch=5)[0], INVALID_PRODUCER_EPOCH,
            "a wrong epoch in v3: INVALID_PRODUCER_EPOCH")
    tap.is_(add_parts(c, 1, "w1", pid, 0, [(TOPIC, 0)]), {(TOPIC, 0): INVALID_PRODUCER_EPOCH},
            "the old epoch is fenced")

with tap.section("LSO and aborted transactions", cases=9, timeout=30):
    tap.is_(add_parts(c, 1, "w1", pid, 1, [(TOPIC, 0)]), {(TOPIC, 0): NONE}, "a new transaction")
    tap.is_(add_parts_flex(c, 3, "w1", pid, 1, [(TOPIC, 0)]), {(TOPIC, 0): NONE},
            "AddPartitionsToTxn v3 (flexible): the partition is already in")
    tap.is_(add_parts_flex(c, 4, "w1", pid, 1, [(TOPIC, 0), (TOPIC, 1)], verify_only=True),
            {(TOPIC, 0): NONE, (TOPIC, 1): INVALID_TXN_STATE},
            "AddPartitionsToTxn v4 verify-only: partition 1 is not in the transaction")
    tap.is_(produce(c, txn_batch(pid, 1, 0, "aborted"), 0), (NONE, 2),
            "its record at offset 2 (after the commit marker)")
    tap.is_((list_offsets_latest(c, 1, 0), list_offsets_latest(c, 0, 0)), (2, 3),
            "ListOffsets latest: LSO 2 (read_committed), high watermark 3")
    f = fetch_committed(c, 0, 0)
    tap.is_((f["error"], f["hw"], f["lso"]), (NONE, 3, 2), "Fetch v4 read_committed: LSO 2")
    tap.is_(end_txn(c, "w1", pid, 1, False), NONE, "EndTxn abort")
    tap.is_(list_offsets_latest(c, 1, 0), 4, "after the abort marker the LSO is 4")
    f = fetch_committed(c, 0, 0)
    tap.is_((f["lso"], f["aborted"]), (4, [(pid, 2)]),
            "Fetch v4 read_committed lists the aborted transaction (producer, first offset 2)")

tap.is_(broker.stop(), 0, "broker stops cleanly")
broker.cleanup()

# A second broker with short timers: a transaction that outlives its
# transaction.timeout.ms is aborted (and its producer fenced); an idle id
# is forgotten after transactional.id.expiration.ms, also across a restart.
b2 = harness.Broker(tap, advertise=True, args=[
    "--set", "http.listener=",
    "--set", "transactional.id.expiration.ms=5000",
    "--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=100"])
with tap.section("timeout and expiration", cases=8, timeout=90):
    tap.ok(b2.start(), "second broker starts")
    admin2 = AdminClient({"bootstrap.servers": b2.bootstrap, "broker.address.family": "v4"})
    admin2.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(30)
    c2 = Conn(b2.port)
    err, pid2, _ = init_pid(c2, 1, "slow", timeout=500)
    tap.is_(add_parts(c2, 1, "slow", pid2, 0, [(TOPIC, 1)]), {(TOPIC, 1): NONE},
            "a transaction with a 500 ms timeout starts")
    tap.is_(produce(c2, txn_batch(pid2, 0, 0, "slow"), 1), (NONE, 0), "and writes a record")
    st = harness.wait_until(
        lambda: [x for x in describe_txns(c2, ["slow"]) if x["state"] == "CompleteAbort"], 30)
    tap.is_([(x["pid"], x["epoch"]) for x in st], [(pid2, 1)],
            "the coordinator aborts it after the timeout and bumps the epoch")
    tap.is_(end_txn(c2, "slow", pid2, 0, True, ver=2), PRODUCER_FENCED,
            "the timed-out producer is fenced (EndTxn v2: PRODUCER_FENCED)")
    tap.is_(list_offsets_latest(c2, 1, 1), 2, "the abort marker moved the LSO past the record")
    gone = harness.wait_until(
        lambda: describe_txns(c2, ["slow"])[0]["error"] == TXN_ID_NOT_FOUND, 30)
    tap.ok(gone, "the idle transactional id expires")
    c2.s.close()
    b2.restart()
    c2 = Conn(b2.port)
    tap.is_(describe_txns(c2, ["slow"])[0]["error"], TXN_ID_NOT_FOUND,
            "the expiry survives a restart")
tap.is_(b2.stop(), 0, "second broker stops cleanly")
b2.cleanup()


def append_state_record(data_dir, key, value):
    """Appends one record to __transaction_state-0 of a stopped broker, as
    the coordinator would have written it before a crash."""
    d = os.path.join(data_dir, "__transaction_state-0")
    seg = sorted(f for f in os.listdir(d) if f.endswith(".log"))[-1]
    path = os.path.join(d, seg)
    with open(path, "rb") as f:
        data = f.read()
    pos, nxt = 0, int(seg[:-4])
    while pos + 12 <= len(data):
        base, blen = struct.unpack(">qi", data[pos:pos + 12])
        nxt = base + struct.unpack(">i", data[pos + 23:pos + 27])[0] + 1
        pos += 12 + blen
    with open(path, "ab") as f:
        f.write(batch(-1, -1, -1, value, key=key.encode(), base_offset=nxt))
        f.flush()
        os.fsync(f.fileno())


def wstr(s):
    e = s.encode()
    return struct.pack(">h", len(e)) + e


# A third broker: a transaction found in PrepareCommit at start-up (the
# coordinator wrote PrepareCommit, then the process died before the markers)
# is completed: marker written, the offsets committed, CompleteCommit.
b3 = harness.Broker(tap, advertise=True, args=["--set", "http.listener="])
with tap.section("recovery of a prepared commit", cases=8, timeout=90):
    tap.ok(b3.start(), "third broker starts")
    admin3 = AdminClient({"bootstrap.servers": b3.bootstrap, "broker.address.family": "v4"})
    admin3.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(30)
    c3 = Conn(b3.port)
    err, pid3, _ = init_pid(c3, 1, "rec")
    add_parts(c3, 1, "rec", pid3, 0, [(TOPIC, 0)])
    tap.is_(produce(c3, txn_batch(pid3, 0, 0, "prepared"), 0), (NONE, 0),
            "a transactional record at offset 0")
    add_offsets(c3, "rec", pid3, 0, "rg")
    c3.s.close()
    tap.is_(b3.stop(), 0, "third broker stops with the transaction open")
    value = (struct.pack(">hqhhibqq", 0, pid3, 0, -1, 60000, 2, 1000, 1000)
             + struct.pack(">i", 1) + wstr(TOPIC) + struct.pack(">i", 0)
             + struct.pack(">i", 1) + wstr("rg")
             + struct.pack(">i", 1) + wstr("rg") + wstr(TOPIC) + struct.pack(">iqih", 0, 7, -1, -1))
    append_state_record(b3.data_dir, "rec", value)
    tap.ok(b3.start(), "restart with the transaction in PrepareCommit")
    c3 = Conn(b3.port)
    st = harness.wait_until(
        lambda: [x for x in describe_txns(c3, ["rec"]) if x["state"] == "CompleteCommit"], 30)
    tap.ok(st, "the coordinator completes the commit at start-up")
    tap.is_((list_offsets_latest(c3, 1, 0), list_offsets_latest(c3, 0, 0)), (2, 2),
            "the COMMIT marker is written: LSO = high watermark = 2")
    tap.is_(offset_fetch(c3, "rg", TOPIC, 0), 7, "the transaction's offset is committed")
    f = fetch_committed(c3, 0, 0)
    tap.is_((f["lso"], f["aborted"], len(f["records"] or b"") > 0), (2, [], True),
            "read_committed fetch returns the committed record, no aborted transactions")
tap.is_(b3.stop(), 0, "third broker stops cleanly")
b3.cleanup()
sys.exit(tap.done())
