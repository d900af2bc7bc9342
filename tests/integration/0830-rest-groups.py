"""0830-rest-groups: consumer groups over the REST API.

A confluent-kafka consumer group (subscribe, commit) is listed and
described while it runs: state, members, the decoded assignment covering
every partition, committed offsets and lag (which grows when records are
produced). Offsets cannot be reset or the group deleted while it has
members (409). After it stops: reset to earliest as a dry run (nothing
committed) and for real (a new consumer then re-reads everything), reset
to an offset, a timestamp and latest for chosen partitions, reset of a
group that does not exist yet (naming a topic), parameter errors,
deletion, and 404 for unknown groups.
"""

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

tap.plan(25)
b = lib.HttpBroker(tap)
if not tap.ok(b.start(), "broker starts with the HTTP server ready"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": b.bootstrap, "broker.address.family": "v4"}
call = lib.call
BASE_TS = int(time.time() * 1000) - 600 * 1000
N = 40


def consume(c, n, timeout=60):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        for m in c.consume(100, 0.5):
            if not m.error():
                got.append(m)
    return got


def group(gid):
    return call(b, "GET", "/api/v1/groups/" + gid)


with tap.section("a running group", cases=8, timeout=120):
    call(b, "POST", "/api/v1/topics", {"name": "gt", "partitions": 2})
    recs = [(b"k%d" % i, b"v%d" % i, None, BASE_TS + i * 1000) for i in range(N)]
    reports, errors, left = harness.ck_produce(dict(COMMON), "gt", recs)
    per = {0: 0, 1: 0}
    for p, _ in reports:
        per[p] += 1
    tap.ok(not errors and left == 0, "%d records produced" % N, errors)
    c = ck.Consumer(dict(COMMON, **{"group.id": "g1", "auto.offset.reset": "earliest",
                                    "enable.auto.commit": False, "client.id": "rest-it"}))
    c.subscribe(["gt"])
    got = consume(c, N)
    c.commit(asynchronous=False)
    tap.is_(len(got), N, "the group consumer read every record and committed")
    st, _, body = call(b, "GET", "/api/v1/groups")
    g = {x["group_id"]: x for x in body.get("groups", [])}.get("g1")
    tap.ok(st == 200 and g and g["state"] == "Stable" and g["member_count"] == 1 and g["lag"] == 0,
           "GET /groups lists g1: Stable, one member, no lag", g)
    st, _, d = group("g1")
    m = d["members"][0] if d.get("members") else {}
    tap.ok(st == 200 and d["protocol_type"] == "consumer" and m.get("client_id") == "rest-it",
           "GET /groups/g1 describes the member", d)
    tap.is_(m.get("assignment"), [{"topic": "gt", "partitions": [0, 1]}],
            "the member's assignment is decoded")
    offs = {o["partition"]: (o["committed_offset"], o["log_end_offset"], o["lag"])
            for o in d["offsets"]}
    tap.is_(offs, {0: (per[0], per[0], 0), 1: (per[1], per[1], 0)},
            "committed offsets, log end offsets and zero lag")
    harness.ck_produce(dict(COMMON), "gt", [(b"x", b"more", None, None)] * 5 +
                       [(b"y", b"more", None, None)] * 3)
    st, _, d = group("g1")
    tap.is_(d["lag"], 8, "lag grows by the records produced since")
    st, _, e = call(b, "POST", "/api/v1/groups/g1/reset-offsets", {"to": "earliest"})
    st2, _, e2 = call(b, "DELETE", "/api/v1/groups/g1")
    tap.is_((st, e["error_code"], st2, e2["error_code"]),
            (409, "NON_EMPTY_GROUP", 409, "NON_EMPTY_GROUP"),
            "a group with members cannot be reset or deleted")
    c.close()

with tap.section("reset offsets", cases=10, timeout=120):
    st, _, d = group("g1")
    tap.is_((st, d["state"], d["members"]), (200, "Empty", []), "the group is Empty after close")
    before = {o["partition"]: o["committed_offset"] for o in d["offsets"]}
    st, _, r = call(b, "POST", "/api/v1/groups/g1/reset-offsets", {"to": "earliest", "dry_run": True})
    tap.is_((st, sorted((o["partition"], o["offset"], o["previous_offset"]) for o in r["offsets"])),
            (200, [(0, 0, before[0]), (1, 0, before[1])]), "dry run shows the new and old offsets")
    st, _, d = group("g1")
    tap.is_({o["partition"]: o["committed_offset"] for o in d["offsets"]}, before,
            "a dry run commits nothing")
    st, _, r = call(b, "POST", "/api/v1/groups/g1/reset-offsets", {"to": "earliest"})
    st2, _, d = group("g1")
    tap.is_((st, {o["partition"]: o["committed_offset"] for o in d["offsets"]}), (200, {0: 0, 1: 0}),
            "reset to earliest commits offset 0")
    c = ck.Consumer(dict(COMMON, **{"group.id": "g1", "enable.auto.commit": False}))
    c.subscribe(["gt"])
    again = consume(c, N + 8)
    c.close()
    tap.is_(len(again), N + 8, "a new member of the group re-reads everything")
    st, _, r = call(b, "POST", "/api/v1/groups/g1/reset-offsets",
                    {"to": "offset", "offset": 3, "topic": "gt", "partitions": [0]})
    st2, _, d = group("g1")
    tap.is_((st, [o["committed_offset"] for o in d["offsets"] if o["partition"] == 0]), (200, [3]),
            "reset to an offset for one partition")
    st, _, r = call(b, "POST", "/api/v1/groups/g1/reset-offsets",
                    {"to": "timestamp", "timestamp": BASE_TS + 10000, "topic": "gt"})
    want = {p: sum(1 for (pp, _), rec in zip(reports, recs) if pp == p and rec[3] < BASE_TS + 10000)
            for p in (0, 1)}
    got = {o["partition"]: o["offset"] for o in r.get("offsets", [])}
    tap.is_((st, got), (200, want), "reset to a timestamp finds the first offset at or after it")
    st, _, r = call(b, "POST", "/api/v1/groups/g1/reset-offsets", {"to": "latest", "topic": "gt"})
    st2, _, d = group("g1")
    tap.is_((st, d["lag"]), (200, 0), "reset to latest leaves no lag")
    st, _, r = call(b, "POST", "/api/v1/groups/fresh/reset-offsets", {"to": "earliest", "topic": "gt"})
    st2, _, d = group("fresh")
    tap.is_((st, st2, sorted(o["committed_offset"] for o in d.get("offsets", []))), (200, 200, [0, 0]),
            "resetting a new group for a topic creates its offsets")
    errs = [call(b, "POST", "/api/v1/groups/g1/reset-offsets", body)[0] for body in
            ({}, {"to": "somewhere"}, {"to": "offset"}, {"to": "earliest", "partitions": [0]},
             {"to": "earliest", "topic": "nope"}, {"to": "earliest", "topic": "gt", "partitions": [9]})]
    tap.is_(errs, [400, 400, 400, 400, 404, 404], "bad reset requests are 400/404")

with tap.section("delete and unknown groups", cases=5, timeout=60):
    st, _, body = call(b, "DELETE", "/api/v1/groups/g1")
    tap.is_((st, body), (200, {"deleted": "g1"}), "DELETE /groups/g1 once it is empty")
    st, _, e = group("g1")
    tap.is_((st, e["error_code"]), (404, "GROUP_ID_NOT_FOUND"), "the deleted group is gone")
    st, _, e = call(b, "DELETE", "/api/v1/groups/never")
    tap.is_((st, e["error_code"]), (404, "GROUP_ID_NOT_FOUND"), "deleting an unknown group is 404")
    st, _, e = call(b, "POST", "/api/v1/groups/never/reset-offsets", {"to": "latest"})
    tap.is_((st, e["error_code"]), (404, "GROUP_ID_NOT_FOUND"),
            "resetting an unknown group without a topic is 404")
    st, _, body = call(b, "GET", "/api/v1/groups")
    tap.is_([g["group_id"] for g in body["groups"]], ["fresh"], "the list reflects all that")

tap.ok(b.stop() == 0, "broker stops cleanly (exit 0)")
tap.done()
