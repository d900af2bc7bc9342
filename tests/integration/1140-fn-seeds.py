"""1140-fn-seeds: the seed workloads, one `runnel fn create` command each.

The people runnel is for run these Flink jobs today (issue #5): a
high-value transaction filter, per-user spend per minute, event counts in
30 s windows sliding every 10 s with 5 s of out-of-orderness, per-user
session summaries and window-enriched clickstream events. Each is
registered here with the CLI exactly as docs/functions.md shows it (the
statement and options of its golden case in tests/functions/), its input
is produced with confluent-kafka, and a read_committed consumer of the
output topic must see exactly the golden case's expected rows (Flink's
event-time results; partition = murmur2 of the key for window results).
"""

import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import fnlib  # noqa: E402
import importlib.util  # noqa: E402

lib = harness.load_httplib()
call = lib.call

# case name, input topic named in its statement, output topic, late/dlq topic
SEEDS = [
    ("filter-high-value", "transactions", "high_value_transactions", None),
    ("tumble-user-spend", "transactions", "user_aggregations", None),
    ("hop-event-counts", "events", "event_counts", ("late", "late_events")),
    ("session-per-user", "clickstream", "user_sessions", None),
    ("window-enrich-clickstream", "clickstream", "enriched_clicks", ("dlq", "clicks_dlq")),
]
CLI_OPTS = {"watermark.delay": "--watermark-delay", "late.topic": "--late-topic",
            "dlq.topic": "--dlq-topic", "allowed.lateness": "--allowed-lateness",
            "emit": "--emit", "watermark.idle-timeout": "--idle-timeout"}

tap = harness.Tap(timeout=400)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
tap.plan(1 + 4 * len(SEEDS) + 2)
b = lib.HttpBroker(tap)
if not tap.ok(b.start(), "broker starts"):
    tap.bail("broker did not start")
top = os.environ.get("RN_TOP_BUILDDIR", ".")
RUNNEL = os.environ.get("RUNNEL") or os.path.join(top, "runnel")


def runnel(*args):
    server = "http://%s:%d" % (b.http_host, b.http_port)
    p = subprocess.run([RUNNEL, "--server", server] + list(args), capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


for case, inp_topic, out_topic, side in SEEDS:
    with tap.section(case, cases=4, timeout=120):
        sql, opts, inp, exp, stats = fnlib.load_case(case)
        nparts = max([int(opts.pop("partitions", "1"))] +
                     [r.get("partition", 0) + 1 for r in inp])
        # Each seed reads its own copy of the input topic and writes its own
        # outputs (two seeds read "clickstream", two "transactions").
        tag = case.replace("-", "_")
        src = "%s_%s" % (inp_topic, tag)
        sql = re.sub(r"\b%s\b" % inp_topic, src, sql)
        out = "%s_%s" % (out_topic, tag)
        sql = re.sub(r"\b%s\b" % out_topic, out, sql)
        st, _ = fnlib.create_topic(b, call, src, nparts)
        args = ["fn", "create", tag, "--checkpoint-interval", "300ms"]
        for k, v in opts.items():
            if k in ("late.topic", "dlq.topic"):
                v = "%s_%s" % (v, tag)
            args += [CLI_OPTS[k], v]
        rc, so, se = runnel(*(args + [sql]))
        tap.is_((st, rc, se.strip()), (201, 0, ""), "runnel fn create %s (one command)" % tag)
        # One record per batch: the task sees the watermark from before each
        # batch, as the golden runner feeds them.
        tap.is_(fnlib.produce_rows(b, src, inp, one_per_batch=True), [],
                "%d input records produced" % len(inp))
        want = fnlib.expected_rows(exp, "out", nparts)
        deadline = time.monotonic() + 60
        got = []
        while time.monotonic() < deadline:
            recs, errs, complete = fnlib.read_topic(b, out, nparts, timeout=20)
            got = fnlib.got_rows(recs)
            if complete and len(got) >= len(want):
                break
            time.sleep(0.5)
        time.sleep(1.0)  # nothing more may arrive
        recs, errs, complete = fnlib.read_topic(b, out, nparts, timeout=20)
        tap.is_(fnlib.got_rows(recs), want,
                "%s: read_committed output equals expected.jsonl (%d rows)" % (out, len(want)))
        if side:
            kind, topic = side
            srecs, _, _ = fnlib.read_topic(b, "%s_%s" % (topic, tag), nparts, timeout=20)
            n_side = len([e for e in exp if e["topic"] == kind])
            tap.is_(len(srecs), n_side, "%s records routed to %s_%s" % (kind, topic, tag))
        else:
            rc, so, se = runnel("fn", "describe", tag)
            tap.ok(rc == 0 and "running" in so, "runnel fn describe %s: running" % tag, so[:400])

rc, so, se = runnel("fn", "list")
tap.ok(rc == 0 and all(c.replace("-", "_") in so for c, _, _, _ in SEEDS),
       "runnel fn list shows the five seed functions", so)
tap.is_(b.stop(), 0, "broker stops cleanly")
tap.done()
