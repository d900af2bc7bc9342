"""0800-rest-topics: cluster and topic resources of the REST API.

GET /api/v1/cluster against what the Kafka listener reports; topic
creation through REST seen by kcat -L and by confluent-kafka's AdminClient
(partitions and topic configs); creation errors (existing name, bad name,
bad or unknown config, replication factor, partitions, bad JSON, unknown
fields); list (with and without internal topics), describe, configs
(source of each value), partitions (offsets after producing through
Kafka); a topic created through Kafka visible through REST; deletion
(gone for REST and kcat, name reusable at once; internal topics refused);
405/404 handling; percent-decoded path segments; everything survives a
restart.
"""

import os
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
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

tap.plan(47)
b = lib.HttpBroker(tap)
if not tap.ok(b.start(), "broker starts with the HTTP server ready"):
    tap.bail("broker did not start")
COMMON = {"bootstrap.servers": b.bootstrap, "broker.address.family": "v4"}
call = lib.call


def kcat_topics():
    """{topic: partition count} from kcat -L, or None without kcat."""
    if not shutil.which("kcat"):
        return None
    out = subprocess.run(["timeout", "30", "kcat", "-b", b.bootstrap, "-X",
                          "broker.address.family=v4", "-L", "-J"], capture_output=True)
    import json
    md = json.loads(out.stdout)
    return {t["topic"]: len(t["partitions"]) for t in md["topics"]}


with tap.section("health and cluster", cases=4, timeout=30):
    st, _, body = call(b, "GET", "/healthz")
    tap.is_((st, body), (200, {"status": "ok"}), "GET /healthz")
    st, _, body = call(b, "GET", "/readyz")
    tap.is_((st, body.get("status")), (200, "ready"), "GET /readyz is ready")
    st, _, c = call(b, "GET", "/api/v1/cluster")
    tap.is_((st, c["kafka_listener"], c["brokers"][0]["port"], c["node_id"]),
            (200, b.bootstrap, b.port, 1), "cluster: listener, advertised port, node id")
    tap.ok(len(c["cluster_id"]) == 22 and c["http_listener"] == "127.0.0.1:%d" % b.http_port,
           "cluster: Kafka-style cluster id and the HTTP listener", repr(c))

with tap.section("create", cases=12, timeout=60):
    st, _, t = call(b, "POST", "/api/v1/topics", {"name": "rest-a", "partitions": 3,
                                                 "configs": {"retention.ms": 3600000,
                                                             "cleanup.policy": "delete"}})
    tap.is_((st, t.get("name"), t.get("partition_count"), len(t.get("partitions", []))),
            (201, "rest-a", 3, 3), "POST /topics creates a topic (201)")
    tap.is_(t["configs"]["retention.ms"], "3600000", "its config override is in effect")
    kt = kcat_topics()
    if kt is None:
        tap.skip(1, "kcat not installed")
    else:
        tap.is_(kt.get("rest-a"), 3, "kcat -L sees the topic with 3 partitions")
    admin = AdminClient(dict(COMMON))
    res = ConfigResource(ConfigResource.Type.TOPIC, "rest-a")
    cfg = admin.describe_configs([res])[res].result(30)
    tap.is_(cfg["retention.ms"].value, "3600000", "AdminClient describe_configs sees retention.ms")
    st, _, e = call(b, "POST", "/api/v1/topics", {"name": "rest-a", "partitions": 1})
    tap.is_((st, e["error_code"]), (409, "TOPIC_ALREADY_EXISTS"), "an existing name is 409")
    st, _, e = call(b, "POST", "/api/v1/topics", {"name": "bad name!"})
    tap.is_((st, e["error_code"]), (400, "INVALID_TOPIC_EXCEPTION"), "a bad name is 400")
    st, _, e = call(b, "POST", "/api/v1/topics", {"name": "rest-b",
                                                 "configs": {"retention.ms": "soon"}})
    tap.is_((st, e["error_code"]), (400, "INVALID_CONFIG"), "a bad config value is 400")
    st, _, e = call(b, "POST", "/api/v1/topics", {"name": "rest-b", "configs": {"nope.x": "1"}})
    tap.ok(st == 400 and e["error_code"] == "INVALID_CONFIG" and "Unknown" in e["message"],
           "an unknown config is 400 INVALID_CONFIG", repr(e))
    st, _, e = call(b, "POST", "/api/v1/topics", {"name": "rest-b", "replication_factor": 3})
    tap.is_((st, e["error_code"]), (400, "INVALID_REPLICATION_FACTOR"), "replication factor 3 is 400")
    st, _, e = call(b, "POST", "/api/v1/topics", {"name": "rest-b", "partitions": 0})
    tap.is_((st, e["error_code"]), (400, "INVALID_PARTITIONS"), "0 partitions is 400")
    bad = [call(b, "POST", "/api/v1/topics", body)[0:3:2] for body in
           (None, "{not json", {"name": "x", "colour": "red"}, ["rest-b"])]
    tap.is_([(s, e["error_code"]) for s, e in bad],
            [(400, "INVALID_JSON"), (400, "INVALID_JSON"), (400, "BAD_REQUEST"),
             (400, "BAD_REQUEST")], "missing/malformed JSON, unknown field, wrong type are 400")
    st, _, t = call(b, "POST", "/api/v1/topics", {"name": "rest-default"})
    tap.is_((st, t["partition_count"]), (201, 1), "partitions default to num.partitions")

with tap.section("list, describe, configs", cases=7, timeout=30):
    st, _, body = call(b, "GET", "/api/v1/topics")
    names = {t["name"]: t for t in body["topics"]}
    tap.ok(st == 200 and "rest-a" in names and names["__consumer_offsets"]["internal"],
           "GET /topics lists topics, internal ones flagged", sorted(names))
    tap.is_(sorted(names) == list(n["name"] for n in body["topics"]), True, "sorted by name")
    st, _, body = call(b, "GET", "/api/v1/topics?internal=false")
    tap.ok(all(not t["internal"] for t in body["topics"]) and len(body["topics"]) >= 2,
           "?internal=false hides internal topics")
    st, _, t = call(b, "GET", "/api/v1/topics/rest%2Da")
    tap.is_((st, t["name"], [p["partition"] for p in t["partitions"]]), (200, "rest-a", [0, 1, 2]),
            "GET /topics/{t} (percent-encoded) describes partitions")
    st, _, e = call(b, "GET", "/api/v1/topics/nope")
    tap.is_((st, e["error_code"]), (404, "UNKNOWN_TOPIC_OR_PARTITION"), "unknown topic is 404")
    st, _, cf = call(b, "GET", "/api/v1/topics/rest-a/configs")
    src = {c["name"]: (c["value"], c["source"]) for c in cf["configs"]}
    tap.is_((src["retention.ms"], src["segment.bytes"][1]), (("3600000", "topic"), "default"),
            "configs report value and source")
    st, _, e = call(b, "PUT", "/api/v1/topics/rest-a", {})
    tap.is_((st, e["error_code"]), (405, "METHOD_NOT_ALLOWED"), "PUT on a topic is 405")

with tap.section("config changes", cases=6, timeout=60):
    st, _, cf = call(b, "PATCH", "/api/v1/topics/rest-a/configs",
                     {"configs": {"retention.ms": 7200000, "cleanup.policy": None,
                                  "max.message.bytes": "500000"}})
    src = {c["name"]: (c["value"], c["source"]) for c in cf.get("configs", [])}
    tap.is_((st, src.get("retention.ms"), src.get("max.message.bytes"),
             src.get("cleanup.policy", ("", ""))[1]),
            (200, ("7200000", "topic"), ("500000", "topic"), "default"),
            "PATCH configs sets and (null) removes overrides")
    admin = AdminClient(dict(COMMON))
    res = ConfigResource(ConfigResource.Type.TOPIC, "rest-a")
    cfg = admin.describe_configs([res])[res].result(30)
    tap.is_((cfg["retention.ms"].value, cfg["max.message.bytes"].value), ("7200000", "500000"),
            "AdminClient describe_configs sees the change")
    st, _, e = call(b, "PATCH", "/api/v1/topics/rest-a/configs", {"configs": {"retention.ms": "x"}})
    tap.is_((st, e["error_code"]), (400, "INVALID_CONFIG"), "a bad value is 400 INVALID_CONFIG")
    st, _, e = call(b, "PATCH", "/api/v1/topics/rest-a/configs", {"configs": {"no.such": "1"}})
    tap.is_((st, e["error_code"]), (400, "INVALID_CONFIG"), "an unknown config is 400")
    st, _, e = call(b, "PATCH", "/api/v1/topics/nope/configs", {"configs": {"retention.ms": "1"}})
    tap.is_((st, e["error_code"]), (404, "UNKNOWN_TOPIC_OR_PARTITION"), "an unknown topic is 404")
    st, _, e = call(b, "PATCH", "/api/v1/topics/rest-a/configs", {"retention.ms": "1"})
    tap.is_((st, e["error_code"]), (400, "BAD_REQUEST"), "a body without \"configs\" is 400")
with tap.section("partitions after Kafka produce", cases=3, timeout=60):
    recs = [(b"k%d" % i, b"v%d" % i, None, None) for i in range(10)]
    p = ck.Producer(dict(COMMON))
    for k, v, _, _ in recs:
        p.produce("rest-a", key=k, value=v, partition=1)
    left = p.flush(30)
    tap.is_(left, 0, "10 records produced to partition 1 through Kafka")
    st, _, body = call(b, "GET", "/api/v1/topics/rest-a/partitions")
    offs = {p["partition"]: (p["earliest_offset"], p["latest_offset"]) for p in body["partitions"]}
    tap.is_(offs, {0: (0, 0), 1: (0, 10), 2: (0, 0)}, "partition offsets after producing")
    tap.ok(body["partitions"][1]["size_bytes"] > 0, "partition 1 has bytes on disk")

with tap.section("topic created through Kafka", cases=2, timeout=60):
    admin = AdminClient(dict(COMMON))
    admin.create_topics([NewTopic("kafka-made", 4, 1)])["kafka-made"].result(30)
    st, _, t = call(b, "GET", "/api/v1/topics/kafka-made")
    tap.is_((st, t["partition_count"]), (200, 4), "REST sees a topic created by CreateTopics")
    st, _, t = call(b, "GET", "/api/v1/topics/kafka-made/partitions")
    tap.is_(len(t["partitions"]), 4, "and its 4 partitions")

with tap.section("delete", cases=7, timeout=60):
    st, _, body = call(b, "DELETE", "/api/v1/topics/rest-default")
    tap.is_((st, body), (200, {"deleted": "rest-default"}), "DELETE /topics/{t}")
    st, _, _ = call(b, "GET", "/api/v1/topics/rest-default")
    tap.is_(st, 404, "the deleted topic is gone for REST")
    kt = kcat_topics()
    if kt is None:
        tap.skip(1, "kcat not installed")
    else:
        tap.ok("rest-default" not in kt and "rest-a" in kt, "kcat -L no longer lists it", kt)
    st, _, t = call(b, "POST", "/api/v1/topics", {"name": "rest-default", "partitions": 2})
    tap.is_((st, t["partition_count"]), (201, 2), "its name can be reused at once")
    st, _, e = call(b, "DELETE", "/api/v1/topics/__consumer_offsets")
    tap.is_(st, 403, "an internal topic cannot be deleted")
    st, _, e = call(b, "DELETE", "/api/v1/topics/never-was")
    tap.is_((st, e["error_code"]), (404, "UNKNOWN_TOPIC_OR_PARTITION"), "deleting a missing topic is 404")
    st, _, e = call(b, "GET", "/api/v1/no/such/thing")
    tap.is_((st, e["error_code"], "message" in e), (404, "NOT_FOUND", True), "unknown path is 404 JSON")

with tap.section("restart", cases=4, timeout=90):
    tap.ok(b.restart(), "broker restarts")
    st, _, body = call(b, "GET", "/readyz")
    tap.is_(st, 200, "the HTTP server is ready again after the restart")
    st, _, t = call(b, "GET", "/api/v1/topics/rest-a")
    tap.is_((st, t.get("partition_count"), t.get("configs", {}).get("retention.ms")),
            (200, 3, "7200000"), "a REST-created topic and its changed config survive a restart")
    st, _, t = call(b, "GET", "/api/v1/topics/rest-a/partitions")
    tap.is_(t["partitions"][1]["latest_offset"], 10, "and its data")

tap.ok(b.stop() == 0, "broker stops cleanly (exit 0)")
tap.done()
