"""fnlib.py: helpers for the stream-function integration tests (11xx).

Golden cases (tests/functions/<case>/: query.sql, options, input.jsonl,
expected.jsonl) are produced into a real topic with confluent-kafka and
the function's output topics are read back and compared with the
expected rows: key, value (both as JSON when they parse), timestamp and
partition (Kafka's murmur2 partitioner for keyed results, partition -1 in
expected.jsonl), plus headers for dead-lettered records.
"""

import json
import os
import time

import harness

SRC = os.environ.get("RN_TOP_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "..", "..")


def murmur2(data):
    """Kafka's murmur2 (Utils.murmur2) as an unsigned 32-bit value."""
    m = 0x5bd1e995
    h = (0x9747b28c ^ len(data)) & 0xffffffff
    n4 = len(data) // 4
    for i in range(n4):
        k = int.from_bytes(data[i * 4:i * 4 + 4], "little")
        k = (k * m) & 0xffffffff
        k ^= k >> 24
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    t = data[n4 * 4:]
    r = len(data) & 3
    if r == 3:
        h ^= t[2] << 16
    if r >= 2:
        h ^= t[1] << 8
    if r >= 1:
        h ^= t[0]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return h


def kafka_partition(key, n):
    return (murmur2(key) & 0x7fffffff) % n


def load_case(name):
    d = os.path.join(SRC, "tests", "functions", name)
    with open(os.path.join(d, "query.sql")) as f:
        sql = f.read()
    opts = {}
    p = os.path.join(d, "options")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    opts[k.strip()] = v.strip()
    with open(os.path.join(d, "input.jsonl")) as f:
        inp = [json.loads(line) for line in f if line.strip() and not line.startswith("#")]
    exp, stats = [], None
    with open(os.path.join(d, "expected.jsonl")) as f:
        for line in f:
            if not line.strip():
                continue
            j = json.loads(line)
            if "stats" in j:
                stats = j["stats"]
            else:
                exp.append(j)
    return sql, opts, inp, exp, stats


def to_bytes(v):
    """A golden input key/value: a JSON string is the raw text, anything
    else its compact JSON; null stays None."""
    if v is None:
        return None
    if isinstance(v, str):
        return v.encode()
    return json.dumps(v, separators=(",", ":")).encode()


def produce_rows(b, topic, rows, one_per_batch=False):
    """Produces golden input rows (partition, timestamp, key, value); with
    one_per_batch every record is its own batch (a task sees the watermark
    from before each batch, as the golden runner feeds them)."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": b.bootstrap, "broker.address.family": "v4",
                  "linger.ms": 5, "enable.idempotence": False})
    errs = []

    def cb(err, msg):
        if err is not None:
            errs.append(str(err))

    for r in rows:
        kw = {"key": to_bytes(r.get("key")), "value": to_bytes(r.get("value")),
              "partition": r.get("partition", 0), "on_delivery": cb}
        if r.get("timestamp") is not None:
            kw["timestamp"] = r["timestamp"]
        if r.get("headers"):
            kw["headers"] = r["headers"]
        p.produce(topic, **kw)
        if one_per_batch:
            p.flush(30)
    left = p.flush(60)
    return errs if not left else errs + ["%d records not delivered" % left]


def parse(v):
    """A key or value as the golden files write it: a JSON object when the
    bytes are one, else the text (None for null)."""
    if v is None:
        return None
    try:
        j = json.loads(v)
        if isinstance(j, dict):
            return j
    except ValueError:
        pass
    return v.decode("utf-8", "replace")


# Consumers' isolation level for read_topic(). Functions write their
# outputs in transactions committed at each checkpoint (delivery =
# exactly-once, the default): read_committed sees them only then. A test
# without crashes may read read_uncommitted to see them at once.
ISOLATION = "read_committed"


def read_topic(b, topic, nparts, timeout=60, isolation=None):
    """Every record of topic as dicts {partition, offset, timestamp, key,
    value, headers} (key/value parsed as JSON when they parse)."""
    msgs, errors, complete = harness.ck_read_all(
        {"bootstrap.servers": b.bootstrap, "broker.address.family": "v4",
         "isolation.level": isolation or ISOLATION}, topic, nparts, timeout=timeout)
    out = []
    for m in msgs:
        out.append({"partition": m.partition(), "offset": m.offset(),
                    "timestamp": m.timestamp()[1], "key": parse(m.key()),
                    "value": parse(m.value()),
                    "headers": [(k, v.decode() if v is not None else None)
                                for k, v in (m.headers() or [])]})
    out.sort(key=lambda r: (r["partition"], r["offset"]))
    return out, errors, complete


def canon(x):
    return json.dumps(x, sort_keys=True, separators=(",", ":"))


def expected_rows(exp, kind, nparts):
    """Expected rows of one output kind ("out", "late", "dlq") as
    comparable tuples (partition, timestamp, key, value)."""
    rows = []
    for e in exp:
        if e["topic"] != kind:
            continue
        part = e["partition"]
        if part == -1:
            key = e["key"]
            part = kafka_partition(to_bytes(key), nparts) if key is not None else 0
        rows.append((part, e["timestamp"], canon(e["key"]), canon(e["value"])))
    return sorted(rows)


def got_rows(recs):
    return sorted((r["partition"], r["timestamp"], canon(r["key"]), canon(r["value"]))
                  for r in recs)


def wait_fn(b, call, name, pred, timeout=60):
    """Polls GET /api/v1/functions/<name> until pred(body) holds; returns
    the last body (or None)."""
    last = [None]

    def probe():
        st, _, body = call(b, "GET", "/api/v1/functions/" + name)
        last[0] = body if st == 200 else None
        return st == 200 and pred(body)

    harness.wait_until(probe, timeout, 0.1)
    return last[0]


def create_topic(b, call, name, parts):
    st, _, body = call(b, "POST", "/api/v1/topics", {"name": name, "partitions": parts})
    return st, body


def now_ms():
    return int(time.time() * 1000)
