"""0630-group-wire: the newest group API versions, spoken on a raw socket.

The clients installed here stop at JoinGroup v5, SyncGroup v3,
OffsetCommit/OffsetFetch v7 and ListGroups/DescribeGroups v4; current Java
clients send the newest flexible versions. This test encodes them by hand
(KIP-482 compact forms and tagged sections): JoinGroup v9 (KIP-394
MEMBER_ID_REQUIRED, KIP-814 SkipAssignment for a static leader), SyncGroup
v5 (protocol type and name), Heartbeat v4, OffsetCommit v9, OffsetFetch v9
(several groups in one request, KIP-709) and v8, DescribeGroups v5,
ListGroups v5 (state and type filters), LeaveGroup v5 (batch),
OffsetDelete v0 and DeleteGroups v2, plus the error answers for bad
sessions, generations, members and protocols, and a member whose
connection dies while its JoinGroup is parked.
"""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

tap = harness.Tap(timeout=180)
ck = harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TOPIC = "wire-t"
MD = b"\x00\x01\x00\x00\x00\x01\x00\x06wire-t\xff\xff\xff\xff"  # subscription v1: [wire-t]

tap.plan(47)
broker = harness.Broker(tap, advertise=True, args=[
    "--set", "group.initial.rebalance.delay.ms=0", "--set", "group.min.session.timeout.ms=100",
    "--set", "http.listener="])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")


# ---- encoding --------------------------------------------------------------

def uv(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def cs(s):  # compact nullable string
    if s is None:
        return b"\x00"
    b = s.encode() if isinstance(s, str) else s
    return uv(len(b) + 1) + b


cb = cs  # compact bytes share the form


def ca(items, enc):  # compact array (None = null)
    if items is None:
        return b"\x00"
    return uv(len(items) + 1) + b"".join(enc(x) for x in items)


TAGS = b"\x00"


def s16(s):  # classic string
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Rd:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        v = self.b[self.p:self.p + n]
        if len(v) != n:
            raise ValueError("response truncated")
        self.p += n
        return v

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uv(self):
        n = shift = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def cs(self):
        n = self.uv()
        return None if n == 0 else self.take(n - 1).decode()

    def cb(self):
        n = self.uv()
        return None if n == 0 else self.take(n - 1)

    def ca(self, fn):
        n = self.uv()
        return None if n == 0 else [fn(self) for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uv()):
            self.uv()
            self.take(self.uv())

    def s16(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def arr(self, fn):
        n = self.i32()
        return None if n < 0 else [fn(self) for _ in range(n)]


class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", broker.port), timeout=30)
        self.corr = 0

    def send(self, key, ver, body, flexible=True):
        self.corr += 1
        hdr = struct.pack(">hhi", key, ver, self.corr) + s16("wire")
        if flexible:
            hdr += TAGS
        msg = hdr + body
        self.s.sendall(struct.pack(">i", len(msg)) + msg)
        return self.corr

    def recv(self, flexible=True):
        n = struct.unpack(">i", self.read(4))[0]
        r = Rd(self.read(n))
        r.corr = r.i32()
        if flexible:
            r.tags()
        return r

    def call(self, key, ver, body, flexible=True):
        corr = self.send(key, ver, body, flexible)
        r = self.recv(flexible)
        if r.corr != corr:
            raise ValueError("correlation id %d, expected %d" % (r.corr, corr))
        return r

    def read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.s.recv(n - len(out))
            if not chunk:
                raise ConnectionError("connection closed")
            out += chunk
        return out

    def close(self):
        self.s.close()


# ---- requests (newest versions) ---------------------------------------------

def join_req(group, member, instance=None, session=10000, rebalance=10000, ptype="consumer",
             protos=(("range", MD),), reason="wire test"):
    return (cs(group) + struct.pack(">ii", session, rebalance) + cs(member) + cs(instance)
            + cs(ptype) + ca(list(protos), lambda p: cs(p[0]) + cb(p[1]) + TAGS) + cs(reason) + TAGS)


def join_resp(r):
    out = {"throttle": r.i32(), "error": r.i16(), "gen": r.i32(), "ptype": r.cs(),
           "proto": r.cs(), "leader": r.cs(), "skip": r.i8(), "member": r.cs()}

    def mem(x):
        m = (x.cs(), x.cs(), x.cb())
        x.tags()
        return m

    out["members"] = r.ca(mem)
    r.tags()
    return out


def join(c, *a, **kw):
    return join_resp(c.call(11, 9, join_req(*a, **kw)))


def sync(c, group, gen, member, instance=None, assignments=(), ptype="consumer", proto="range"):
    body = (cs(group) + struct.pack(">i", gen) + cs(member) + cs(instance) + cs(ptype) + cs(proto)
            + ca(list(assignments), lambda a: cs(a[0]) + cb(a[1]) + TAGS) + TAGS)
    r = c.call(14, 5, body)
    out = {"throttle": r.i32(), "error": r.i16(), "ptype": r.cs(), "proto": r.cs(),
           "assignment": r.cb()}
    r.tags()
    return out


def heartbeat(c, group, gen, member, instance=None):
    r = c.call(12, 4, cs(group) + struct.pack(">i", gen) + cs(member) + cs(instance) + TAGS)
    r.i32()
    return r.i16()


def describe(c, groups):
    r = c.call(15, 5, ca(groups, cs) + b"\x01" + TAGS)
    r.i32()

    def member(x):
        m = {"id": x.cs(), "instance": x.cs(), "client": x.cs(), "host": x.cs(),
             "metadata": x.cb(), "assignment": x.cb()}
        x.tags()
        return m

    def group(x):
        g = {"error": x.i16(), "id": x.cs(), "state": x.cs(), "ptype": x.cs(), "proto": x.cs(),
             "members": x.ca(member), "ops": x.i32()}
        x.tags()
        return g

    return r.ca(group)


def list_groups(c, states, types):
    r = c.call(16, 5, ca(states, cs) + ca(types, cs) + TAGS)
    r.i32()
    err = r.i16()

    def g(x):
        v = (x.cs(), x.cs(), x.cs(), x.cs())
        x.tags()
        return v

    return err, r.ca(g)


# ---- the test ----------------------------------------------------------------

admin = AdminClient({"bootstrap.servers": broker.bootstrap})
for f in admin.create_topics([NewTopic(TOPIC, 2, 1)]).values():
    f.result(30)

c = Conn()
with tap.section("join and sync (v9, v5)", cases=8, timeout=30):
    j = join(c, "wire-g", "")
    tap.is_(j["error"], 79, "JoinGroup v9 without a member id: MEMBER_ID_REQUIRED")
    mid = j["member"]
    tap.ok(mid and mid.startswith("wire-"), "the answer carries the member id to use (%s)" % mid)
    j = join(c, "wire-g", mid)
    tap.is_((j["error"], j["gen"], j["ptype"], j["proto"], j["leader"], j["skip"], j["member"]),
            (0, 1, "consumer", "range", mid, 0, mid), "the rejoin completes generation 1 led by it")
    tap.is_(j["members"], [(mid, None, MD)], "the leader gets every member with its metadata")
    s = sync(c, "wire-g", 1, mid, assignments=[(mid, b"ASSIGN")])
    tap.is_(s, {"throttle": 0, "error": 0, "ptype": "consumer", "proto": "range",
                "assignment": b"ASSIGN"}, "SyncGroup v5 returns the assignment with type and name")
    tap.is_(heartbeat(c, "wire-g", 1, mid), 0, "Heartbeat v4")
    tap.is_(sync(c, "wire-g", 1, mid, proto="roundrobin")["error"], 23,
            "SyncGroup with another protocol name: INCONSISTENT_GROUP_PROTOCOL")
    tap.is_(sync(c, "wire-g", 7, mid)["error"], 22, "SyncGroup of another generation: ILLEGAL_GENERATION")

with tap.section("offsets (OffsetCommit v9, OffsetFetch v9/v8, OffsetDelete v0)", cases=6, timeout=30):
    body = (cs("wire-g") + struct.pack(">i", 1) + cs(mid) + cs(None)
            + ca([TOPIC], lambda t: cs(t) + ca([(0, 42, 3, "meta"), (1, 7, -1, None), (9, 1, -1, "")],
                 lambda p: struct.pack(">iqi", p[0], p[1], p[2]) + cs(p[3]) + TAGS) + TAGS) + TAGS)
    r = c.call(8, 9, body)
    r.i32()

    def oc_part(x):
        v = (x.i32(), x.i16())
        x.tags()
        return v

    def oc_topic(x):
        v = (x.cs(), x.ca(oc_part))
        x.tags()
        return v

    tap.is_(r.ca(oc_topic), [(TOPIC, [(0, 0), (1, 0), (9, 3)])],
            "OffsetCommit v9: two partitions stored, an unknown one refused")

    def of_part(x):
        v = (x.i32(), x.i64(), x.i32(), x.cs(), x.i16())
        x.tags()
        return v

    def of_topic(x):
        v = (x.cs(), x.ca(of_part))
        x.tags()
        return v

    def of_group(x):
        v = (x.cs(), x.ca(of_topic), x.i16())
        x.tags()
        return v

    def topics_enc(t):
        return cs(t[0]) + ca(t[1], lambda p: struct.pack(">i", p)) + TAGS

    body = (ca([("wire-g", None, -1, None), ("nobody", None, -1, [(TOPIC, [0])])],
               lambda g: cs(g[0]) + cs(g[1]) + struct.pack(">i", g[2]) + ca(g[3], topics_enc) + TAGS)
            + b"\x01" + TAGS)
    r = c.call(9, 9, body)
    r.i32()
    groups = r.ca(of_group)
    tap.is_(groups, [("wire-g", [(TOPIC, [(0, 42, 3, "meta", 0), (1, 7, -1, "", 0)])], 0),
                     ("nobody", [(TOPIC, [(0, -1, -1, "", 0)])], 0)],
            "OffsetFetch v9 answers two groups at once (all offsets, and none)")
    body = ca([("wire-g", [(TOPIC, [1, 0])])],
              lambda g: cs(g[0]) + ca(g[1], topics_enc) + TAGS) + b"\x00" + TAGS
    r = c.call(9, 8, body)
    r.i32()
    tap.is_(r.ca(of_group), [("wire-g", [(TOPIC, [(1, 7, -1, "", 0), (0, 42, 3, "meta", 0)])], 0)],
            "OffsetFetch v8 for named partitions, in the order asked")
    # OffsetDelete v0 (not flexible): the group subscribes to the topic.
    body = s16("wire-g") + struct.pack(">i", 1) + s16(TOPIC) + struct.pack(">ii", 1, 1)
    r = c.call(47, 0, body, flexible=False)
    err, _ = r.i16(), r.i32()
    parts = r.arr(lambda x: (x.s16(), x.arr(lambda y: (y.i32(), y.i16()))))
    tap.is_((err, parts), (0, [(TOPIC, [(1, 86)])]),
            "OffsetDelete of a subscribed topic: GROUP_SUBSCRIBED_TO_TOPIC")
    # OffsetCommit v9 with a stale generation, then from a stranger.
    body = (cs("wire-g") + struct.pack(">i", 0) + cs(mid) + cs(None)
            + ca([TOPIC], lambda t: cs(t) + ca([0], lambda p: struct.pack(">iqi", p, 1, -1) + cs(None) + TAGS)
                 + TAGS) + TAGS)
    r = c.call(8, 9, body)
    r.i32()
    tap.is_(r.ca(oc_topic), [(TOPIC, [(0, 22)])], "OffsetCommit v9 of an old generation: ILLEGAL_GENERATION")
    body = body.replace(cs(mid), cs("stranger"), 1).replace(struct.pack(">i", 0), struct.pack(">i", 1), 1)
    r = c.call(8, 9, body)
    r.i32()
    tap.is_(r.ca(oc_topic), [(TOPIC, [(0, 25)])], "OffsetCommit v9 from a non-member: UNKNOWN_MEMBER_ID")

with tap.section("describe and list (v5)", cases=5, timeout=30):
    d = describe(c, ["wire-g", "nobody"])
    g = d[0]
    tap.is_((g["error"], g["state"], g["ptype"], g["proto"], g["ops"]),
            (0, "Stable", "consumer", "range", 328), "DescribeGroups v5: Stable, range, operations")
    m = g["members"][0]
    tap.is_((m["id"], m["instance"], m["client"], m["host"], m["metadata"], m["assignment"]),
            (mid, None, "wire", "/127.0.0.1", MD, b"ASSIGN"), "the described member")
    tap.is_((d[1]["error"], d[1]["state"], d[1]["members"]), (0, "Dead", []),
            "an unknown group is described as Dead")
    err, gl = list_groups(c, ["STABLE"], ["classic"])
    tap.ok(err == 0 and ("wire-g", "consumer", "Stable", "classic") in gl,
           "ListGroups v5 with state and type filters (case-insensitive)", "groups: %r" % (gl,))
    err, gl = list_groups(c, [], ["consumer"])
    tap.is_((err, gl), (0, []), "ListGroups v5 for KIP-848 groups lists none (all are classic)")

with tap.section("errors", cases=5, timeout=30):
    tap.is_(join(c, "wire-g", "", session=50)["error"], 26, "a session below the minimum: INVALID_SESSION_TIMEOUT")
    tap.is_(join(c, "", "")["error"], 24, "an empty group id: INVALID_GROUP_ID")
    tap.is_(join(c, "wire-g", "", ptype="connect")["error"], 23,
            "another protocol type: INCONSISTENT_GROUP_PROTOCOL")
    tap.is_(heartbeat(c, "wire-g", 1, "ghost"), 25, "a heartbeat from a non-member: UNKNOWN_MEMBER_ID")
    tap.is_(heartbeat(c, "wire-g", 0, mid), 22, "a heartbeat of an old generation: ILLEGAL_GENERATION")

with tap.section("a member's connection dies while its JoinGroup waits", cases=6, timeout=60):
    # Shorter rebalance timeout: the leader rejoins with 1.5 s.
    j = join(c, "wire-g", mid, rebalance=1500)
    tap.is_((j["error"], j["gen"]), (0, 2), "the leader's rejoin starts generation 2 at once")
    s = sync(c, "wire-g", 2, mid, assignments=[(mid, b"A2")])
    tap.is_(s["error"], 0, "generation 2 is stable")
    dead = Conn()
    dead.send(11, 9, join_req("wire-g", "", session=5000, rebalance=1500))
    j = join_resp(dead.recv())
    dead.send(11, 9, join_req("wire-g", j["member"], session=5000, rebalance=1500))
    time.sleep(0.2)
    dead.close()  # its JoinGroup is parked; the broker must cope
    tap.is_(heartbeat(c, "wire-g", 2, mid), 27, "the leader hears REBALANCE_IN_PROGRESS")
    j = join(c, "wire-g", mid, rebalance=1500)
    tap.is_((j["error"], j["gen"], len(j["members"])), (0, 3, 2),
            "the rejoin completes generation 3 with the vanished member in it")
    sync(c, "wire-g", 3, mid, assignments=[(mid, b"A3")])
    # The vanished member never sends SyncGroup: removed after 1.5 s.
    codes = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        codes.append(heartbeat(c, "wire-g", 3, mid))
        if codes[-1] == 27:
            break
        time.sleep(0.2)
    tap.is_(codes[-1], 27, "the member without SyncGroup is removed and a rebalance starts")
    j = join(c, "wire-g", mid, rebalance=1500)
    tap.is_((j["error"], j["gen"], [m[0] for m in j["members"]]), (0, 4, [mid]),
            "generation 4 has only the live member")
    sync(c, "wire-g", 4, mid, assignments=[(mid, b"A4")])

with tap.section("static members (KIP-345, KIP-814)", cases=6, timeout=30):
    j = join(c, "wire-s", "", instance="box-1")
    tap.is_((j["error"], j["gen"]), (0, 1), "a static member joins without MEMBER_ID_REQUIRED")
    old = j["member"]
    sync(c, "wire-s", 1, old, instance="box-1", assignments=[(old, b"S1")])
    c2 = Conn()
    j = join(c2, "wire-s", "", instance="box-1")
    new = j["member"]
    tap.is_((j["error"], j["gen"], j["leader"], j["skip"], [m[0] for m in j["members"]]),
            (0, 1, new, 1, [new]),
            "its restart keeps generation 1; v9 tells the leader to skip the assignment")
    tap.ok(new != old, "the restarted instance has a new member id")
    tap.is_(heartbeat(c, "wire-s", 1, old, instance="box-1"), 82,
            "the old incarnation is fenced: FENCED_INSTANCE_ID")
    s = sync(c2, "wire-s", 1, new, instance="box-1")
    tap.is_((s["error"], s["assignment"]), (0, b"S1"), "the new incarnation keeps the assignment")
    tap.is_(heartbeat(c2, "wire-s", 1, new, instance="box-1"), 0, "and heartbeats normally")
    c2.close()

with tap.section("leave and delete (LeaveGroup v5, DeleteGroups v2)", cases=9, timeout=30):
    body = cs("wire-g") + ca([(mid, None, "bye"), ("nope", None, None), ("", "ghost-box", None)],
                             lambda m: cs(m[0]) + cs(m[1]) + cs(m[2]) + TAGS) + TAGS
    r = c.call(13, 5, body)
    r.i32()
    top = r.i16()

    def lm(x):
        v = (x.cs(), x.cs(), x.i16())
        x.tags()
        return v

    tap.is_((top, r.ca(lm)), (0, [(mid, None, 0), ("nope", None, 25), ("", "ghost-box", 25)]),
            "LeaveGroup v5 batch: per-member results")
    d = describe(c, ["wire-g"])[0]
    tap.is_((d["state"], d["members"]), ("Empty", []), "the group is Empty")
    body = s16("wire-g") + struct.pack(">i", 1) + s16(TOPIC) + struct.pack(">ii", 1, 1)
    r = c.call(47, 0, body, flexible=False)
    err, _ = r.i16(), r.i32()
    parts = r.arr(lambda x: (x.s16(), x.arr(lambda y: (y.i32(), y.i16()))))
    tap.is_((err, parts), (0, [(TOPIC, [(1, 0)])]), "OffsetDelete v0 of an Empty group's offset")
    body = ca([("wire-g", None, -1, [(TOPIC, [0, 1])])],
              lambda g: cs(g[0]) + cs(g[1]) + struct.pack(">i", g[2]) + ca(g[3], topics_enc) + TAGS) + b"\x00" + TAGS
    r = c.call(9, 9, body)
    r.i32()
    tap.is_(r.ca(of_group), [("wire-g", [(TOPIC, [(0, 42, 3, "meta", 0), (1, -1, -1, "", 0)])], 0)],
            "partition 1's offset is gone, partition 0's kept")

    def dg(names):
        r = c.call(42, 2, ca(names, cs) + TAGS)
        r.i32()

        def res(x):
            v = (x.cs(), x.i16())
            x.tags()
            return v

        return r.ca(res)

    tap.is_(dg(["wire-s"]), [("wire-s", 68)], "DeleteGroups v2 of a group with members: NON_EMPTY_GROUP")
    tap.is_(dg(["wire-g", "never"]), [("wire-g", 0), ("never", 69)],
            "DeleteGroups v2: deleted, and GROUP_ID_NOT_FOUND")
    d = describe(c, ["wire-g"])[0]
    tap.is_(d["state"], "Dead", "the deleted group is gone")
    err, gl = list_groups(c, [], [])
    tap.ok(err == 0 and not any(g[0] == "wire-g" for g in gl) and any(g[0] == "wire-s" for g in gl),
           "ListGroups no longer lists it", "groups: %r" % (gl,))
    tap.ok(broker.alive(), "the broker is alive")

c.close()
tap.is_(broker.stop(), 0, "broker stops cleanly")
tap.done()
