"""0710-admin-python: the admin APIs through the two Python admin clients.

confluent-kafka 1.7.0 AdminClient (librdkafka 2.0.2: CreatePartitions v0,
AlterConfigs v0, DescribeConfigs v1 with synonyms): create_partitions
(validate_only, an explicit replica assignment, a shrink refused),
alter_configs on a topic (the whole set of overrides is replaced) and on
this broker and the cluster-wide default, describe_configs with the config
sources (a static broker value from the command line shows as
STATIC_BROKER_CONFIG), a read-only broker config refused; a dynamic
num.partitions used by topic auto-creation at once.

kafka-python 2.0.2 KafkaAdminClient (negotiated versions: CreatePartitions
v1, AlterConfigs v1, DescribeConfigs v2): describe_cluster,
create_partitions, alter_configs, describe_configs with synonyms.

Then a restart keeps every change, checked with both clients.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

tap = harness.Tap(timeout=240)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
kafka = harness.require_module(tap, "kafka", "python3-kafka")
import kafka.errors  # noqa: E402
from confluent_kafka import KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import (AdminClient, ConfigResource, ConfigSource,  # noqa: E402
                                   NewPartitions, NewTopic)
from kafka.admin import ConfigResource as KConfigResource  # noqa: E402
from kafka.admin import ConfigResourceType, KafkaAdminClient  # noqa: E402
from kafka.admin import NewPartitions as KNewPartitions  # noqa: E402

STATIC_SEGMENT_BYTES = "50000000"
tap.plan(34)
broker = harness.Broker(tap, advertise=True, args=[
    "--set", "http.listener=",  # no HTTP server: its port may be taken
    "--set", "log.segment.bytes=" + STATIC_SEGMENT_BYTES, "--set", "auto.create.topics.enable=true"])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
CONF = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}


def results(fs):
    """{key: None or 'ERROR_NAME'} from a dict of admin futures."""
    out = {}
    for k, f in fs.items():
        try:
            f.result()
            out[str(k)] = None
        except KafkaException as e:
            out[str(k)] = e.args[0].name()
    return out


def nparts(admin, topic):
    md = admin.list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    return len(t.partitions) if t is not None and t.error is None else -1


def ck_config(admin, typ, name, key):
    fs = admin.describe_configs([ConfigResource(typ, name)])
    for f in fs.values():
        e = f.result().get(key)
        return (e.value, ConfigSource(e.source).name) if e is not None else None


def kp_entries(resp):
    """{name: (value, source, [synonym sources])} of the first resource of a
    kafka-python DescribeConfigsResponse (v1+)."""
    res = resp.resources[0]
    out = {}
    for ent in res[4]:
        name, value, _ro, source = ent[0], ent[1], ent[2], ent[3]
        syn = [s[2] for s in ent[5]] if len(ent) > 5 else []
        out[name] = (value, source, syn)
    return res[0], out


admin = AdminClient(CONF)

with tap.section("confluent-kafka AdminClient", 14, 90):
    tap.is_(results(admin.create_topics([NewTopic("py-a", 3, 1)], operation_timeout=10)),
            {"py-a": None}, "create_topics py-a with 3 partitions")
    tap.is_(results(admin.create_partitions([NewPartitions("py-a", 5)], validate_only=True)),
            {"py-a": None}, "create_partitions validate_only 3 -> 5")
    tap.is_(nparts(admin, "py-a"), 3, "validate_only kept 3 partitions")
    tap.is_(results(admin.create_partitions([NewPartitions("py-a", 5)])), {"py-a": None},
            "create_partitions 3 -> 5")
    tap.is_(nparts(admin, "py-a"), 5, "py-a has 5 partitions")
    tap.is_(results(admin.create_partitions([NewPartitions("py-a", 4)])),
            {"py-a": "INVALID_PARTITIONS"}, "shrinking is INVALID_PARTITIONS")
    tap.is_(results(admin.create_partitions([NewPartitions("py-a", 6, replica_assignment=[[1]])])),
            {"py-a": None}, "5 -> 6 with the new partition assigned to broker 1")
    res = ConfigResource("topic", "py-a", set_config={"retention.ms": "86400000",
                                                       "cleanup.policy": "compact,delete"})
    tap.is_(results(admin.alter_configs([res])), {str(res): None}, "alter_configs topic py-a")
    tap.is_((ck_config(admin, "topic", "py-a", "retention.ms"),
             ck_config(admin, "topic", "py-a", "cleanup.policy")),
            (("86400000", "DYNAMIC_TOPIC_CONFIG"), ("compact,delete", "DYNAMIC_TOPIC_CONFIG")),
            "both overrides described as DYNAMIC_TOPIC_CONFIG")
    tap.is_(ck_config(admin, "topic", "py-a", "segment.bytes"),
            (STATIC_SEGMENT_BYTES, "STATIC_BROKER_CONFIG"),
            "segment.bytes inherits the static log.segment.bytes")
    res = ConfigResource("topic", "py-a", set_config={"retention.ms": "1000"})
    results(admin.alter_configs([res]))
    tap.is_(ck_config(admin, "topic", "py-a", "cleanup.policy"), ("delete", "DEFAULT_CONFIG"),
            "alter_configs replaces the whole set: cleanup.policy back to the default")
    res = ConfigResource("broker", "1", set_config={"log.segment.bytes": "60000000"})
    tap.is_(results(admin.alter_configs([res])), {str(res): None}, "alter_configs broker 1")
    tap.is_(ck_config(admin, "topic", "py-a", "segment.bytes"), ("60000000", "DYNAMIC_BROKER_CONFIG"),
            "the topic inherits the dynamic broker value")
    res = ConfigResource("broker", "1", set_config={"listeners": "PLAINTEXT://0.0.0.0:1"})
    tap.is_(results(admin.alter_configs([res])), {str(res): "INVALID_REQUEST"},
            "a read-only broker config is INVALID_REQUEST")

with tap.section("kafka-python KafkaAdminClient", 9, 90):
    kadmin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="rn-it-admin",
                              request_timeout_ms=20000)
    cl = kadmin.describe_cluster()
    tap.is_((cl["controller_id"], [(b["node_id"], b["host"], b["port"]) for b in cl["brokers"]]),
            (1, [(1, "127.0.0.1", broker.port)]), "describe_cluster: broker 1 is the controller")
    resp = kadmin.create_partitions({"py-a": KNewPartitions(total_count=8)})
    tap.is_([(t[0], t[1]) for t in resp.topic_errors], [("py-a", 0)], "create_partitions 6 -> 8")
    try:
        kadmin.create_partitions({"py-a": KNewPartitions(total_count=8)})
        err = None
    except kafka.errors.KafkaError as e:
        err = type(e).__name__
    tap.is_(err, "InvalidPartitionsError", "the same count again is INVALID_PARTITIONS")
    resp = kadmin.alter_configs([KConfigResource(ConfigResourceType.TOPIC, "py-a",
                                                 configs={"retention.ms": "5000",
                                                          "max.message.bytes": "400000"})])
    tap.is_([r[0] for r in resp.resources], [0], "alter_configs topic py-a")
    resp = kadmin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, "py-a")],
                                   include_synonyms=True)
    code, es = kp_entries(resp[0])
    tap.is_((code, es["retention.ms"][:2], es["max.message.bytes"][:2], es["retention.ms"][2]),
            (0, ("5000", 1), ("400000", 1), [1, 5]),
            "describe_configs: overrides with their synonyms")
    resp = kadmin.describe_configs([KConfigResource(ConfigResourceType.BROKER, "1")],
                                   include_synonyms=True)
    code, es = kp_entries(resp[0])
    tap.is_((code, es["log.segment.bytes"]), (0, ("60000000", 2, [2, 4, 5])),
            "broker 1: dynamic over static over default")
    # confluent-kafka 1.7 refuses a broker resource without a name; the
    # cluster-wide default goes through kafka-python.
    resp = kadmin.alter_configs([KConfigResource(ConfigResourceType.BROKER, "",
                                                 configs={"num.partitions": "7"})])
    tap.is_([r[0] for r in resp.resources], [0], "alter_configs cluster-wide default num.partitions = 7")
    resp = kadmin.describe_configs([KConfigResource(ConfigResourceType.BROKER, "1",
                                                    configs={"num.partitions": None})],
                                   include_synonyms=True)
    code, es = kp_entries(resp[0])
    tap.is_(es.get("num.partitions"), ("7", 3, [3, 5]),
            "broker 1 reports it as DYNAMIC_DEFAULT_BROKER_CONFIG")
    p = Producer(CONF)
    p.produce("py-auto", b"x")
    p.flush(20)
    tap.is_(nparts(admin, "py-auto"), 7, "an auto-created topic gets 7 partitions at once")
    kadmin.close()

with tap.section("restart", 9, 90):
    tap.ok(broker.restart(), "broker restarts on the same data directory")
    admin = AdminClient(CONF)
    tap.is_(nparts(admin, "py-a"), 8, "py-a still has 8 partitions")
    tap.is_(nparts(admin, "py-auto"), 7, "py-auto still has 7 partitions")
    tap.is_(ck_config(admin, "topic", "py-a", "retention.ms"), ("5000", "DYNAMIC_TOPIC_CONFIG"),
            "topic override kept")
    tap.is_(ck_config(admin, "broker", "1", "log.segment.bytes"), ("60000000", "DYNAMIC_BROKER_CONFIG"),
            "dynamic broker config kept over the static one")
    tap.is_(ck_config(admin, "broker", "1", "num.partitions"), ("7", "DYNAMIC_DEFAULT_BROKER_CONFIG"),
            "cluster-wide default kept")
    kadmin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="rn-it-admin",
                              request_timeout_ms=20000)
    resp = kadmin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, "py-a")])
    code, es = kp_entries(resp[0])
    tap.is_(es["max.message.bytes"][:2], ("400000", 1), "kafka-python sees the override too")
    kadmin.close()
    res = ConfigResource("broker", "1", set_config={})
    tap.is_(results(admin.alter_configs([res])), {str(res): None},
            "alter_configs broker 1 with no configs clears its dynamic set")
    tap.is_(ck_config(admin, "broker", "1", "log.segment.bytes"),
            (STATIC_SEGMENT_BYTES, "STATIC_BROKER_CONFIG"), "the static value is back")

tap.is_(broker.stop(), 0, "broker stops cleanly")
tap.done()
