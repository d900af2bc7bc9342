"""0720-admin-wire: the admin APIs the installed clients do not send, and
the newest (flexible) versions of those they do, spoken on a raw socket.

Every request and response is encoded here by hand from the Kafka 3.8
message specs (classic and KIP-482 compact forms), independently of
runnel's generated codecs:

  IncrementalAlterConfigs v0/v1: SET / DELETE / APPEND / SUBTRACT on topic
    and broker (per-broker and cluster-default) resources, validate_only,
    Kafka's INVALID_CONFIG / INVALID_REQUEST cases, and two pipelined
    changes of one topic that must both survive;
  DescribeConfigs v0/v4: sources and synonyms in order of precedence
    (DYNAMIC_TOPIC 1, DYNAMIC_BROKER 2, DYNAMIC_DEFAULT_BROKER 3,
    STATIC_BROKER 4, DEFAULT 5), documentation, the cluster-default
    resource listing only dynamic defaults;
  AlterConfigs v0/v2 (the whole set is replaced), CreatePartitions v2/v3,
  DeleteRecords v0/v2, DescribeCluster v0/v1, DescribeLogDirs v0-v4,
  OffsetForLeaderEpoch v0-v4 (the Java consumer's check after a reset),
  DescribeTopicPartitions v0 (pagination with cursors);

then a restart that keeps every change, and kcat -L.
"""

import os
import shutil
import socket
import struct
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

tap = harness.Tap(timeout=240)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

NONE, OUT_OF_RANGE, UNKNOWN_TOPIC, INVALID_TOPIC = 0, 1, 3, 17
INVALID_PARTITIONS, INVALID_ASSIGNMENT, INVALID_CONFIG = 37, 39, 40
INVALID_REQUEST, POLICY_VIOLATION, FENCED_EPOCH, UNKNOWN_EPOCH = 42, 44, 74, 75
MISMATCHED_ENDPOINT = 114
TOPIC, BROKER = 2, 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3

tap.plan(96)
STATIC_RETENTION_BYTES = "1000000000"
broker = harness.Broker(tap, advertise=True, args=[
    "--set", "http.listener=",  # no HTTP server: its port may be taken
    "--set", "log.retention.bytes=" + STATIC_RETENTION_BYTES,
    "--set", "auto.create.topics.enable=true"])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")

# ---- encoding (classic and compact forms) ----------------------------------


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


class W:
    def __init__(self, flex):
        self.flex, self.b = flex, bytearray()

    def i8(self, v):
        self.b += struct.pack(">b", v)
        return self

    def i16(self, v):
        self.b += struct.pack(">h", v)
        return self

    def i32(self, v):
        self.b += struct.pack(">i", v)
        return self

    def i64(self, v):
        self.b += struct.pack(">q", v)
        return self

    def bool(self, v):
        return self.i8(1 if v else 0)

    def str(self, s):  # nullable string
        if s is None:
            self.b += b"\x00" if self.flex else struct.pack(">h", -1)
            return self
        e = s.encode()
        self.b += (uvarint(len(e) + 1) if self.flex else struct.pack(">h", len(e))) + e
        return self

    def arr(self, items, fn):  # nullable array
        if items is None:
            self.b += b"\x00" if self.flex else struct.pack(">i", -1)
            return self
        self.b += uvarint(len(items) + 1) if self.flex else struct.pack(">i", len(items))
        for x in items:
            fn(self, x)
        return self

    def tags(self):
        if self.flex:
            self.b += b"\x00"
        return self


class R:
    def __init__(self, b, flex):
        self.b, self.p, self.flex = b, 0, flex

    def take(self, n):
        v = self.b[self.p:self.p + n]
        if len(v) != n:
            raise ValueError("response truncated at byte %d" % self.p)
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

    def bool(self):
        return self.take(1)[0] != 0

    def uv(self):
        n = shift = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def str(self):
        if self.flex:
            n = self.uv()
            return None if n == 0 else self.take(n - 1).decode()
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def uuid(self):
        return self.take(16)

    def arr(self, fn):
        n = self.uv() - 1 if self.flex else self.i32()
        return None if n < 0 else [fn(self) for _ in range(n)]

    def tags(self):
        if self.flex:
            for _ in range(self.uv()):
                self.uv()
                self.take(self.uv())

    def done(self):
        if self.p != len(self.b):
            raise ValueError("%d bytes left after the response" % (len(self.b) - self.p))


# ---- connection ------------------------------------------------------------

class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", broker.port), timeout=15)
        self.corr = 0

    def frame(self, key, ver, flex, body):
        """(correlation id, the request's bytes with its size prefix)."""
        self.corr += 1
        h = struct.pack(">hhih", key, ver, self.corr, 7) + b"rn-wire"
        if flex:
            h += b"\x00"
        p = h + bytes(body)
        return self.corr, struct.pack(">i", len(p)) + p

    def send(self, key, ver, flex, body):
        corr, data = self.frame(key, ver, flex, body)
        self.s.sendall(data)
        return corr

    def recv(self, corr, flex):
        def exact(n):
            buf = b""
            while len(buf) < n:
                c = self.s.recv(n - len(buf))
                if not c:
                    raise EOFError("connection closed")
                buf += c
            return buf
        (n,) = struct.unpack(">i", exact(4))
        r = R(exact(n), flex)
        got = r.i32()
        if got != corr:
            raise ValueError("correlation id %d, expected %d" % (got, corr))
        r.tags()
        return r

    def call(self, key, ver, flex, body):
        return self.recv(self.send(key, ver, flex, body), flex)

    def close(self):
        self.s.close()


conn = Conn()


# ---- APIs --------------------------------------------------------------------

def alter_result(r):
    r.i32()

    def res(r):
        v = (r.i16(), r.str(), r.i8(), r.str())
        r.tags()
        return v
    out = r.arr(res)
    r.tags()
    r.done()
    return [(code, typ, name, msg) for code, msg, typ, name in out]


def incremental(resources, ver=1, validate=False, send_only=False):
    """resources: [(type, name, [(config, op, value)])] -> [(code, type, name, msg)]."""
    flex = ver >= 1
    w = W(flex)

    def cfg(w, c):
        w.str(c[0]).i8(c[1]).str(c[2]).tags()

    def res(w, x):
        w.i8(x[0]).str(x[1]).arr(x[2], cfg).tags()
    w.arr(resources, res).bool(validate).tags()
    if send_only:
        return conn.frame(44, ver, flex, w.b)
    return alter_result(conn.recv(conn.send(44, ver, flex, w.b), flex))


def alter(resources, ver=2, validate=False):
    """Legacy AlterConfigs: resources [(type, name, [(config, value)])]."""
    flex = ver >= 2
    w = W(flex)

    def cfg(w, c):
        w.str(c[0]).str(c[1]).tags()

    def res(w, x):
        w.i8(x[0]).str(x[1]).arr(x[2], cfg).tags()
    w.arr(resources, res).bool(validate).tags()
    return alter_result(conn.call(33, ver, flex, w.b))


def describe(typ, name, keys=None, ver=4, synonyms=True, docs=True):
    """-> (code, {name: dict(value, read_only, default, source, sensitive, synonyms, type, doc)})."""
    flex = ver >= 4
    w = W(flex)

    def res(w, x):
        w.i8(x[0]).str(x[1]).arr(x[2], lambda w, k: w.str(k)).tags()
    w.arr([(typ, name, keys)], res)
    if ver >= 1:
        w.bool(synonyms)
    if ver >= 3:
        w.bool(docs)
    w.tags()
    r = conn.call(32, ver, flex, w.b)
    r.i32()

    def syn(r):
        v = (r.str(), r.str(), r.i8())
        r.tags()
        return v

    def entry(r):
        e = {"name": r.str(), "value": r.str(), "read_only": r.bool()}
        if ver == 0:
            e["default"] = r.bool()
        else:
            e["source"] = r.i8()
        e["sensitive"] = r.bool()
        if ver >= 1:
            e["synonyms"] = r.arr(syn)
        if ver >= 3:
            e["type"] = r.i8()
            e["doc"] = r.str()
        r.tags()
        return e

    def result(r):
        code, _msg, _t, _n = r.i16(), r.str(), r.i8(), r.str()
        es = r.arr(entry)
        r.tags()
        return code, {e["name"]: e for e in es or []}
    out = r.arr(result)
    r.tags()
    r.done()
    return out[0]


def cfgval(typ, name, key):
    code, es = describe(typ, name, [key])
    e = es.get(key)
    return (e["value"], e["source"]) if code == 0 and e else (None, code)


def create_partitions(topics, ver=3, validate=False, send_only=False):
    """topics: [(name, count, assignments or None)] -> [(name, code)]."""
    flex = ver >= 2
    w = W(flex)

    def asg(w, a):
        w.arr(a, lambda w, i: w.i32(i)).tags()

    def top(w, t):
        w.str(t[0]).i32(t[1]).arr(t[2], asg).tags()
    w.arr(topics, top).i32(10000).bool(validate).tags()
    if send_only:
        return conn.frame(37, ver, flex, w.b)
    return create_partitions_result(conn.call(37, ver, flex, w.b), flex)


def create_partitions_result(r, flex):
    r.i32()

    def res(r):
        v = (r.str(), r.i16(), r.str())
        r.tags()
        return v
    out = r.arr(res)
    r.tags()
    r.done()
    return [(n, c) for n, c, _ in out]


def delete_records(topic, parts, ver=2):
    """parts: [(partition, offset)] -> [(partition, low watermark, code)]."""
    flex = ver >= 2
    w = W(flex)

    def part(w, p):
        w.i32(p[0]).i64(p[1]).tags()
    w.arr([(topic, parts)], lambda w, t: w.str(t[0]).arr(t[1], part).tags()).i32(10000).tags()
    r = conn.call(21, ver, flex, w.b)
    r.i32()

    def pres(r):
        v = (r.i32(), r.i64(), r.i16())
        r.tags()
        return v

    def tres(r):
        _name, ps = r.str(), r.arr(pres)
        r.tags()
        return ps
    out = r.arr(tres)
    r.tags()
    r.done()
    return out[0]


def describe_cluster(ver, endpoint=1, ops=False):
    w = W(True).bool(ops)
    if ver >= 1:
        w.i8(endpoint)
    w.tags()
    r = conn.call(60, ver, True, w.b)
    d = {"throttle": r.i32(), "code": r.i16(), "msg": r.str()}
    if ver >= 1:
        d["endpoint"] = r.i8()
    d["cluster"] = r.str()
    d["controller"] = r.i32()

    def brk(r):
        v = (r.i32(), r.str(), r.i32(), r.str())
        r.tags()
        return v
    d["brokers"] = r.arr(brk)
    d["ops"] = r.i32()
    r.tags()
    r.done()
    return d


def describe_log_dirs(ver, topics):
    """topics: None (all) or [(topic, [partitions])] -> (top code, [dirs])."""
    flex = ver >= 2
    w = W(flex)
    w.arr(topics, lambda w, t: w.str(t[0]).arr(t[1], lambda w, p: w.i32(p)).tags()).tags()
    r = conn.call(35, ver, flex, w.b)
    r.i32()
    top = r.i16() if ver >= 3 else 0

    def part(r):
        v = {"p": r.i32(), "size": r.i64(), "lag": r.i64(), "future": r.bool()}
        r.tags()
        return v

    def topic(r):
        v = (r.str(), r.arr(part))
        r.tags()
        return v

    def res(r):
        d = {"code": r.i16(), "dir": r.str(), "topics": r.arr(topic)}
        if ver >= 4:
            d["total"], d["usable"] = r.i64(), r.i64()
        r.tags()
        return d
    out = r.arr(res)
    r.tags()
    r.done()
    return top, out


def offset_for_epoch(ver, topic, parts):
    """parts: [(partition, current epoch, epoch)] -> [(code, partition, epoch, end)]."""
    flex = ver >= 4
    w = W(flex)
    if ver >= 3:
        w.i32(-1)

    def part(w, p):
        w.i32(p[0])
        if ver >= 2:
            w.i32(p[1])
        w.i32(p[2]).tags()
    w.arr([(topic, parts)], lambda w, t: w.str(t[0]).arr(t[1], part).tags()).tags()
    r = conn.call(23, ver, flex, w.b)
    if ver >= 2:
        r.i32()

    def pres(r):
        code, p = r.i16(), r.i32()
        epoch = r.i32() if ver >= 1 else None
        end = r.i64()
        r.tags()
        return (code, p, epoch, end)

    def tres(r):
        _t, ps = r.str(), r.arr(pres)
        r.tags()
        return ps
    out = r.arr(tres)
    r.tags()
    r.done()
    return out[0]


def describe_topic_partitions(names, limit, cursor=None):
    w = W(True)
    w.arr(names, lambda w, n: w.str(n).tags()).i32(limit)
    if cursor is None:
        w.i8(-1)
    else:
        w.i8(1).str(cursor[0]).i32(cursor[1]).tags()
    w.tags()
    r = conn.call(75, 0, True, w.b)
    r.i32()

    def ints(r):
        return r.arr(lambda r: r.i32())

    def part(r):
        d = {"code": r.i16(), "p": r.i32(), "leader": r.i32(), "epoch": r.i32(),
             "replicas": ints(r), "isr": ints(r), "elr": ints(r), "last_elr": ints(r),
             "offline": ints(r)}
        r.tags()
        return d

    def topic(r):
        d = {"code": r.i16(), "name": r.str(), "id": r.uuid(), "internal": r.bool(),
             "parts": r.arr(part), "ops": r.i32()}
        r.tags()
        return d
    topics = r.arr(topic)
    cur = None
    if r.i8() >= 0:
        cur = (r.str(), r.i32())
        r.tags()
    r.tags()
    r.done()
    return topics, cur


def list_offsets(topic, partition, ts):
    w = W(False).i32(-1)
    w.arr([topic], lambda w, t: w.str(t).arr([partition], lambda w, p: w.i32(p).i64(ts)))
    r = conn.call(2, 1, False, w.b)
    res = r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    return res[0][1][0][3]


def api_versions():
    r = conn.call(18, 0, False, b"")
    code = r.i16()
    keys = r.arr(lambda r: (r.i16(), r.i16(), r.i16()))
    return code, {k: (lo, hi) for k, lo, hi in keys}


# ---- set-up -------------------------------------------------------------------

admin = AdminClient({"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"})
specs = [NewTopic("w-a", 3, 1), NewTopic("w-b", 1, 1), NewTopic("w-c", 5, 1),
         NewTopic("w-compact", 1, 1, config={"cleanup.policy": "compact"})]
errs = []
for t, f in admin.create_topics(specs, operation_timeout=10).items():
    try:
        f.result()
    except Exception as e:  # noqa: BLE001
        errs.append("%s: %s" % (t, e))
tap.is_(errs, [], "topics w-a, w-b, w-c, w-compact created")
conf = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}
from confluent_kafka import Producer  # noqa: E402
p = Producer(conf)
for i in range(20):
    p.produce("w-a", value=b"v%d" % i, partition=0)
    p.produce("w-compact", key=b"k", value=b"v%d" % i, partition=0)
tap.is_(p.flush(30), 0, "20 records each produced to w-a [0] and w-compact [0]")

with tap.section("ApiVersions", 1, 30):
    code, keys = api_versions()
    want = {21: (0, 2), 23: (0, 4), 33: (0, 2), 35: (0, 4), 37: (0, 3), 44: (0, 1),
            60: (0, 1), 75: (0, 0)}
    tap.is_({k: keys.get(k) for k in want}, want, "advertised admin API version ranges")

# ---- IncrementalAlterConfigs --------------------------------------------------------

with tap.section("IncrementalAlterConfigs", 27, 60):
    r = incremental([(TOPIC, "w-a", [("retention.ms", SET, "1000"),
                                     ("cleanup.policy", APPEND, "compact")])])
    tap.is_([x[0] for x in r], [NONE], "v1 SET retention.ms + APPEND cleanup.policy")
    tap.is_(cfgval(TOPIC, "w-a", "retention.ms"), ("1000", 1), "retention.ms = 1000 (DYNAMIC_TOPIC)")
    tap.is_(cfgval(TOPIC, "w-a", "cleanup.policy"), ("delete,compact", 1),
            "APPEND compact to the inherited delete")
    r = incremental([(TOPIC, "w-a", [("cleanup.policy", SUBTRACT, "delete")])], ver=0)
    tap.is_([x[0] for x in r], [NONE], "v0 SUBTRACT cleanup.policy delete")
    tap.is_(cfgval(TOPIC, "w-a", "cleanup.policy"), ("compact", 1), "cleanup.policy = compact")
    r = incremental([(TOPIC, "w-a", [("cleanup.policy", APPEND, "compact,delete")])])
    tap.is_(cfgval(TOPIC, "w-a", "cleanup.policy"), ("compact,delete", 1),
            "APPEND skips items already there")
    r = incremental([(TOPIC, "w-a", [("retention.ms", DELETE, None)])])
    tap.is_([x[0] for x in r], [NONE], "DELETE retention.ms")
    tap.is_(cfgval(TOPIC, "w-a", "retention.ms"), ("604800000", 5), "retention.ms back to the default")
    r = incremental([(TOPIC, "w-a", [("retention.ms", APPEND, "5")])])
    tap.is_(r[0][0], INVALID_CONFIG, "APPEND to a non-list config is INVALID_CONFIG")
    r = incremental([(TOPIC, "w-a", [("retention.ms", SET, "5"), ("retention.ms", SET, "6")])])
    tap.is_(r[0][0], INVALID_REQUEST, "duplicate keys are INVALID_REQUEST")
    r = incremental([(TOPIC, "w-a", [("retention.ms", SET, None)])])
    tap.is_(r[0][0], INVALID_REQUEST, "SET with a null value is INVALID_REQUEST")
    r = incremental([(TOPIC, "w-a", [("retention.ms", 9, "5")])])
    tap.is_(r[0][0], INVALID_REQUEST, "an unknown operation is INVALID_REQUEST")
    r = incremental([(TOPIC, "w-nope", [("retention.ms", SET, "5")])])
    tap.is_(r[0][0], UNKNOWN_TOPIC, "an unknown topic is UNKNOWN_TOPIC_OR_PARTITION")
    r = incremental([(TOPIC, "w-a", [("no.such", SET, "5")])])
    tap.is_(r[0][0], INVALID_CONFIG, "an unknown topic config is INVALID_CONFIG")
    r = incremental([(TOPIC, "w-a", [("no.such", DELETE, None)])])
    tap.is_(r[0][0], NONE, "DELETE of an unknown name changes nothing")
    r = incremental([(TOPIC, "w-a", [("retention.ms", SET, "soon")])])
    tap.is_(r[0][0], INVALID_CONFIG, "a bad topic config value is INVALID_CONFIG")
    r = incremental([(TOPIC, "w-b", [("retention.ms", SET, "5")]),
                     (TOPIC, "w-b", [("segment.ms", SET, "5")])])
    tap.is_([x[0] for x in r], [INVALID_REQUEST, INVALID_REQUEST],
            "a resource twice in one request is INVALID_REQUEST for both")
    r = incremental([(TOPIC, "w-b", [("retention.ms", SET, "5")])], validate=True)
    tap.is_((r[0][0], cfgval(TOPIC, "w-b", "retention.ms")[1]), (NONE, 5),
            "validate_only accepts and changes nothing")
    # Two pipelined changes of one topic, sent in one segment so that the
    # second arrives while the first is still being made durable: the
    # second must start from the first.
    c1, f1 = incremental([(TOPIC, "w-b", [("retention.ms", SET, "123")])], send_only=True)
    c2, f2 = incremental([(TOPIC, "w-b", [("segment.ms", SET, "456")])], send_only=True)
    conn.s.sendall(f1 + f2)
    r1, r2 = alter_result(conn.recv(c1, True)), alter_result(conn.recv(c2, True))
    tap.is_((r1[0][0], r2[0][0], cfgval(TOPIC, "w-b", "retention.ms"),
             cfgval(TOPIC, "w-b", "segment.ms")), (NONE, NONE, ("123", 1), ("456", 1)),
            "two pipelined incremental changes both apply")
    r = incremental([(BROKER, "1", [("log.retention.ms", SET, "111")]),
                     (BROKER, "", [("log.retention.ms", SET, "222"), ("num.partitions", SET, "2"),
                                   ("log.cleanup.policy", APPEND, "compact")])])
    tap.is_([x[0] for x in r], [NONE, NONE], "broker configs for this broker and the cluster default")
    tap.is_(cfgval(BROKER, "1", "log.retention.ms"), ("111", 2), "broker 1: DYNAMIC_BROKER_CONFIG")
    tap.is_(cfgval(BROKER, "1", "log.cleanup.policy"), ("delete,compact", 3),
            "APPEND at the cluster default: DYNAMIC_DEFAULT_BROKER_CONFIG")
    r = incremental([(BROKER, "1", [("node.id", SET, "3")])])
    tap.is_(r[0][0], INVALID_REQUEST, "a read-only broker config is INVALID_REQUEST")
    r = incremental([(BROKER, "x", [("num.partitions", SET, "3")]),
                     (BROKER, "7", [("num.partitions", SET, "3")])])
    tap.is_([x[0] for x in r], [INVALID_REQUEST] * 2, "bad and foreign broker ids are INVALID_REQUEST")
    r = incremental([(BROKER, "", [("num.partitions", APPEND, "3")])])
    tap.is_(r[0][0], INVALID_CONFIG, "APPEND to a non-list broker config is INVALID_CONFIG")
    r = incremental([(BROKER, "", [("num.partitions", SET, "0")])])
    tap.is_(r[0][0], INVALID_REQUEST, "an invalid broker value is INVALID_REQUEST")
    r = incremental([(3, "x", [("a", SET, "b")]), (8, "1", [("root", SET, "DEBUG")])])
    tap.is_([x[0] for x in r], [INVALID_REQUEST, INVALID_REQUEST],
            "unknown and broker-logger resources are INVALID_REQUEST")

# ---- DescribeConfigs ---------------------------------------------------------------------

with tap.section("DescribeConfigs", 10, 60):
    code, es = describe(TOPIC, "w-a", ["retention.bytes", "retention.ms"])
    e = es["retention.bytes"]
    tap.is_((code, e["value"], e["source"], e["type"], e["doc"] is not None),
            (NONE, STATIC_RETENTION_BYTES, 4, 5, True),
            "retention.bytes inherits the static broker value (type LONG, documented)")
    tap.is_([(s[0], s[1], s[2]) for s in e["synonyms"]],
            [("log.retention.bytes", STATIC_RETENTION_BYTES, 4), ("log.retention.bytes", "-1", 5)],
            "its synonyms: static, then default")
    e = es["retention.ms"]
    tap.is_((e["value"], e["source"], [s[2] for s in e["synonyms"]]), ("111", 2, [2, 3, 5]),
            "retention.ms from this broker's dynamic config, synonyms 2, 3, 5")
    incremental([(TOPIC, "w-a", [("retention.ms", SET, "9")])])
    code, es = describe(TOPIC, "w-a", ["retention.ms"])
    e = es["retention.ms"]
    tap.is_((e["value"], [(s[0], s[1], s[2]) for s in e["synonyms"]]),
            ("9", [("retention.ms", "9", 1), ("log.retention.ms", "111", 2),
                   ("log.retention.ms", "222", 3), ("log.retention.ms", "604800000", 5)]),
            "all four layers in order of precedence")
    code, es = describe(BROKER, "1", ["log.retention.ms", "node.id"])
    tap.is_((es["log.retention.ms"]["read_only"], es["node.id"]["read_only"]), (False, True),
            "node.id is read-only, log.retention.ms is not")
    code, es = describe(BROKER, "", None)
    tap.is_(sorted((n, e["value"], e["source"]) for n, e in es.items()),
            [("log.cleanup.policy", "delete,compact", 3), ("log.retention.ms", "222", 3),
             ("num.partitions", "2", 3)], "the cluster-default resource lists its dynamic configs")
    code, es = describe(BROKER, "1", ["log.retention.bytes", "num.partitions"], ver=0)
    tap.is_((es["log.retention.bytes"]["default"], es["num.partitions"]["default"]), (False, False),
            "v0 IsDefault is false for static and dynamic values")
    code, es = describe(TOPIC, "w-a", None, ver=2, synonyms=False)
    tap.is_((code, len(es) >= 20, es["retention.ms"]["synonyms"]), (NONE, True, []),
            "v2 without synonyms lists every topic config")
    incremental([(BROKER, "1", [("log.retention.ms", DELETE, None)])])
    tap.is_(cfgval(BROKER, "1", "log.retention.ms"), ("222", 3),
            "deleting this broker's value falls back to the cluster default")
    tap.is_(cfgval(TOPIC, "w-c", "retention.ms"), ("222", 3), "and topics inherit that")

# ---- AlterConfigs ------------------------------------------------------------------------

with tap.section("AlterConfigs", 5, 60):
    r = alter([(TOPIC, "w-c", [("segment.ms", "1000"), ("retention.ms", "2000")])], ver=2)
    tap.is_([x[0] for x in r], [NONE], "v2 sets two overrides")
    r = alter([(TOPIC, "w-c", [("max.message.bytes", "3000")])], ver=0)
    tap.is_([x[0] for x in r], [NONE], "v0 sets another one")
    tap.is_((cfgval(TOPIC, "w-c", "segment.ms")[1], cfgval(TOPIC, "w-c", "max.message.bytes")),
            (5, ("3000", 1)), "the whole set is replaced")
    r = alter([(TOPIC, "w-c", [("segment.ms", None)])], ver=1)
    tap.is_(r[0][0], INVALID_REQUEST, "a null value is INVALID_REQUEST")
    r = alter([(BROKER, "1", [("log.segment.bytes", "x")])], ver=2)
    tap.is_(r[0][0], INVALID_REQUEST, "a bad broker value is INVALID_REQUEST")

# ---- CreatePartitions ------------------------------------------------------------------------

with tap.section("CreatePartitions", 9, 60):
    tap.is_(create_partitions([("w-b", 3, None)], ver=3), [("w-b", NONE)], "v3: w-b 1 -> 3")
    tap.is_(create_partitions([("w-b", 5, [[1], [1]])], ver=2), [("w-b", NONE)],
            "v2 with assignments: 3 -> 5")
    tap.is_(create_partitions([("w-b", 9, None)], ver=3, validate=True), [("w-b", NONE)],
            "validate_only 5 -> 9 accepted")
    tap.is_(create_partitions([("w-b", 6, [[1, 1]])], ver=3), [("w-b", INVALID_ASSIGNMENT)],
            "a partition with two replicas is INVALID_REPLICA_ASSIGNMENT")
    tap.is_(create_partitions([("w-b", 4, None)], ver=1), [("w-b", INVALID_PARTITIONS)],
            "4 < 5 is INVALID_PARTITIONS")
    tap.is_(create_partitions([("w-c", 6, None), ("w-c", 7, None)], ver=0),
            [("w-c", INVALID_REQUEST), ("w-c", INVALID_REQUEST)], "a duplicate topic is INVALID_REQUEST")
    topics, cur = describe_topic_partitions(["w-b"], 100)
    tap.is_([p["p"] for p in topics[0]["parts"]], [0, 1, 2, 3, 4], "w-b has partitions 0..4")
    # Two pipelined additions to one topic: the second counts from the first.
    c1, f1 = create_partitions([("w-compact", 2, None)], send_only=True)
    c2, f2 = create_partitions([("w-compact", 4, None)], send_only=True)
    conn.s.sendall(f1 + f2)
    r1 = create_partitions_result(conn.recv(c1, True), True)
    r2 = create_partitions_result(conn.recv(c2, True), True)
    tap.is_((r1, r2), ([("w-compact", NONE)], [("w-compact", NONE)]),
            "two pipelined CreatePartitions 1 -> 2 -> 4 both succeed")
    topics, cur = describe_topic_partitions(["w-compact"], 100)
    tap.is_([p["p"] for p in topics[0]["parts"]], [0, 1, 2, 3], "w-compact has partitions 0..3")

# ---- DeleteRecords ------------------------------------------------------------------------------

with tap.section("DeleteRecords", 6, 60):
    tap.is_(delete_records("w-a", [(0, 5)], ver=2), [(0, 5, NONE)], "v2: below 5")
    tap.is_(list_offsets("w-a", 0, -2), 5, "ListOffsets earliest is 5")
    tap.is_(delete_records("w-a", [(0, 21), (9, 1)], ver=1),
            [(0, -1, OUT_OF_RANGE), (9, -1, UNKNOWN_TOPIC)],
            "beyond the high watermark, and an unknown partition")
    tap.is_(delete_records("w-a", [(0, -1)], ver=0), [(0, 20, NONE)], "v0: -1 = the high watermark")
    tap.is_(delete_records("w-compact", [(0, 3)]), [(0, -1, POLICY_VIOLATION)],
            "a compacted topic is POLICY_VIOLATION")
    tap.is_(delete_records("w-nope", [(0, 3)]), [(0, -1, UNKNOWN_TOPIC)], "an unknown topic")

# ---- DescribeCluster --------------------------------------------------------------------------

with tap.section("DescribeCluster", 4, 30):
    d = describe_cluster(0, ops=True)
    tap.is_((d["code"], d["controller"], d["brokers"], d["ops"]),
            (NONE, 1, [(1, "127.0.0.1", broker.port, None)], 8096),
            "v0: this broker, its own controller, all operations")
    tap.ok(len(d["cluster"] or "") >= 16, "v0: a cluster id (%r)" % d["cluster"])
    d1 = describe_cluster(1)
    tap.is_((d1["code"], d1["endpoint"], d1["cluster"], d1["ops"]), (NONE, 1, d["cluster"], -2**31),
            "v1: broker endpoints, same cluster id")
    d1 = describe_cluster(1, endpoint=2)
    tap.is_((d1["code"], d1["brokers"]), (MISMATCHED_ENDPOINT, []),
            "v1: asking for controllers is MISMATCHED_ENDPOINT_TYPE")

# ---- DescribeLogDirs ----------------------------------------------------------------------------

with tap.section("DescribeLogDirs", 6, 30):
    real = os.path.realpath(broker.data_dir)
    top, dirs = describe_log_dirs(0, None)
    names = {t: ps for t, ps in dirs[0]["topics"]}
    tap.is_((len(dirs), dirs[0]["code"], dirs[0]["dir"]), (1, NONE, real), "v0: one log dir, the data dir")
    sizes = {p["p"]: p["size"] for p in names.get("w-a", [])}
    tap.ok(sorted(sizes) == [0, 1, 2] and sizes[0] > 0 and "__consumer_offsets" in names,
           "v0 lists every topic, w-a [0] has bytes (%r)" % sizes)
    top, dirs = describe_log_dirs(1, [("w-a", [0, 7]), ("w-nope", [0])])
    tap.is_([(t, [p["p"] for p in ps]) for t, ps in dirs[0]["topics"]], [("w-a", [0])],
            "v1 lists only partitions that exist")
    for ver in (2, 3):
        top, dirs = describe_log_dirs(ver, [("w-c", [1, 2])])
        tap.is_((top, [(t, [(p["p"], p["lag"], p["future"]) for p in ps]) for t, ps in dirs[0]["topics"]]),
                (NONE, [("w-c", [(1, 0, False), (2, 0, False)])]), "v%d (flexible)" % ver)
    top, dirs = describe_log_dirs(4, [("w-a", [0])])
    st = os.statvfs(broker.data_dir)
    total = st.f_blocks * st.f_frsize
    tap.ok(dirs[0]["total"] == total and 0 < dirs[0]["usable"] <= total,
           "v4: TotalBytes and UsableBytes from statvfs (%d, %d; %d)"
           % (dirs[0]["total"], dirs[0]["usable"], total))

# ---- OffsetForLeaderEpoch -----------------------------------------------------------------------

with tap.section("OffsetForLeaderEpoch", 5, 30):
    tap.is_(offset_for_epoch(0, "w-a", [(0, -1, 0)]), [(NONE, 0, None, 20)],
            "v0: epoch 0 ends at the high watermark")
    tap.is_(offset_for_epoch(1, "w-a", [(0, -1, 0), (1, -1, 0), (7, -1, 0)]),
            [(NONE, 0, 0, 20), (NONE, 1, 0, 0), (UNKNOWN_TOPIC, 7, -1, -1)],
            "v1: per partition, unknown partition")
    tap.is_(offset_for_epoch(2, "w-a", [(0, 0, 0), (0, 1, 0), (0, -5, 0), (0, 0, 3)]),
            [(NONE, 0, 0, 20), (UNKNOWN_EPOCH, 0, -1, -1), (FENCED_EPOCH, 0, -1, -1),
             (NONE, 0, -1, -1)],
            "v2: current epoch checked, an unknown epoch has no end offset")
    tap.is_(offset_for_epoch(3, "w-a", [(0, 0, 0)]), [(NONE, 0, 0, 20)], "v3 (replica id -1)")
    tap.is_(offset_for_epoch(4, "w-a", [(0, 0, 0), (0, -1, -1)]), [(NONE, 0, 0, 20), (NONE, 0, -1, -1)],
            "v4 (flexible)")

# ---- DescribeTopicPartitions ---------------------------------------------------------------------

with tap.section("DescribeTopicPartitions", 8, 30):
    want = ["zz-nope", "w-c", "w-a", "w-b"]
    topics, cur = describe_topic_partitions(want, 4)
    tap.is_(([(t["name"], t["code"], [p["p"] for p in t["parts"]]) for t in topics], cur),
            ([("w-a", NONE, [0, 1, 2]), ("w-b", NONE, [0])], ("w-b", 1)),
            "page 1: names in order, 4 partitions, cursor at w-b [1]")
    pages = [topics]
    while cur is not None and len(pages) < 10:
        topics, cur = describe_topic_partitions(want, 4, cur)
        pages.append(topics)
    got = {}
    for pg in pages:
        for t in pg:
            got.setdefault(t["name"], []).extend(p["p"] for p in t["parts"])
    tap.is_((len(pages), got), (4, {"w-a": [0, 1, 2], "w-b": [0, 1, 2, 3, 4],
                                    "w-c": [0, 1, 2, 3, 4], "zz-nope": []}),
            "the pages cover every partition once")
    tap.is_([t["code"] for t in pages[-1]], [NONE, UNKNOWN_TOPIC],
            "the last page ends with the unknown name")
    t = pages[0][0]
    p0 = t["parts"][0]
    tap.is_((t["internal"], t["id"] != bytes(16), t["ops"], p0["leader"], p0["epoch"],
             p0["replicas"], p0["isr"], p0["elr"], p0["last_elr"], p0["offline"]),
            (False, True, 3576, 1, 0, [1], [1], [], [], []), "topic and partition fields")
    topics, cur = describe_topic_partitions([], 2000, ("w-", 0))
    tap.is_(([t["name"] for t in topics], cur), (["w-a", "w-b", "w-c", "w-compact"], None),
            "all topics from a cursor name on")
    topics, cur = describe_topic_partitions([], 2000)
    names = [t["name"] for t in topics]
    co = [t for t in topics if t["name"] == "__consumer_offsets"]
    tap.ok(names == sorted(names) and co and co[0]["internal"] and len(co[0]["parts"]) >= 1
           and cur is None, "all topics in name order; __consumer_offsets is internal",
           "topics: %r, cursor %r" % ([(t["name"], t["code"], t["internal"], len(t["parts"]))
                                       for t in topics], cur))
    topics, cur = describe_topic_partitions(["w-a", "w-b"], 10, ("w-c", 0))
    tap.is_([t["code"] for t in topics], [INVALID_REQUEST, INVALID_REQUEST],
            "a cursor topic outside the list is INVALID_REQUEST")
    topics, cur = describe_topic_partitions(["bad name!"], 10)
    tap.is_([t["code"] for t in topics], [INVALID_TOPIC], "an invalid name is INVALID_TOPIC_EXCEPTION")

# ---- restart ---------------------------------------------------------------------------------------

with tap.section("restart", 12, 90):
    conn.close()
    tap.ok(broker.restart(), "broker restarts on the same data directory")
    conn = Conn()
    tap.is_(cfgval(TOPIC, "w-a", "retention.ms"), ("9", 1), "topic override kept")
    tap.is_(cfgval(TOPIC, "w-a", "cleanup.policy"), ("compact,delete", 1), "list override kept")
    tap.is_(cfgval(TOPIC, "w-c", "max.message.bytes"), ("3000", 1), "AlterConfigs set kept")
    tap.is_(cfgval(BROKER, "1", "log.retention.ms"), ("222", 3), "cluster-default value kept")
    tap.is_(cfgval(BROKER, "1", "num.partitions"), ("2", 3), "num.partitions default kept")
    topics, _ = describe_topic_partitions(["w-b"], 100)
    tap.is_(len(topics[0]["parts"]), 5, "w-b still has 5 partitions")
    tap.is_(list_offsets("w-a", 0, -2), 20, "w-a [0] still starts at 20")
    # Dynamic configs work after the restart: a new auto-created topic
    # gets the dynamic num.partitions.
    p = Producer(conf)
    p.produce("w-auto", value=b"x")
    p.flush(30)
    topics, _ = describe_topic_partitions(["w-auto"], 100)
    tap.is_(len(topics[0]["parts"]), 2, "an auto-created topic gets num.partitions = 2")
    incremental([(BROKER, "", [("log.retention.ms", DELETE, None)])])
    tap.is_(cfgval(BROKER, "1", "log.retention.ms"), ("604800000", 5),
            "with the dynamic values deleted the built-in default is back")
    kcat = shutil.which("kcat")
    if kcat:
        out = subprocess.run([kcat, "-L", "-b", broker.bootstrap, "-t", "w-b"], capture_output=True,
                             text=True, timeout=30).stdout
        tap.ok('topic "w-b" with 5 partitions' in out and "broker 1 at 127.0.0.1:%d" % broker.port in out,
               "kcat -L shows w-b with 5 partitions and broker 1", out)
    else:
        tap.skip(1, "kcat not installed")
    tap.is_(broker.stop(), 0, "broker stops cleanly")

conn.close()
tap.done()
