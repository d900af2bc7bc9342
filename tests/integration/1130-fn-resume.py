#!/usr/bin/env python3
"""1130-fn-resume: resume of a failed stream function.

RUNNEL_FN_FAULT=fail-checkpoint:3 makes the third checkpoint write of a
handed-back marker fail, which fails the function (its open transaction
is aborted). While failed it is paused (allowed: state paused) and then
resumed: it restarts from its last checkpoint (as a broker restart does:
restore, the checkpoint's transaction resolved, a new epoch), last_error
is cleared, state running, and every result is present exactly once for
read_committed consumers (default delivery exactly-once). Resume of a
running function changes nothing. Partitions added to the input topic
while a function runs are read from their log start, and still are after
a kill -9 that loses the checkpoint which listed them (startup = latest).
"""

import collections
import json
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import fnlib  # noqa: E402

lib = harness.load_httplib()
call = lib.call

tap = harness.Tap(timeout=300)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
tap.plan(30)
os.environ["RUNNEL_FN_FAULT"] = "fail-checkpoint:3"
b = lib.HttpBroker(tap)
ok = b.start()
del os.environ["RUNNEL_FN_FAULT"]
if not tap.ok(ok, "broker starts with RUNNEL_FN_FAULT=fail-checkpoint:3"):
    tap.bail("broker did not start")

BASE = 1704067200000
USERS = ["u%d" % i for i in range(10)]


def gen(first, count):
    rows = []
    for i in range(first, first + count):
        u = USERS[i * 7 % len(USERS)]
        v = {"user_id": u, "amount": i * 13 % 50 + 1, "ts": BASE + i * 20}
        rows.append({"partition": fnlib.kafka_partition(u.encode(), 3), "key": u, "value": v,
                     "timestamp": BASE + i * 20})
    return rows


fnlib.create_topic(b, call, "ev", 3)
rows = gen(0, 6000)
st, _, f = call(b, "POST", "/api/v1/functions", {
    "name": "flt", "sql": "INSERT INTO flt_out SELECT user_id, amount, ts FROM ev WHERE amount > 25",
    "options": {"checkpoint.interval": "200ms"}})
tap.is_(st, 201, "filter created (exactly-once, checkpoint.interval 200ms)")
# Fed in chunks so that checkpoints (and the failing one) fall between them.
for i in range(0, 3000, 500):
    fnlib.produce_rows(b, "ev", rows[i:i + 500])
    time.sleep(0.15)
f = fnlib.wait_fn(b, call, "flt", lambda j: j["state"] == "failed", 60)
tap.ok(f is not None and f["state"] == "failed", "the third checkpoint write fails the function",
       f and f["state"])
tap.ok(f is not None and "checkpoint" in (f["status"]["last_error"] or ""),
       "last_error names the checkpoint", f and f["status"]["last_error"])
fnlib.produce_rows(b, "ev", rows[3000:4500])
time.sleep(0.5)
st, _, f = call(b, "GET", "/api/v1/functions/flt")
tap.is_(f["state"], "failed", "still failed while records arrive")

st, _, f = call(b, "POST", "/api/v1/functions/flt/pause")
tap.is_((st, f and f["state"]), (200, "paused"), "pause of a failed function: paused")
time.sleep(0.3)
st, _, f = call(b, "GET", "/api/v1/functions/flt")
tap.is_(f["state"], "paused", "it stays stopped")

st, _, f = call(b, "POST", "/api/v1/functions/flt/resume")
tap.is_((st, f and f["state"], f and f["status"]["last_error"]), (200, "running", None),
        "resume restarts it: running, last_error cleared")
fnlib.produce_rows(b, "ev", rows[4500:])
want = collections.Counter(json.dumps({"user_id": r["value"]["user_id"],
                                       "amount": r["value"]["amount"],
                                       "ts": r["value"]["ts"]}, sort_keys=True)
                           for r in rows if r["value"]["amount"] > 25)
f = fnlib.wait_fn(b, call, "flt", lambda j: j["status"]["lag"] == 0 and
                  j["status"]["records_in"] >= 1 and j["state"] == "running", 60)
tap.ok(f is not None, "it catches up", f and (f["state"], f["status"]))
# Committed once the next checkpoint is written.
t0 = fnlib.now_ms()
f = fnlib.wait_fn(b, call, "flt", lambda j: (j["status"]["last_checkpoint_ms"] or 0) > t0 + 50, 30)
tap.ok(f is not None, "a checkpoint after catching up", f and f["status"])


def committed():
    recs, errs, complete = fnlib.read_topic(b, "flt_out", 3)
    return collections.Counter(json.dumps(r["value"], sort_keys=True) for r in recs)


got = committed()
tap.is_(sum(got.values()), sum(want.values()), "read_committed: as many results as expected")
tap.ok(got == want, "read_committed: every result exactly once",
       "missing %d, extra %d" % (sum((want - got).values()), sum((got - want).values())))

st, _, f = call(b, "POST", "/api/v1/functions/flt/resume")
tap.is_((st, f and f["state"]), (200, "running"), "resume of a running function: a no-op")
st, _, f2 = call(b, "POST", "/api/v1/functions/nope/resume")
tap.is_(st, 404, "resume of an unknown function: 404")

# ---- partitions added to the input topic while a function runs --------------------
AGG = """INSERT INTO gagg_out
SELECT user_id, window_start, window_end, COUNT(*) AS n, SUM(amount) AS total
FROM TABLE(TUMBLE(TABLE gp, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY user_id, window_start, window_end"""


def prow(p, i, ts=None):
    u = USERS[i % len(USERS)]
    ts = BASE + i * 20 if ts is None else ts
    return {"partition": p, "key": u, "value": {"user_id": u, "amount": i % 7 + 1, "ts": ts},
            "timestamp": ts}


def wm_of(j):
    return j["status"]["watermark_ms"]


fnlib.create_topic(b, call, "gp", 2)
st, _, f = call(b, "POST", "/api/v1/functions", {"name": "gagg", "sql": AGG,
                                                  "options": {"checkpoint.interval": "200ms"}})
tap.is_(st, 201, "aggregate on a 2-partition topic created")
sent = [prow(i % 2, i) for i in range(0, 200)]
fnlib.produce_rows(b, "gp", sent)
f = fnlib.wait_fn(b, call, "gagg", lambda j: j["status"]["lag"] == 0 and wm_of(j) is not None, 60)
wm1 = f and wm_of(f)
tap.ok(wm1 is not None and wm1 >= BASE, "watermark from both partitions", f and f["status"])
from confluent_kafka.admin import AdminClient, NewPartitions  # noqa: E402
admin = AdminClient({"bootstrap.servers": b.bootstrap, "broker.address.family": "v4"})
res = admin.create_partitions([NewPartitions("gp", 3)], operation_timeout=10)
err = None
for fut in res.values():
    try:
        fut.result(15)
    except Exception as e:  # noqa: BLE001
        err = str(e)
tap.is_(err, None, "CreatePartitions gp 2 -> 3")
f = fnlib.wait_fn(b, call, "gagg", lambda j: len(j["status"]["partitions"]) == 3, 30)
tap.ok(f is not None, "the function lists the new partition", f and f["status"]["partitions"])
# Later event times on the old partitions only: the new, empty partition
# holds the watermark (no idle timeout set).
more = [prow(i % 2, i, BASE + 5000 + i) for i in range(200, 300)]
fnlib.produce_rows(b, "gp", more)
sent += more
f = fnlib.wait_fn(b, call, "gagg", lambda j: j["status"]["lag"] == 0 and
                  j["status"]["records_in"] >= 300, 60)
time.sleep(0.5)
st, _, f = call(b, "GET", "/api/v1/functions/gagg")
tap.is_(wm_of(f), wm1, "the empty new partition holds the watermark")
p2 = [prow(2, i, BASE + 5000 + i) for i in range(300, 360)]
flush = [prow(p, 10 ** 6, BASE + 10 ** 7) for p in range(3)]
fnlib.produce_rows(b, "gp", p2 + flush)
sent += p2
f = fnlib.wait_fn(b, call, "gagg", lambda j: j["status"]["lag"] == 0 and
                  (wm_of(j) or 0) > BASE + 6000, 60)
tap.ok(f is not None and f["status"]["records_in"] == 363,
       "the new partition's records are read; the watermark moves on",
       f and (f["status"]["records_in"], wm_of(f)))


def agg_ref(rows):
    ref = collections.Counter()
    tot = collections.Counter()
    for r in rows:
        v = r["value"]
        k = (v["user_id"], v["ts"] // 1000 * 1000)
        ref[k] += 1
        tot[k] += v["amount"]
    return sorted((k[0], k[1], ref[k], tot[k]) for k in ref)


def agg_got():
    recs, errs, complete = fnlib.read_topic(b, "gagg_out", 2)
    import datetime
    out = []
    for r in recs:
        v = r["value"]
        ws = v["window_start"]
        if isinstance(ws, str):
            ws = int(datetime.datetime.strptime(ws[:19], "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=datetime.timezone.utc).timestamp() * 1000)
        out.append((v["user_id"], ws, v["n"], v["total"]))
    return sorted(out)


t0 = fnlib.now_ms()
fnlib.wait_fn(b, call, "gagg", lambda j: (j["status"]["last_checkpoint_ms"] or 0) > t0 + 50, 30)
want = agg_ref(sent)
got = [g for g in agg_got() if g[0] in USERS and g[1] < BASE + 10 ** 6]
tap.is_(got, want, "every window result once, counting the new partition's records")
tap.ok(b.restart(), "restart (SIGTERM)")
f = fnlib.wait_fn(b, call, "gagg", lambda j: j["state"] == "running" and
                  len(j["status"]["partitions"]) == 3 and j["status"]["lag"] == 0, 60)
tap.ok(f is not None and f["status"]["records_in"] == 363 and
       f["status"]["partitions"][2]["offset"] == f["status"]["partitions"][2]["high_watermark"],
       "the checkpoint kept the new partition's offset (nothing read again)",
       f and f["status"])
got = [g for g in agg_got() if g[0] in USERS and g[1] < BASE + 10 ** 6]
tap.is_(got, want, "still every window result once after the restart")

# ---- startup = latest, a partition added after the last checkpoint, kill -9 ---------
# The restart restores the only checkpoint (written at start, one
# partition). The partition it does not list was added later, so it is
# read from its log start, as while running, not from its high watermark
# as startup = latest would place a fresh function. At-least-once: the
# outputs after the restart must hold every record of the new partition.
fnlib.create_topic(b, call, "lp", 1)
fnlib.produce_rows(b, "lp", [prow(0, i) for i in range(5)])  # before start: skipped
st, _, f = call(b, "POST", "/api/v1/functions", {
    "name": "lat", "sql": "INSERT INTO lat_out SELECT user_id, amount, ts FROM lp",
    "options": {"startup": "latest", "delivery": "at-least-once",
                "checkpoint.interval": "1h"}})
tap.is_(st, 201, "startup=latest filter created (at-least-once, checkpoint.interval 1h)")
f = fnlib.wait_fn(b, call, "lat", lambda j: j["state"] == "running" and
                  j["status"]["last_checkpoint_ms"], 30)
fnlib.produce_rows(b, "lp", [prow(0, i) for i in range(5, 15)])
res = admin.create_partitions([NewPartitions("lp", 2)], operation_timeout=10)
for fut in res.values():
    fut.result(15)
f = fnlib.wait_fn(b, call, "lat", lambda j: len(j["status"]["partitions"]) == 2, 30)
newp = [prow(1, i) for i in range(100, 120)]
fnlib.produce_rows(b, "lp", newp)
f = fnlib.wait_fn(b, call, "lat", lambda j: j["status"]["lag"] == 0 and
                  j["status"]["records_in"] >= 30, 60)
tap.ok(f is not None and f["status"]["records_in"] == 30,
       "it reads the 10 new records of partition 0 and the 20 of the added partition",
       f and f["status"])
before, _, _ = fnlib.read_topic(b, "lat_out", 1)
b.kill()
tap.ok(b.start(), "restart after kill -9 (last checkpoint: the one at start)")
f = fnlib.wait_fn(b, call, "lat", lambda j: j["state"] == "running" and
                  len(j["status"]["partitions"]) == 2 and j["status"]["lag"] == 0, 60)
time.sleep(0.5)
after, _, _ = fnlib.read_topic(b, "lat_out", 1)
again = collections.Counter(r["value"]["ts"] for r in after[len(before):])
tap.ok(f is not None and all(again[r["value"]["ts"]] == 1 for r in newp),
       "the added partition is read again from its log start, not skipped",
       "%d of 20 after the restart" % sum(1 for r in newp if again[r["value"]["ts"]]))
tap.ok(all(again[prow(0, i)["value"]["ts"]] == 0 for i in range(5)),
       "records from before the function started are still skipped")

tap.is_(b.stop(), 0, "broker stops cleanly")
tap.done()
