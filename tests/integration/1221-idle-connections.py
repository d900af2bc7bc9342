"""1221-idle-connections: thousands of idle connections and a few slow
writers do not stop the broker from serving a real client, and cost little
memory.

IDLE connections (2000) are opened to the Kafka port and left silent;
SLOW_WRITERS more send a size prefix announcing a 1 MiB request and then
only a few bytes of it (a slow writer), and stay. The test raises its own
RLIMIT_NOFILE soft limit to the hard limit (the broker inherits it) and
skips with the reason if that cannot reach what the test needs. While all
of them are open, a confluent-kafka producer (acks=all) and a consumer
must work as usual; the broker's VmRSS may grow by at most RSS_SLACK_MIB;
every idle connection must still be open (an ApiVersions request on a
sample of them is answered), and after they all close the broker is alive
and exits 0 on SIGTERM.
"""

import os
import resource
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from kwire import api_versions_answered  # noqa: E402

IDLE = 2000
SLOW_WRITERS = 100
RSS_SLACK_MIB = 64
TOPIC = "idle-live"
NEED_FDS = IDLE + SLOW_WRITERS + 200

tap = harness.Tap(timeout=240)
harness.require_module(tap, "confluent_kafka", "python3-confluent-kafka")

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = NEED_FDS * 2 + 256  # the test's own sockets plus the broker's
if hard != resource.RLIM_INFINITY and hard < want:
    tap.skip_all("RLIMIT_NOFILE hard limit %d is below the %d this test needs" % (hard, want))
try:
    if soft == resource.RLIM_INFINITY or soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY
                                                    else min(hard, max(want, 65536)), hard))
except (ValueError, OSError) as e:
    tap.skip_all("cannot raise RLIMIT_NOFILE to %d: %s" % (want, e))

tap.plan(8)
broker = harness.Broker(tap, args=["--set", "auto.create.topics.enable=true",
                                   "--set", "num.partitions=2"])
if not tap.ok(broker.start(), "broker starts and listens"):
    tap.bail("broker did not start")
conf = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}


# Warm up (topic, groups) so that the RSS baseline includes the steady state.
reports, errors, left = harness.ck_produce(dict(conf, **{"acks": "all"}), TOPIC,
                                           [(b"w", b"warm-up", None, None)])
rss0 = broker.status_kb("VmRSS")
fds0 = len(os.listdir("/proc/%d/fd" % broker.pid))

idle = []
failed_connect = 0
for i in range(IDLE):
    try:
        idle.append(socket.create_connection(("127.0.0.1", broker.port), timeout=10))
    except OSError as e:
        failed_connect += 1
        if failed_connect == 1:
            tap.diag("connect %d failed: %s" % (i, e))
slow = []
for i in range(SLOW_WRITERS):
    try:
        s = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
        s.sendall(struct.pack(">i", 1 << 20) + struct.pack(">hhi", 0, 9, i) + b"\0" * 100)
        slow.append(s)
    except OSError:
        failed_connect += 1
tap.is_(failed_connect, 0, "%d idle connections and %d slow writers connected" % (IDLE, SLOW_WRITERS))
# fds0 may include a client connection that has gone since: a little slack.
fds1 = harness.wait_until(lambda: (lambda n: n if n >= fds0 + IDLE + SLOW_WRITERS - 8 else None)(
    len(os.listdir("/proc/%d/fd" % broker.pid))), 20, 0.2)
tap.ok(fds1 is not None, "the broker holds them all open (%s descriptors, %d before)"
       % (len(os.listdir("/proc/%d/fd" % broker.pid)), fds0))

# A real client meanwhile.
records = [(b"k%d" % i, b"value %d" % i, None, None) for i in range(3000)]
t0 = time.monotonic()
reports, errors, left = harness.ck_produce(dict(conf, **{"acks": "all"}), TOPIC, records)
msgs, rerrors, complete = harness.ck_read_all(conf, TOPIC, 2, timeout=60)
got = sorted(m.value() for m in msgs if m.key() != b"w")
tap.ok(not errors and left == 0 and complete and got == sorted(r[1] for r in records),
       "a confluent-kafka producer and consumer are served meanwhile (%.1f s)"
       % (time.monotonic() - t0), *(errors + rerrors)[:5])

sample = idle[::100]
ok = sum(1 for i, s in enumerate(sample) if api_versions_answered(s, 1000 + i, client_id=b"idle"))
tap.is_(ok, len(sample), "idle connections still served when they speak (sample of %d)"
        % len(sample))

rss1 = broker.status_kb("VmRSS")
tap.diag("VmRSS %s kB before, %s kB with %d connections" % (rss0, rss1, IDLE + SLOW_WRITERS))
tap.ok(rss0 is not None and rss1 is not None and rss1 - rss0 < broker.rss_slack_kb(RSS_SLACK_MIB),
       "RSS grew by less than %d MiB (%s kB)"
       % (RSS_SLACK_MIB, None if rss0 is None or rss1 is None else rss1 - rss0))

for s in idle + slow:
    s.close()
time.sleep(1)
tap.ok(broker.alive(), "broker alive after they all close")
tap.is_(broker.stop(), 0, "broker exits 0 on SIGTERM")
sys.exit(tap.done())
