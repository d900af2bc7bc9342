#!/usr/bin/python3
"""capture.py: rebuild the request and batch seed corpora from real clients.

Usage: capture.py RUNNELD OUTDIR

Starts RUNNELD on a loopback port behind a small TCP proxy (the broker
advertises the proxy, so clients keep talking through it), runs kcat
(librdkafka), kafka-python and confluent-kafka clients (produce with every
codec, consume, consumer groups, admin calls, legacy magic 0/1 produce),
and writes:
  OUTDIR/raw/<api>-v<ver>-<n>   each request frame (header + body, no size)
  OUTDIR/data/                  the broker's data directory afterwards
tools/mkcorpus.py turns these into tests/fuzz/corpus/. Not run by make.
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

RUNNELD, OUT = sys.argv[1], sys.argv[2]
RAW = os.path.join(OUT, "raw")
os.makedirs(RAW, exist_ok=True)
counts = {}
lock = threading.Lock()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def save(frame):
    if len(frame) < 4:
        return
    api, ver = int.from_bytes(frame[0:2], "big"), int.from_bytes(frame[2:4], "big")
    with lock:
        n = counts.get((api, ver), 0)
        if n >= 6:
            return
        counts[(api, ver)] = n + 1
    with open(os.path.join(RAW, "%02d-v%02d-%d" % (api, ver, n)), "wb") as f:
        f.write(frame)


def pump(src, dst, record):
    buf = b""
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            dst.sendall(d)
            if record:
                buf += d
                while len(buf) >= 4:
                    n = int.from_bytes(buf[:4], "big")
                    if len(buf) < 4 + n:
                        break
                    save(buf[4:4 + n])
                    buf = buf[4 + n:]
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def proxy(listen_port, broker_port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(64)
    while True:
        c, _ = ls.accept()
        b = socket.create_connection(("127.0.0.1", broker_port))
        threading.Thread(target=pump, args=(c, b, True), daemon=True).start()
        threading.Thread(target=pump, args=(b, c, False), daemon=True).start()


def run(cmd, **kw):
    print("+", " ".join(cmd) if isinstance(cmd, list) else cmd, flush=True)
    try:
        subprocess.run(cmd, timeout=60, **kw)
    except Exception as e:  # a client failing still leaves useful frames
        print("  failed:", e)


def main():
    data = os.path.join(OUT, "data")
    bport, pport = free_port(), free_port()
    threading.Thread(target=proxy, args=(pport, bport), daemon=True).start()
    broker = subprocess.Popen([RUNNELD, "--data-dir", data, "--listen", "127.0.0.1:%d" % bport,
                               "--advertise", "127.0.0.1:%d" % pport, "--log-level", "warn"])
    time.sleep(1.0)
    bs = "127.0.0.1:%d" % pport
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        msgs = "".join("k%d:{\"n\": %d, \"s\": \"%s\"}\n" % (i, i, codec * 3) for i in range(20))
        run(["kcat", "-b", bs, "-P", "-t", "kc-" + codec, "-K:", "-z", codec,
             "-H", "h1=v1", "-X", "linger.ms=50"], input=msgs.encode())
        run(["kcat", "-b", bs, "-C", "-t", "kc-" + codec, "-e", "-o", "beginning", "-q"],
            stdout=subprocess.DEVNULL)
    run(["kcat", "-b", bs, "-L"], stdout=subprocess.DEVNULL)
    run(["kcat", "-b", bs, "-G", "kcgroup", "kc-none", "-e", "-q", "-X",
         "auto.offset.reset=earliest"], stdout=subprocess.DEVNULL)
    py = r'''
import sys, time
bs = sys.argv[1]
from kafka import KafkaProducer, KafkaConsumer, KafkaAdminClient
from kafka.admin import NewTopic, ConfigResource, ConfigResourceType
a = KafkaAdminClient(bootstrap_servers=bs)
a.create_topics([NewTopic("kp-admin", 3, 1)])
a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-admin")])
a.list_consumer_groups()
for c in (None, "gzip"):
    p = KafkaProducer(bootstrap_servers=bs, compression_type=c)
    for i in range(10):
        p.send("kp-%s" % c, key=b"k%d" % i, value=b'{"i": %d}' % i, headers=[("h", b"v")])
    p.flush(); p.close()
for v in ((0, 9), (0, 10, 0)):
    p = KafkaProducer(bootstrap_servers=bs, api_version=v, compression_type="gzip" if v == (0, 9) else None)
    for i in range(5):
        p.send("kp-legacy", key=b"k", value=b"legacy %d" % i)
    p.flush(); p.close()
    p = KafkaProducer(bootstrap_servers=bs, api_version=v)
    p.send("kp-legacy", value=b"plain"); p.flush(); p.close()
c = KafkaConsumer("kp-None", bootstrap_servers=bs, group_id="kpg", auto_offset_reset="earliest",
                  consumer_timeout_ms=4000)
for m in c: pass
c.commit(); c.close()
a.delete_topics(["kp-admin"])
'''
    run(["/usr/bin/python3", "-c", py, bs])
    ck = r'''
import sys
bs = sys.argv[1]
from confluent_kafka import Producer, Consumer
from confluent_kafka.admin import AdminClient, NewTopic, ConfigResource
a = AdminClient({"bootstrap.servers": bs})
for f in a.create_topics([NewTopic("ck-admin", 2, 1)]).values():
    try: f.result(10)
    except Exception as e: print(e)
for f in a.describe_configs([ConfigResource("topic", "ck-admin")]).values():
    try: f.result(10)
    except Exception as e: print(e)
for codec in ("none", "zstd"):
    p = Producer({"bootstrap.servers": bs, "compression.codec": codec, "acks": "all",
                  "linger.ms": 20})
    for i in range(20):
        p.produce("ck-" + codec, key=b"k%d" % i, value=b'{"x": %d}' % i, headers={"h": b"1"})
    p.flush(10)
c = Consumer({"bootstrap.servers": bs, "group.id": "ckg", "auto.offset.reset": "earliest",
              "enable.auto.commit": False})
c.subscribe(["ck-none"])
n = 0
for _ in range(40):
    m = c.poll(0.25)
    if m is not None and not m.error():
        n += 1
        if n == 20: break
c.commit(asynchronous=False)
c.close()
'''
    run(["/usr/bin/python3", "-c", ck, bs])
    broker.terminate()
    broker.wait(30)
    print("frames:", sum(counts.values()), "distinct api/version:", len(counts))


main()
