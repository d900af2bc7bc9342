"""1120-fn-exactly-once: stream functions with delivery = exactly-once.

Outputs between two checkpoints are one transaction of the function's
internal transactional producer, committed once the checkpoint that
covers them is durable (fn_host.c). A read_committed consumer must see
every result exactly once across crashes; a read_uncommitted one may see
the outputs of aborted transactions (repeats).

  - A per-user 1-second tumbling aggregate over a 3-partition topic,
    checkpoint.interval 500ms, input produced continuously (idempotent
    producer) while the broker is killed -9 three times between
    checkpoints (RN_FN_KILLS times: `make soak` runs 50): read_committed
    sees every window result exactly once, as in a crash-free run.
  - Crash window b: RUNNEL_FN_FAULT makes the broker exit after a
    checkpoint file is durable but before its transaction commits; the
    restart commits that transaction (not aborts it): exactly once.
  - A filter killed -9 mid-stream: each passing input exactly once.
  - delivery = at-least-once is accepted and reported; a bad value is not.
"""

import collections
import datetime
import json
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import fnlib  # noqa: E402

lib = harness.load_httplib()
call = lib.call

KILLS = max(1, int(os.environ.get("RN_FN_KILLS", "3")))
tap = harness.Tap(timeout=600 + 20 * KILLS)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
tap.plan(28)
b = lib.HttpBroker(tap)
if not tap.ok(b.start(), "broker starts"):
    tap.bail("broker did not start")

BASE = 1704067200000  # 2024-01-01 00:00:00 UTC
USERS = ["u%d" % i for i in range(10)]
AGG_SQL = """INSERT INTO {out}
SELECT user_id, window_start, window_end, COUNT(*) AS n, SUM(amount) AS total
FROM TABLE(TUMBLE(TABLE {inp}, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY user_id, window_start, window_end"""


def row(i):
    u = USERS[i * 7 % len(USERS)]
    v = {"user_id": u, "amount": i * 13 % 50 + 1, "ts": BASE + i * 20}
    return {"partition": fnlib.kafka_partition(u.encode(), 3), "key": u, "value": v,
            "timestamp": BASE + i * 20}


def flush_rows():
    """One far-future record per partition: the watermark passes every window."""
    return [{"partition": p, "key": "zz", "timestamp": BASE + 10 ** 7,
             "value": {"user_id": "zz", "amount": 0, "ts": BASE + 10 ** 7}} for p in range(3)]


def fmt(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S")


def read_values(topic, nparts, isolation, timeout=60):
    """Every record value of topic (parsed JSON), read with isolation."""
    msgs, errors, complete = harness.ck_read_all(
        {"bootstrap.servers": b.bootstrap, "broker.address.family": "v4",
         "isolation.level": isolation}, topic, nparts, timeout=timeout)
    return [json.loads(m.value()) for m in msgs], errors, complete


def reference(values):
    """{(user, window_start text): (count, sum)} of the input values."""
    agg = collections.defaultdict(lambda: [0, 0])
    for v in values:
        if v["user_id"] == "zz":
            continue
        a = agg[(v["user_id"], fmt(v["ts"] // 1000 * 1000))]
        a[0] += 1
        a[1] += v["amount"]
    return collections.Counter({(k, tuple(x)): 1 for k, x in agg.items()})


def agg_results(values):
    return collections.Counter(((v["user_id"], v["window_start"]), (v["n"], v["total"]))
                               for v in values)


def status(name):
    st, _, f = call(b, "GET", "/api/v1/functions/" + name)
    return f if st == 200 else None


def create(name, sql, opts):
    st, _, f = call(b, "POST", "/api/v1/functions", {"name": name, "sql": sql, "options": opts})
    return st, f


def wait_committed(topic, want, timeout=90):
    """Polls a read_committed read of topic until it holds as many records
    as want (or timeout); returns the last read."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got, errs, complete = read_values(topic, 3, "read_committed", timeout=30)
        if complete and len(got) >= sum(want.values()):
            break
        time.sleep(1.0)
    return got


def log_text():
    with open(b.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


class Feeder:
    """Produces rows first.. in a thread with an idempotent producer that
    rides out broker restarts, until stop()."""

    def __init__(self, topic, first):
        from confluent_kafka import Producer
        self.topic = topic
        self.next = first
        self.errs = []
        self.p = Producer({"bootstrap.servers": b.bootstrap, "broker.address.family": "v4",
                           "enable.idempotence": True, "linger.ms": 5,
                           "message.timeout.ms": 300000})
        self.halt = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def cb(self, err, msg):
        if err is not None:
            self.errs.append(str(err))

    def run(self):
        while not self.halt.is_set():
            for _ in range(50):
                r = row(self.next)
                self.next += 1
                try:
                    self.p.produce(self.topic, key=fnlib.to_bytes(r["key"]),
                                   value=fnlib.to_bytes(r["value"]), partition=r["partition"],
                                   timestamp=r["timestamp"], on_delivery=self.cb)
                except BufferError:
                    self.next -= 1
                    break
            self.p.poll(0.05)

    def stop(self):
        self.halt.set()
        self.t.join(30)
        left = self.p.flush(120)
        return self.errs + (["%d records not delivered" % left] if left else [])


with tap.section("aggregate: kill -9 %d times between checkpoints" % KILLS, cases=9,
                 timeout=300 + 20 * KILLS):
    fnlib.create_topic(b, call, "eo_in", 3)
    st, f = create("eo_agg", AGG_SQL.format(out="eo_out", inp="eo_in"),
                   {"checkpoint.interval": "500ms"})
    tap.is_((st, f and f.get("delivery")), (201, "exactly-once"),
            "aggregate created; delivery defaults to exactly-once")
    feeder = Feeder("eo_in", 0)
    kills = 0
    for rnd in range(KILLS):
        # Let windows fire and a checkpoint or two commit, then crash while
        # the next transaction is open.
        base = (status("eo_agg") or {"status": {"records_out": 0}})["status"]["records_out"]
        f = fnlib.wait_fn(b, call, "eo_agg",
                          lambda j: j["status"]["records_out"] > base + 20, 60)
        time.sleep(0.1 + 0.13 * (rnd % 4))
        b.kill()
        kills += 1
        time.sleep(0.3)
        if not b.start():
            break
    tap.is_(kills, KILLS, "killed -9 %d times while input was flowing" % KILLS)
    st, _, f = call(b, "GET", "/api/v1/functions/eo_agg")
    tap.is_((st, f["state"]), (200, "running"), "the function is running after the crashes")
    time.sleep(1.0)
    tap.is_(feeder.stop(), [], "input fed throughout (idempotent producer)")
    tap.is_(fnlib.produce_rows(b, "eo_in", flush_rows()), [], "watermark flush produced")
    inp, errs, complete = read_values("eo_in", 3, "read_uncommitted", timeout=60)
    tap.ok(complete and len(inp) >= feeder.next,
           "input topic read back (%d records, %d sent)" % (len(inp), feeder.next))
    want = reference(inp)
    got = agg_results(wait_committed("eo_out", want))
    f = status("eo_agg")
    tap.is_(f["status"]["late"], 0, "no input record was late")
    dup = [k for k, n in got.items() if n > 1]
    tap.is_((sorted(got - want), sorted(want - got), dup[:5]), ([], [], []),
            "read_committed: every window result exactly once (%d results)" % sum(want.values()))
    unc, _, _ = read_values("eo_out", 3, "read_uncommitted")
    unc = agg_results(unc)
    tap.diag("read_uncommitted sees %d results for %d expected (aborted transactions' repeats)"
             % (sum(unc.values()), sum(want.values())))
    tap.ok(all(unc[k] >= 1 for k in want), "read_uncommitted: every result at least once")

with tap.section("crash after the checkpoint, before the commit", cases=8, timeout=200):
    fnlib.create_topic(b, call, "eb_in", 3)
    tap.is_(b.stop(), 0, "broker stops for the fault run")
    os.environ["RUNNEL_FN_FAULT"] = "exit-before-commit:4"
    ok = b.start()
    del os.environ["RUNNEL_FN_FAULT"]
    tap.ok(ok, "broker starts with RUNNEL_FN_FAULT=exit-before-commit:4")
    part1 = [row(i) for i in range(3000)]
    st, f = create("eb_agg", AGG_SQL.format(out="eb_out", inp="eb_in"),
                   {"checkpoint.interval": "200ms"})
    tap.is_(st, 201, "aggregate created")
    fnlib.produce_rows(b, "eb_in", part1[:1000])
    proc = b.proc
    for i in range(1000, 3000, 100):
        if proc.poll() is not None:
            break
        fnlib.produce_rows(b, "eb_in", part1[i:i + 100])
        time.sleep(0.2)
    try:
        rc = proc.wait(60)
    except Exception:  # noqa: BLE001
        rc = None
    b.alive()  # reaps it in the harness
    tap.is_(rc, 86, "the broker exited before committing a checkpoint's transaction")
    tap.ok(b.start(), "start again (no fault)")
    fnlib.produce_rows(b, "eb_in", flush_rows())
    inp, errs, complete = read_values("eb_in", 3, "read_uncommitted")
    want = reference(inp)
    got = agg_results(wait_committed("eb_out", want))
    tap.ok("committed the transaction of its last checkpoint" in log_text(),
           "the restart committed the transaction the checkpoint covers")
    dup = [k for k, n in got.items() if n > 1]
    tap.is_((sorted(got - want), sorted(want - got), dup[:5]), ([], [], []),
            "read_committed: every window result exactly once (%d results)" % sum(want.values()))
    tap.is_(status("eb_agg")["state"], "running", "the function runs on")

with tap.section("filter: kill -9 mid-stream", cases=5, timeout=200):
    fnlib.create_topic(b, call, "ef_in", 3)
    rows = [row(i) for i in range(30000)]
    st, f = create("ef", "INSERT INTO ef_out SELECT user_id, amount, ts FROM ef_in "
                   "WHERE amount > 25", {"checkpoint.interval": "100ms"})
    tap.is_(st, 201, "filter created")
    fnlib.produce_rows(b, "ef_in", rows[:15000])
    fnlib.wait_fn(b, call, "ef", lambda j: j["status"]["records_out"] > 0, 30)
    fnlib.produce_rows(b, "ef_in", rows[15000:])
    b.kill()
    tap.ok(b.start(), "kill -9 in the middle, start again")
    want = collections.Counter(json.dumps(r["value"], sort_keys=True) for r in rows
                               if r["value"]["amount"] > 25)
    fnlib.wait_fn(b, call, "ef", lambda j: j["status"]["lag"] == 0, 60)
    got = wait_committed("ef_out", want)
    got = collections.Counter(json.dumps(v, sort_keys=True) for v in got)
    tap.is_(sum(got.values()), sum(want.values()), "read_committed: as many results as passing "
            "inputs")
    tap.ok(got == want, "read_committed: each passing input exactly once")
    unc, _, _ = read_values("ef_out", 3, "read_uncommitted")
    tap.diag("read_uncommitted: %d results for %d passing inputs" % (len(unc), sum(want.values())))
    tap.ok(len(unc) >= sum(want.values()), "read_uncommitted: at least as many")

with tap.section("delivery option", cases=4, timeout=60):
    st, f = create("al", "INSERT INTO al_out SELECT * FROM ef_in",
                   {"delivery": "at-least-once"})
    tap.is_((st, f and f.get("delivery")), (201, "at-least-once"), "delivery=at-least-once")
    st, f = create("bad", "INSERT INTO bad_out SELECT * FROM ef_in", {"delivery": "twice"})
    tap.is_((st, f and f.get("error_code")), (400, "INVALID_CONFIG"), "a bad delivery value: 400")
    f = fnlib.wait_fn(b, call, "al", lambda j: j["status"]["lag"] == 0, 60)
    tap.ok(f is not None, "the at-least-once function runs")
    st, _, text = call(b, "GET", "/api/v1/functions/al/flink", raw=True)
    tap.ok(st in (200, 501), "the Flink export ignores delivery (status %s)" % st)

tap.is_(b.stop(), 0, "broker stops cleanly")
tap.done()
