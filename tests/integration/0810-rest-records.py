"""0810-rest-records: browse, produce and live tail over the REST API.

Records produced through Kafka (confluent-kafka: JSON, binary, null and
text values, headers, timestamps, every compression codec) are read back
through GET records and compared field by field; paging with next_offset,
offset=-N, timestamp= (epoch ms and ISO-8601), filters on key, header and
JSON fields; parameter errors. Records produced through POST records are
read back with a Kafka consumer (bytes, headers, timestamps) and keyed
records land in the partition Kafka's murmur2 partitioner picks; keyless
records of one request share a partition; max.message.bytes is enforced.
The SSE tail delivers records produced through Kafka, honours filters,
partition + offset, Last-Event-ID, sends keep-alives, and ends with an
error event when the topic is deleted.
"""

import base64
import datetime
import json
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

lib = harness.load_httplib()

tap = harness.Tap(timeout=300)
ck = harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")

tap.plan(45)
b = lib.HttpBroker(tap)
if not tap.ok(b.start(), "broker starts with the HTTP server ready"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": b.bootstrap, "broker.address.family": "v4"}
call = lib.call
BASE_TS = int(time.time() * 1000) - 3600 * 1000


def create(name, parts, configs=None):
    body = {"name": name, "partitions": parts}
    if configs:
        body["configs"] = configs
    st, _, t = call(b, "POST", "/api/v1/topics", body)
    if st != 201:
        raise AssertionError("create %s: %d %r" % (name, st, t))


def produce(topic, recs, **conf):
    """recs: [(key, value, headers, ts)] -> delivery reports [(p, o)]."""
    reports, errors, left = harness.ck_produce(dict(COMMON, **conf), topic, recs)
    if errors or left:
        raise AssertionError("produce: %r (left %d)" % (errors, left))
    return reports


# ---- records produced through Kafka, read through REST ------------------------

with tap.section("browse what Kafka produced", cases=10, timeout=90):
    create("rec", 3)
    main = [(b"k%d" % i,
             json.dumps({"n": i, "kind": "even" if i % 2 == 0 else "odd", "amount": i * 10,
                         "tags": ["t%d" % (i % 3)]}).encode(),
             [("src", b"ck"), ("i", str(i).encode())], BASE_TS + i * 1000) for i in range(30)]
    extra = [(b"bin", b"\x00\xff\xfe\x01", None, BASE_TS + 30000),
             (b"tomb", None, None, BASE_TS + 31000),
             (b"txt", b"hello world", [("h", None)], BASE_TS + 32000)]
    sent = main + extra
    reports = produce("rec", sent, **{"partitioner": "murmur2_random"})
    codec_recs = {}
    for ci, codec in enumerate(("gzip", "snappy", "lz4", "zstd")):
        rs = [(("c-%s-%d" % (codec, j)).encode(), json.dumps({"codec": codec, "j": j}).encode(),
               None, BASE_TS + 40000 + ci * 10 + j) for j in range(5)]
        codec_recs[codec] = (rs, produce("rec", rs, **{"compression.type": codec,
                                                      "linger.ms": 50}))
    got = lib.records_all(b, "rec")
    total = len(sent) + 20
    tap.is_(len(got), total, "GET records returns every record (%d)" % total)
    by_key = {r["key"]: r for r in got}
    bad = []
    for (k, v, h, ts), (p, o) in zip(main, reports[:30]):
        r = by_key.get(k.decode())
        want = {"partition": p, "offset": o, "timestamp": ts, "timestamp_type": "CreateTime",
                "key": k.decode(), "key_format": "string", "value": json.loads(v),
                "value_format": "json", "headers": [{"key": hk, "value": hv.decode()} for hk, hv in h]}
        if r != want:
            bad.append((want, r))
    tap.ok(not bad, "JSON records: partition, offset, timestamp, key, value, headers all match",
           *bad[:2])
    r = by_key["bin"]
    tap.is_((r["value_format"], base64.b64decode(r["value"])), ("base64", b"\x00\xff\xfe\x01"),
            "a binary value comes back as base64")
    tap.is_((by_key["tomb"]["value"], by_key["tomb"]["value_format"]), (None, None),
            "a tombstone has a null value")
    tap.is_((by_key["txt"]["value"], by_key["txt"]["value_format"], by_key["txt"]["headers"]),
            ("hello world", "string", [{"key": "h", "value": None}]),
            "a text value is a string; a null header value is null")
    ok = all(by_key.get(k.decode(), {}).get("value") == json.loads(v)
             for rs, _ in codec_recs.values() for k, v, _, _ in rs)
    tap.ok(ok, "batches compressed with gzip, snappy, lz4 and zstd are decoded")
    st, _, page = call(b, "GET", "/api/v1/topics/rec/records?limit=1000")
    ts = [r["timestamp"] for r in page["records"]]
    tap.ok(ts == sorted(ts), "records of all partitions are merged by timestamp")
    part0 = sorted((r["offset"] for r in got if r["partition"] == 0))
    st, _, p1 = call(b, "GET", "/api/v1/topics/rec/records?partition=0&limit=5")
    st, _, p2 = call(b, "GET", "/api/v1/topics/rec/records?partition=0&limit=5&offset=%d"
                     % p1["partitions"][0]["next_offset"])
    tap.is_([r["offset"] for r in p1["records"] + p2["records"]], part0[:10],
            "paging with next_offset continues without gap or overlap")
    st, _, last = call(b, "GET", "/api/v1/topics/rec/records?partition=0&offset=-3")
    tap.is_([r["offset"] for r in last["records"]], part0[-3:], "offset=-3 gives the last three")
    cut = BASE_TS + 10000
    iso = datetime.datetime.fromtimestamp(cut / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    st, _, a = call(b, "GET", "/api/v1/topics/rec/records?limit=1000&timestamp=%d" % cut)
    st2, _, c = call(b, "GET", "/api/v1/topics/rec/records?limit=1000&timestamp=" + iso)
    want = sorted(r["key"] for r in got if r["timestamp"] >= cut)
    tap.ok(sorted(r["key"] for r in a["records"]) == want and
           sorted(r["key"] for r in c["records"]) == want,
           "timestamp= (epoch ms and ISO-8601) starts at the first record at or after it",
           "iso %s: %d vs %d records" % (iso, len(c.get("records", [])), len(want)))

with tap.section("filters and parameter errors", cases=9, timeout=60):
    def keys(flt, extra=""):
        import urllib.parse
        st, _, body = call(b, "GET", "/api/v1/topics/rec/records?limit=1000%s&filter=%s"
                           % (extra, urllib.parse.quote(flt)))
        if st != 200:
            return st, body
        return sorted(r["key"] for r in body["records"])
    tap.is_(keys('value.n >= 20 and value.kind = "even"'),
            sorted("k%d" % i for i in range(20, 30, 2)), "filter on JSON fields (typed)")
    tap.is_(keys('key = "k7" or key = "txt"'), ["k7", "txt"], "filter on the key")
    tap.is_(len(keys('header.src = "ck"')), 30, "filter on a header")
    tap.is_(keys('value.tags ~ "t1" and value.amount < 100'), ["k1", "k4", "k7"],
            "array membership and numeric comparison")
    tap.is_(keys("value = null"), ["tomb"], "value = null finds tombstones")
    st, _, e = call(b, "GET", "/api/v1/topics/rec/records?filter=value.n%20%3E%3E%202")
    tap.ok(st == 400 and e["error_code"] == "INVALID_FILTER" and "position" in e["message"],
           "a bad filter is 400 INVALID_FILTER naming the position", repr(e))
    errs = [call(b, "GET", "/api/v1/topics/rec/records?" + q)[0] for q in
            ("limit=0", "limit=5000", "offset=abc", "partition=-1", "timestamp=yesterday",
             "offset=1&timestamp=5")]
    tap.is_(errs, [400] * 6, "bad limit, offset, partition, timestamp are 400")
    st, _, e = call(b, "GET", "/api/v1/topics/rec/records?partition=7")
    tap.is_((st, e["error_code"]), (404, "UNKNOWN_TOPIC_OR_PARTITION"), "a missing partition is 404")
    st, _, e = call(b, "GET", "/api/v1/topics/none/records")
    tap.is_(st, 404, "a missing topic is 404")

# ---- records produced through REST, read through Kafka -------------------------------

with tap.section("produce through REST", cases=10, timeout=90):
    create("rec2", 4)
    body = {"records": [
        {"key": "a", "value": {"x": 1.5, "y": [1, 2], "p": 0.1}},
        {"key": "b", "value": "plain"},
        {"value": "AAEC", "value_format": "base64", "partition": 3},
        {"key": "c", "value": {"z": True}, "headers": {"h1": "v1", "h2": None}},
        {"key": "d", "value": 5, "headers": [{"key": "h", "value": "1"}, {"key": "h", "value": "2"}]},
        {"key": {"id": 7}, "value": None, "timestamp": 1700000000000},
    ]}
    st, _, res = call(b, "POST", "/api/v1/topics/rec2/records", body)
    tap.is_((st, len(res.get("offsets", []))), (200, 6), "POST records answers one offset per record")
    msgs, errors, complete = harness.ck_read_all(dict(COMMON), "rec2", 4, timeout=30)
    tap.ok(complete and not errors and len(msgs) == 6, "a Kafka consumer reads the 6 records",
           errors, len(msgs))
    at = {(m.partition(), m.offset()): m for m in msgs}
    m = [at.get((o["partition"], o["offset"])) for o in res["offsets"]]
    tap.ok(all(x is not None for x in m), "every answered (partition, offset) holds a record")
    tap.is_([x.value() for x in m], [b'{"x":1.5,"y":[1,2],"p":0.1}', b"plain", b"\x00\x01\x02",
                                     b'{"z":true}', b"5", None],
            "values: compact JSON (shortest reals), strings as text, base64 decoded, null")
    tap.is_([x.key() for x in m], [b"a", b"b", None, b"c", b"d", b'{"id":7}'], "keys")
    tap.is_((m[3].headers(), m[4].headers()), ([("h1", b"v1"), ("h2", None)],
                                               [("h", b"1"), ("h", b"2")]), "headers (object and array forms)")
    tap.is_((m[2].partition(), m[5].timestamp()[1]), (3, 1700000000000),
            "explicit partition and timestamp are kept")
    # Kafka's murmur2 partitioner (librdkafka murmur2_random = the Java default).
    keyed = [(b"a", b"1", None, None), (b"b", b"1", None, None), (b"c", b"1", None, None),
             (b"d", b"1", None, None), (b'{"id":7}', b"1", None, None)]
    kp = [p for p, _ in produce("rec2", keyed, partitioner="murmur2_random")]
    tap.is_([o["partition"] for i, o in enumerate(res["offsets"]) if i != 2], kp,
            "keyed records go where Kafka's murmur2 partitioner puts them")
    st, _, res = call(b, "POST", "/api/v1/topics/rec2/records",
                      [{"value": "x%d" % i} for i in range(5)])
    tap.is_(len({o["partition"] for o in res["offsets"]}), 1,
            "the keyless records of one request share a partition")
    create("small", 1, {"max.message.bytes": 200})
    errs = [call(b, "POST", path, bd)[0:3:2] for path, bd in (
        ("/api/v1/topics/small/records", {"value": "x" * 1000}),
        ("/api/v1/topics/none/records", {"value": "x"}),
        ("/api/v1/topics/rec2/records", {"value": "x", "partition": 99}),
        ("/api/v1/topics/rec2/records", {"value": "x", "colour": "red"}),
        ("/api/v1/topics/rec2/records", {"records": []}),
        ("/api/v1/topics/rec2/records", {"value": "!!", "value_format": "base64"}))]
    tap.is_([(s, e["error_code"]) for s, e in errs],
            [(413, "MESSAGE_TOO_LARGE"), (404, "UNKNOWN_TOPIC_OR_PARTITION"),
             (404, "UNKNOWN_TOPIC_OR_PARTITION"), (400, "BAD_REQUEST"), (400, "BAD_REQUEST"),
             (400, "BAD_REQUEST")], "max.message.bytes, unknown topic/partition, bad bodies")

# ---- live tail ------------------------------------------------------------------------

with tap.section("live tail", cases=14, timeout=120):
    create("tailt", 2)
    s = lib.Sse(b, "/api/v1/topics/tailt/tail")
    tap.is_((s.status, s.headers.get("content-type")), (200, "text/event-stream"),
            "GET tail is an event stream")
    sf = lib.Sse(b, "/api/v1/topics/tailt/tail?filter=value.n%20%3E%3D%204")
    s.events(1, 0.5)  # the opening comment
    tap.ok(any(c.startswith(": tailing") for c in s.comments), "it opens with a comment")
    recs = [(b"t%d" % i, json.dumps({"n": i}).encode(), [("i", str(i).encode())], None)
            for i in range(6)]
    reports = produce("tailt", recs)
    ev = s.events(6, 20)
    tap.is_(len(ev), 6, "six records produced through Kafka arrive as six events")
    tap.is_(sorted(e["id"] for e in ev), sorted("%d:%d" % (p, o) for p, o in reports),
            "event ids are partition:offset")
    tap.ok(all(e["event"] == "record" and e["json"]["value"] == {"n": int(e["json"]["key"][1:])}
               for e in ev), "event data is the record as JSON")
    evf = sf.events(2, 20)
    tap.is_(sorted(e["json"]["key"] for e in evf), ["t4", "t5"], "a filtered tail sends only matches")
    p0 = sorted(o for p, o in reports if p == 0)
    s0 = lib.Sse(b, "/api/v1/topics/tailt/tail?partition=0&offset=earliest")
    ev0 = s0.events(len(p0), 20)
    tap.is_([int(e["id"].split(":")[1]) for e in ev0], p0,
            "partition=0&offset=earliest replays the partition first")
    s0.close()
    if len(p0) >= 2:
        sl = lib.Sse(b, "/api/v1/topics/tailt/tail?partition=0",
                     headers={"Last-Event-ID": "0:%d" % p0[0]})
        evl = sl.events(len(p0) - 1, 20)
        tap.is_([int(e["id"].split(":")[1]) for e in evl], p0[1:],
                "Last-Event-ID resumes after that event")
        sl.close()
    else:
        tap.skip(1, "partition 0 got fewer than two records")
    more = produce("tailt", [(b"t9", b'{"n": 9}', None, None)])
    ev = s.events(1, 20)
    tap.is_([e["id"] for e in ev], ["%d:%d" % more[0]], "later records keep arriving")
    st, _, res = call(b, "POST", "/api/v1/topics/tailt/records", {"key": "rest", "value": {"n": 10}})
    ev = s.events(1, 20)
    tap.is_([(e["json"]["key"], e["json"]["value"]) for e in ev], [("rest", {"n": 10})],
            "records produced through REST are tailed too")
    tap.ok(not any("keep-alive" in c for c in s.comments), "no keep-alive while records flow")
    s.events(1, 17)
    tap.ok(any("keep-alive" in c for c in s.comments), "a quiet tail sends a keep-alive comment",
           s.comments)
    call(b, "DELETE", "/api/v1/topics/tailt")
    ev = s.events(1, 20)
    tap.ok(len(ev) == 1 and ev[0]["event"] == "error" and
           ev[0]["json"]["error_code"] == "UNKNOWN_TOPIC_OR_PARTITION",
           "deleting the topic ends the tail with an error event", ev)
    st = lib.Sse(b, "/api/v1/topics/tailt/tail")
    tap.is_(st.status, 404, "tailing a missing topic is 404")
    for x in (s, sf, st):
        x.close()

tap.ok(b.stop() == 0, "broker stops cleanly (exit 0)")
tap.done()
