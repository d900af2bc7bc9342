"""0820-metrics: GET /metrics in the Prometheus text format.

The exposition passes `promtool check metrics` (Debian package prometheus)
on a fresh broker and after traffic. Values are checked against what was
done through Kafka: partition offsets (kafka_topic_partition_current_offset,
kafka_topic_partition_oldest_offset), partition count, messages in
(kafka_server_brokertopicmetrics_messagesin_total), bytes in/out, request
counters and the latency histogram per API (count = requests, buckets
cumulative), log size per partition, connections, and a consumer group's
committed offsets and lag (kafka_consumergroup_current_offset /
kafka_consumergroup_lag / _members).
"""

import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

lib = harness.load_httplib()

tap = harness.Tap(timeout=240)
ck = harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")

tap.plan(27)
b = lib.HttpBroker(tap)
if not tap.ok(b.start(), "broker starts with the HTTP server ready"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": b.bootstrap, "broker.address.family": "v4"}
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')


def scrape():
    st, h, text = lib.call(b, "GET", "/metrics", raw=True)
    if st != 200:
        raise AssertionError("GET /metrics: %d" % st)
    return h, text.decode()


def parse(text):
    """{(name, frozenset(labels)): float}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            raise AssertionError("unparsable line: %r" % line)
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def get(ms, name, **labels):
    return ms.get((name, frozenset(labels.items())))


def promtool(text):
    if not shutil.which("promtool"):
        return None
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode()


with tap.section("fresh broker", cases=3, timeout=30):
    h, text = scrape()
    tap.is_(h.get("content-type"), "text/plain; version=0.0.4; charset=utf-8",
            "content type of the text exposition format")
    r = promtool(text)
    if r is None:
        tap.skip(1, "promtool not installed (apt-get install prometheus)")
    else:
        tap.ok(r[0] == 0, "promtool check metrics passes on a fresh broker", r[1][:2000])
    ms = parse(text)
    tap.is_(get(ms, "kafka_brokers"), 1.0, "kafka_brokers 1")

N = 300
with tap.section("traffic", cases=4, timeout=90):
    st, _, _ = lib.call(b, "POST", "/api/v1/topics", {"name": "m", "partitions": 2})
    tap.is_(st, 201, "topic m with 2 partitions")
    recs = [(b"k%d" % i, b"value %d" % i, None, None) for i in range(N)]
    reports, errors, left = harness.ck_produce(dict(COMMON), "m", recs)
    tap.ok(not errors and left == 0, "%d records produced" % N, errors)
    per = {0: 0, 1: 0}
    for p, _ in reports:
        per[p] += 1
    c = ck.Consumer(dict(COMMON, **{"group.id": "mg", "auto.offset.reset": "earliest",
                                    "enable.auto.commit": False}))
    c.subscribe(["m"])
    got = 0
    import time
    deadline = time.monotonic() + 60
    keep = 250  # consume everything, commit only the first 250 records' offsets
    committed = {}
    while got < N and time.monotonic() < deadline:
        for m in c.consume(100, 1.0):
            if m.error():
                continue
            got += 1
            if got <= keep:
                committed[m.partition()] = m.offset() + 1
    tap.is_(got, N, "a group consumer read them all")
    offs = [ck.TopicPartition("m", p, o) for p, o in sorted(committed.items())]
    res = c.commit(offsets=offs, asynchronous=False)
    tap.ok(all(t.error is None for t in res), "it committed offsets for %d records" % keep)
    c.close()

with tap.section("values after traffic", cases=18, timeout=60):
    h, text = scrape()
    r = promtool(text)
    if r is None:
        tap.skip(1, "promtool not installed")
    else:
        tap.ok(r[0] == 0, "promtool check metrics passes after traffic", r[1][:2000])
    ms = parse(text)
    tap.is_(get(ms, "kafka_topic_partitions", topic="m"), 2.0, "kafka_topic_partitions{topic=m}")
    tap.is_([get(ms, "kafka_topic_partition_current_offset", topic="m", partition=str(p))
             for p in (0, 1)], [float(per[0]), float(per[1])],
            "kafka_topic_partition_current_offset = records per partition")
    tap.is_([get(ms, "kafka_topic_partition_oldest_offset", topic="m", partition=str(p))
             for p in (0, 1)], [0.0, 0.0], "kafka_topic_partition_oldest_offset")
    tap.is_(get(ms, "kafka_server_brokertopicmetrics_messagesin_total", topic="m"), float(N),
            "messagesin_total{topic=m} counts every record")
    bin_ = get(ms, "kafka_server_brokertopicmetrics_bytesin_total")
    bout = get(ms, "kafka_server_brokertopicmetrics_bytesout_total")
    tap.ok(bin_ > N * 7 and bout > N * 7, "bytes in and out cover the record bytes",
           "in %r out %r" % (bin_, bout))
    tin = get(ms, "kafka_server_brokertopicmetrics_bytesin_total", topic="m")
    tout = get(ms, "kafka_server_brokertopicmetrics_bytesout_total", topic="m")
    sizes_now = sum(get(ms, "runnel_log_size_bytes", topic="m", partition=str(p)) or 0
                    for p in (0, 1))
    tap.ok(tin is not None and tin == sizes_now,
           "bytesin{topic=m} equals the bytes the topic's logs hold (nothing deleted yet)",
           "bytesin %r log size %r" % (tin, sizes_now))
    tap.ok(tout is not None and tout >= tin,
           "bytesout{topic=m} covers one full read of the topic", "out %r in %r" % (tout, tin))
    fcount = get(ms, "runnel_log_fsync_duration_seconds_count")
    fb = sorted(((float(dict(k[1])["le"]), v) for k, v in ms.items()
                 if k[0] == "runnel_log_fsync_duration_seconds_bucket"), key=lambda x: x[0])
    tap.ok(fcount and fcount >= 1 and fb[-1] == (float("inf"), fcount) and
           all(fb[i][1] <= fb[i + 1][1] for i in range(len(fb) - 1)),
           "fsync latency histogram counts the acks=all group commits", (fcount, fb[-3:]))
    prod = get(ms, "runnel_requests_total", api="Produce")
    fetch = get(ms, "runnel_requests_total", api="Fetch")
    tap.ok(prod >= 1 and fetch >= 1 and get(ms, "runnel_requests_total", api="OffsetCommit") >= 1,
           "request counters per API", "Produce %r Fetch %r" % (prod, fetch))
    tap.is_(get(ms, "runnel_request_duration_seconds_count", api="Produce"), prod,
            "histogram count equals the request counter")
    buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in ms.items()
                      if k[0] == "runnel_request_duration_seconds_bucket" and
                      dict(k[1]).get("api") == "Fetch"), key=lambda x: x[0])
    tap.ok(buckets[-1][0] == float("inf") and buckets[-1][1] == fetch and
           all(buckets[i][1] <= buckets[i + 1][1] for i in range(len(buckets) - 1)),
           "buckets are cumulative and +Inf equals the count", buckets[-3:])
    sizes = [get(ms, "runnel_log_size_bytes", topic="m", partition=str(p)) for p in (0, 1)]
    tap.ok(all(s and s > 0 for s in sizes), "runnel_log_size_bytes per partition", sizes)
    tap.ok(get(ms, "runnel_connections") is not None and get(ms, "process_open_fds") > 0 and
           get(ms, "process_resident_memory_bytes") > 0, "connections and process metrics")
    cur = {p: get(ms, "kafka_consumergroup_current_offset", consumergroup="mg", topic="m",
                  partition=str(p)) for p in committed}
    tap.is_(cur, {p: float(o) for p, o in committed.items()},
            "kafka_consumergroup_current_offset = committed offsets")
    lag = {p: get(ms, "kafka_consumergroup_lag", consumergroup="mg", topic="m", partition=str(p))
           for p in committed}
    tap.is_(lag, {p: float(per[p] - o) for p, o in committed.items()},
            "kafka_consumergroup_lag = high watermark - committed")
    tap.is_(get(ms, "kafka_consumergroup_lag_sum", consumergroup="mg", topic="m"), None,
            "no kafka_consumergroup_lag_sum (promtool rejects the name; sum the lag instead)")
    tap.is_(get(ms, "kafka_consumergroup_members", consumergroup="mg"), 0.0,
            "the group has no members after close")

tap.ok(b.stop() == 0, "broker stops cleanly (exit 0)")
tap.done()
