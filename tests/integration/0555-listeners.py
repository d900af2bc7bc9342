"""0555-listeners: several named listeners with their own advertised addresses.

Kafka's listeners / advertised.listeners, matched by listener name: a client
that connects through a listener must get that listener's advertised address
back in Metadata and FindCoordinator (this is what lets containers and the
host reach one broker under different names). Checked with
confluent-kafka's list_topics (Metadata) and a produce/consume round trip
through the second listener.
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

tap = harness.Tap(timeout=120)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

tap.plan(7)
ext = harness.free_port()
broker = harness.Broker(tap)
broker.args = ["--listen", "PLAINTEXT://%s,EXTERNAL://127.0.0.1:%d" % (broker.bootstrap, ext),
               "--advertise", "PLAINTEXT://%s,EXTERNAL://localhost:0" % broker.bootstrap]
if not tap.ok(broker.start(), "broker starts with two listeners"):
    tap.bail("broker did not start")


def brokers_seen(bootstrap):
    p = Producer({"bootstrap.servers": bootstrap})
    md = p.list_topics(timeout=10)
    return sorted((b.host, b.port) for b in md.brokers.values())


tap.is_(brokers_seen(broker.bootstrap), [("127.0.0.1", broker.port)],
        "PLAINTEXT listener advertises its own address")
tap.is_(brokers_seen("127.0.0.1:%d" % ext), [("localhost", ext)],
        "EXTERNAL listener advertises localhost with its bound port")

ext_bs = "localhost:%d" % ext
p = Producer({"bootstrap.servers": ext_bs, "acks": "all"})
errs = []
for i in range(100):
    p.produce("via-external", value=b"m%d" % i, on_delivery=lambda e, m: errs.append(e) if e else None)
tap.is_(p.flush(30), 0, "every record delivered through the EXTERNAL listener")
tap.is_(errs, [], "no delivery errors")
c = Consumer({"bootstrap.servers": ext_bs, "group.id": "unused", "enable.auto.commit": False})
c.assign([TopicPartition("via-external", 0, 0)])
got = []
while len(got) < 100:
    m = c.poll(10)
    if m is None:
        break
    if not m.error():
        got.append(m.value())
c.close()
tap.is_(got, [b"m%d" % i for i in range(100)], "records read back through the EXTERNAL listener")
tap.is_(broker.stop(), 0, "broker exits 0 on SIGTERM")
tap.done()
