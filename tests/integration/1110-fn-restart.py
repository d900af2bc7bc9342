"""1110-fn-restart: stream functions across restarts and crashes.

A per-user 1-second tumbling aggregate over a 3-partition topic fed by
confluent-kafka (keyed records, event time in the value), with results
checked exactly against a Python reference of the same windows:

  - SIGTERM in the middle: the function is restarted from the metadata
    log and its final checkpoint; every window result appears exactly
    once.
  - kill -9 after a checkpoint that followed the last firing: restart
    resumes from it; every result exactly once (windows fired before the
    checkpoint are not fired again).
  - kill -9 while a filter is processing: at-least-once: every expected
    result is present, nothing unexpected, repeats are exact copies.
  - pause survives a restart; drop survives a restart (checkpoint file
    removed); startup=latest keeps its start position across a crash.
"""

import collections
import datetime
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

tap = harness.Tap(timeout=420)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
tap.plan(28)
# Two worker threads: functions are spread over them.
b = lib.HttpBroker(tap, args=["--set", "functions.threads=2"])
if not tap.ok(b.start(), "broker starts (functions.threads=2)"):
    tap.bail("broker did not start")

BASE = 1704067200000  # 2024-01-01 00:00:00 UTC
USERS = ["u%d" % i for i in range(10)]
AGG_SQL = """INSERT INTO {out}
SELECT user_id, window_start, window_end, COUNT(*) AS n, SUM(amount) AS total
FROM TABLE(TUMBLE(TABLE {inp}, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY user_id, window_start, window_end"""


def gen(first, count):
    """Records first..first+count-1: keyed by user, event time 20 ms apart."""
    rows = []
    for i in range(first, first + count):
        u = USERS[i * 7 % len(USERS)]
        v = {"user_id": u, "amount": i * 13 % 50 + 1, "ts": BASE + i * 20}
        rows.append({"partition": fnlib.kafka_partition(u.encode(), 3), "key": u, "value": v,
                     "timestamp": BASE + i * 20})
    return rows


def flush_rows():
    """One far-future record per partition: the watermark passes every window."""
    return [{"partition": p, "key": "zz", "timestamp": BASE + 10 ** 7,
             "value": {"user_id": "zz", "amount": 0, "ts": BASE + 10 ** 7}} for p in range(3)]


def fmt(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S")


def reference(rows):
    """{(user, window_start text): (count, sum)} for the windows that fire."""
    agg = collections.defaultdict(lambda: [0, 0])
    for r in rows:
        v = r["value"]
        if v["user_id"] == "zz":
            continue
        ws = v["ts"] // 1000 * 1000
        a = agg[(v["user_id"], fmt(ws))]
        a[0] += 1
        a[1] += v["amount"]
    return {k: tuple(v) for k, v in agg.items()}


def results(topic):
    recs, errs, complete = fnlib.read_topic(b, topic, 3)
    out = []
    for r in recs:
        v = r["value"]
        out.append(((v["user_id"], v["window_start"]), (v["n"], v["total"]),
                    r["key"] == {"user_id": v["user_id"]} and
                    r["partition"] == fnlib.kafka_partition(
                        json.dumps({"user_id": v["user_id"]}, separators=(",", ":")).encode(),
                        3)))
    return out, errs, complete


def settle(name, pred=None, timeout=60):
    """Waits until the function read everything (lag 0), then until
    records_out stops changing for a second; returns the body."""
    f = fnlib.wait_fn(b, call, name, lambda j: j["status"]["lag"] == 0 and
                      j["state"] == "running" and (pred is None or pred(j)), timeout)
    last = None
    for _ in range(int(timeout / 0.5)):
        st, _, f = call(b, "GET", "/api/v1/functions/" + name)
        if st != 200:
            return None
        if last is not None and f["status"]["records_out"] == last:
            return f
        last = f["status"]["records_out"]
        time.sleep(1.0)
    return f


def create(name, sql, opts):
    st, _, f = call(b, "POST", "/api/v1/functions", {"name": name, "sql": sql, "options": opts})
    return st


with tap.section("SIGTERM in the middle", cases=6, timeout=120):
    fnlib.create_topic(b, call, "ev", 3)
    part1, part2 = gen(0, 1500), gen(1500, 1500)
    tap.is_(fnlib.produce_rows(b, "ev", part1), [], "first half produced")
    tap.is_(create("agg", AGG_SQL.format(out="agg_out", inp="ev"),
                   {"checkpoint.interval": "300ms"}), 201, "aggregate created")
    f = settle("agg", lambda j: j["status"]["records_out"] > 0)
    tap.ok(f and f["status"]["records_out"] > 0, "some windows fired before the restart",
           f and f["status"])
    tap.ok(b.restart(), "SIGTERM and restart")
    st, _, f = call(b, "GET", "/api/v1/functions/agg")
    tap.is_((st, f["state"]), (200, "running"), "the function is back, running")
    fnlib.produce_rows(b, "ev", part2 + flush_rows())
    want = reference(part1 + part2)
    settle("agg", lambda j: j["status"]["records_out"] >= len(want))
    got, errs, complete = results("agg_out")
    tap.is_(sorted((k, v) for k, v, _ in got), sorted(want.items()),
            "every window result exactly once")

with tap.section("kill -9 after a checkpoint", cases=6, timeout=150):
    fnlib.create_topic(b, call, "ev2", 3)
    part1, part2 = gen(0, 1200), gen(1200, 1800)
    tap.is_(create("agg2", AGG_SQL.format(out="agg2_out", inp="ev2"),
                   {"checkpoint.interval": "300ms"}), 201, "aggregate created")
    fnlib.produce_rows(b, "ev2", part1)
    f = settle("agg2", lambda j: j["status"]["records_out"] > 0)
    t_settled = fnlib.now_ms()
    f = fnlib.wait_fn(b, call, "agg2", lambda j: (j["status"]["last_checkpoint_ms"] or 0)
                      > t_settled + 50, 30)
    tap.ok(f and f["status"]["last_checkpoint_ms"] > t_settled,
           "a checkpoint after the last firing", f and f["status"])
    b.kill()
    tap.ok(b.start(), "kill -9 and start again")
    st, _, f = call(b, "GET", "/api/v1/functions/agg2")
    tap.is_((st, f["state"]), (200, "running"), "the function is back, running")
    fnlib.produce_rows(b, "ev2", part2 + flush_rows())
    want = reference(part1 + part2)
    settle("agg2", lambda j: j["status"]["records_out"] >= len(want))
    got, errs, complete = results("agg2_out")
    tap.is_(sorted((k, v) for k, v, _ in got), sorted(want.items()),
            "every window result exactly once (none fired again)")
    tap.ok(all(ok for _, _, ok in got), "keys are the GROUP BY columns; partition = murmur2(key)")

with tap.section("kill -9 while processing", cases=5, timeout=150):
    fnlib.create_topic(b, call, "ev3", 3)
    rows = gen(0, 30000)
    tap.is_(create("hv3", "INSERT INTO hv3_out SELECT user_id, amount, ts FROM ev3 "
                   "WHERE amount > 25", {"checkpoint.interval": "100ms"}), 201, "filter created")
    fnlib.produce_rows(b, "ev3", rows[:15000])
    fnlib.wait_fn(b, call, "hv3", lambda j: j["status"]["records_in"] > 0, 30)
    fnlib.produce_rows(b, "ev3", rows[15000:])
    b.kill()
    tap.ok(b.start(), "kill -9 in the middle, start again")
    want = collections.Counter(json.dumps(r["value"], sort_keys=True) for r in rows
                               if r["value"]["amount"] > 25)
    f = settle("hv3", lambda j: j["status"]["records_in"] >= 30000)
    tap.ok(f and f["status"]["lag"] == 0, "the function caught up", f and f["status"])
    recs, errs, complete = fnlib.read_topic(b, "hv3_out", 3)
    got = collections.Counter(json.dumps(r["value"], sort_keys=True) for r in recs)
    tap.is_(sorted(set(got)), sorted(set(want)), "every expected result, nothing else")
    dups = sum(got.values()) - sum(want.values())
    tap.diag("results repeated after the crash (at-least-once): %d" % dups)
    tap.ok(all(got[k] >= want[k] for k in want), "no result lost")

with tap.section("pause, drop and startup=latest across restarts", cases=9, timeout=120):
    st, _, f = call(b, "POST", "/api/v1/functions/agg2/pause")
    tap.is_((st, f["state"]), (200, "paused"), "agg2 paused")
    st, _, _ = call(b, "DELETE", "/api/v1/functions/hv3")
    tap.is_(st, 200, "hv3 dropped")
    fnlib.create_topic(b, call, "ev4", 3)
    fnlib.produce_rows(b, "ev4", gen(0, 30))
    tap.is_(create("late4", "INSERT INTO ev4_out SELECT * FROM ev4", {"startup": "latest"}), 201,
            "startup=latest function created")
    f = fnlib.wait_fn(b, call, "late4", lambda j: (j["status"]["last_checkpoint_ms"] or 0) > 0, 20)
    tap.ok(f is not None, "its first checkpoint is written")
    b.kill()
    tap.ok(b.start(), "kill -9, start again")
    st, _, f = call(b, "GET", "/api/v1/functions/agg2")
    tap.is_((st, f["state"]), (200, "paused"), "pause survives the restart")
    st, _, _ = call(b, "GET", "/api/v1/functions/hv3")
    tap.ok(st == 404 and not os.path.exists(
        os.path.join(b.data_dir, "__runnel_functions", "hv3.ckpt")),
        "drop survives the restart; no checkpoint file")
    fnlib.produce_rows(b, "ev4", gen(30, 9))
    f = fnlib.wait_fn(b, call, "late4", lambda j: j["status"]["records_in"] >= 9, 30)
    time.sleep(0.5)
    st, _, f = call(b, "GET", "/api/v1/functions/late4")
    tap.is_(f["status"]["records_in"], 9,
            "startup=latest after a crash: only records produced after creation")
    st, _, f = call(b, "POST", "/api/v1/functions/agg2/resume")
    tap.is_((st, f["state"]), (200, "running"), "resume after the restart")

tap.is_(b.stop(), 0, "broker stops cleanly")
tap.done()
