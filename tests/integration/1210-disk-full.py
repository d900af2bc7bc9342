"""1210-disk-full: a full disk fails only the partitions that cannot write,
loses nothing acknowledged, and a restart with space recovers.

The broker's data directory is a small tmpfs (TMPFS_MIB). Needs root and
permission to mount (skips saying why otherwise; the same logic under an
injected ENOSPC is covered by tests/unit/0205-log-fault-spec and
0206-log-fault-isolation). Steps:

  1. "df-other" (2 partitions) gets OTHER records, acknowledged.
  2. "df-full" gets 64 KiB records (acks=all, no retries) until the disk
     is full: the producer must see KAFKA_STORAGE_ERROR (I5), and nothing
     else than success or that error.
  3. While the disk is full: the broker is alive; "df-other" still serves
     fetches (every record of step 1 read back); Fetch from the failed
     partition gives KAFKA_STORAGE_ERROR; a Produce to "df-other" either
     succeeds or gets KAFKA_STORAGE_ERROR (where there is no space left),
     never anything else.
  4. SIGTERM, the tmpfs grows (remount), the broker starts again: every
     record acknowledged in steps 1-3 is there exactly once at its
     acknowledged offset, and "df-full" takes produces again.
"""

import atexit
import os
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TMPFS_MIB = 8
OTHER = 300
FULL_TOPIC = "df-full"
OTHER_TOPIC = "df-other"

tap = harness.Tap(timeout=240)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")
import confluent_kafka as ck  # noqa: E402
import confluent_kafka.admin  # noqa: E402,F401

if os.geteuid() != 0:
    tap.skip_all("needs root to mount a tmpfs (the injected-ENOSPC cases run in 0205/0206)")

broker = harness.Broker(tap, args=["--set", "auto.create.topics.enable=false",
                                   "--set", "log.segment.bytes=1048576"])
mnt = os.path.join(broker.root, "tmpfs")
os.mkdir(mnt)
r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % TMPFS_MIB, "tmpfs", mnt],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
if r.returncode != 0:
    tap.skip_all("cannot mount a tmpfs here: %s" % r.stdout.decode(errors="replace").strip())


def unmount():
    broker.kill(quiet=True)
    subprocess.run(["umount", "-l", mnt], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


atexit.register(unmount)
broker.data_dir = os.path.join(mnt, "data")
os.mkdir(broker.data_dir)

tap.plan(12)
if not tap.ok(broker.start(), "broker starts on a %d MiB tmpfs" % TMPFS_MIB):
    tap.bail("broker did not start")
conf = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}
admin = ck.admin.AdminClient(conf)
fs = admin.create_topics([ck.admin.NewTopic(FULL_TOPIC, 1, 1),
                          ck.admin.NewTopic(OTHER_TOPIC, 2, 1)], request_timeout=20)
for f in fs.values():
    f.result(30)

acked = {}  # (topic, partition, offset) -> value


def produce(topic, values, conf_extra=None, partition=None):
    """Produces values (no retries, acks=all); returns (acknowledged count,
    error names)."""
    pconf = dict(conf, **{"acks": "all", "retries": 0, "linger.ms": 5,
                          "message.timeout.ms": 30000})
    pconf.update(conf_extra or {})
    p = ck.Producer(pconf)
    errs = []
    ok = [0]

    def cb(err, msg):
        if err is not None:
            errs.append(err.name())
        else:
            acked[(msg.topic(), msg.partition(), msg.offset())] = msg.value()
            ok[0] += 1

    for v in values:
        kw = {"value": v, "on_delivery": cb}
        if partition is not None:
            kw["partition"] = partition
        while True:
            try:
                p.produce(topic, **kw)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    p.flush(60)
    return ok[0], errs


n, errs = produce(OTHER_TOPIC, [b"other %d" % i for i in range(OTHER)])
tap.ok(n == OTHER and not errs, "%d records to %s acknowledged" % (n, OTHER_TOPIC), *errs[:3])

# Fill the disk through df-full, in rounds, until the storage error shows.
big = b"F" * 65536
full_acked, full_errs = 0, []
for rnd in range(40):
    n, errs = produce(FULL_TOPIC, [big[:-8] + b"%08d" % (rnd * 16 + i) for i in range(16)],
                      {"batch.size": 65536 * 2})
    full_acked += n
    full_errs += errs
    if errs:
        break
tap.diag("%s: %d records of 64 KiB acknowledged before the disk filled; errors: %s"
         % (FULL_TOPIC, full_acked, sorted(set(full_errs))))
tap.ok("KAFKA_STORAGE_ERROR" in full_errs, "the full partition answers KAFKA_STORAGE_ERROR")
tap.ok(set(full_errs) <= {"KAFKA_STORAGE_ERROR"}, "and nothing but that error",
       *sorted(set(full_errs)))
tap.ok(broker.alive(), "broker alive with a full disk")

msgs, rerrors, complete = harness.ck_read_all(conf, OTHER_TOPIC, 2, timeout=60)
tap.ok(complete and len(msgs) == OTHER, "%s still serves fetches: %d of %d records read"
       % (OTHER_TOPIC, len(msgs), OTHER), *rerrors[:3])

def raw_fetch_error(topic, partition):
    """Error code name of a raw Fetch v4 for topic/partition from offset 0
    (librdkafka retries a storage error quietly, so a client hides it)."""
    tb = topic.encode()
    body = struct.pack(">iiiib", -1, 0, 1, 1 << 20, 0)
    body += struct.pack(">i", 1) + struct.pack(">h", len(tb)) + tb
    body += struct.pack(">i", 1) + struct.pack(">iqi", partition, 0, 1 << 20)
    hdr = struct.pack(">hhi", 1, 4, 9) + struct.pack(">h", 2) + b"df"
    msg = hdr + body
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=20)
    try:
        s.sendall(struct.pack(">i", len(msg)) + msg)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                return "connection closed"
            data += chunk
    finally:
        s.close()
    # size, correlation id, throttle, topics count, name, partitions count,
    # partition index, error code
    pos = 16
    nlen = struct.unpack(">h", data[pos:pos + 2])[0]
    pos += 2 + nlen + 4 + 4
    code = struct.unpack(">h", data[pos:pos + 2])[0]
    return {0: "NO_ERROR", 56: "KAFKA_STORAGE_ERROR"}.get(code, "error %d" % code)


fetch_err = raw_fetch_error(FULL_TOPIC, 0)
tap.is_(fetch_err, "KAFKA_STORAGE_ERROR", "Fetch from the failed partition: KAFKA_STORAGE_ERROR")

n, errs = produce(OTHER_TOPIC, [b"while full %d" % i for i in range(20)], partition=1)
tap.diag("produce to %s[1] while the disk is full: %d acknowledged, errors %s"
         % (OTHER_TOPIC, n, sorted(set(errs))))
tap.ok(n + len(errs) == 20 and set(errs) <= {"KAFKA_STORAGE_ERROR"},
       "a produce to another partition either succeeds or gets KAFKA_STORAGE_ERROR")

# More space, restart, nothing acknowledged lost.
rc = broker.stop()
tap.diag("broker exit status with a failed partition: %r" % (rc,))
r = subprocess.run(["mount", "-o", "remount,size=64m", mnt], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT)
if r.returncode != 0:
    tap.bail("remount failed: %s" % r.stdout.decode(errors="replace"))
if not tap.ok(broker.start(), "broker restarts with space again"):
    tap.bail("broker did not restart")
found = {}
dups = 0
for topic, nparts in ((FULL_TOPIC, 1), (OTHER_TOPIC, 2)):
    msgs, rerrors, complete = harness.ck_read_all(conf, topic, nparts, timeout=60)
    for m in msgs:
        k = (m.topic(), m.partition(), m.offset())
        dups += k in found
        found[k] = m.value()
lost = [k for k, v in acked.items() if found.get(k) != v]
tap.ok(not lost and dups == 0, "all %d acknowledged records there, once, at their offsets"
       % len(acked), *["missing or different: %s" % (k,) for k in lost[:5]])
n, errs = produce(FULL_TOPIC, [b"after restart"])
tap.ok(n == 1 and not errs, "%s takes produces again after the restart" % FULL_TOPIC, *errs)
tap.is_(broker.stop(), 0, "broker exits 0 on SIGTERM")
sys.exit(tap.done())
