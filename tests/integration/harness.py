"""harness.py: integration-test harness for Python tests.

An integration test is a TAP program that starts its own runneld on an
ephemeral loopback port with a fresh temporary data directory, drives it
with a real client (python3-kafka, python3-confluent-kafka, raw sockets)
and leaves nothing behind. The pieces:

  Tap(timeout)      TAP output: plan(), ok(), is_(), diag(), skip(),
                    done(). A watchdog thread enforces the global timeout
                    and per-section timeouts even while a client library is
                    blocked in C code: it prints "Bail out!", the broker
                    log tails, kills every broker and exits.
  Tap.section()     a context manager for a group of counted cases with its
                    own timeout; an exception inside it is printed as a
                    diagnostic and the cases not reached are reported as
                    "not ok", so the plan always adds up.
  Broker(tap, ...)  one runneld process: start(), stop() (SIGTERM),
                    kill() (SIGKILL), restart() on the same port and data
                    directory, log_tail(). Its stdout and stderr go to
                    <root>/broker.log (appended across restarts, each start
                    marked). The process gets PR_SET_PDEATHSIG=SIGKILL, so it
                    dies with the test even if the test is killed. The
                    temporary root is removed at exit unless RN_IT_KEEP=1.

Environment: RUNNELD (absolute path of the broker binary), else
$RN_TOP_BUILDDIR/runneld, else ./runneld; RN_IT_SEED repeats a random run;
RN_IT_BROKER_ARGS adds broker arguments (e.g. "--log-level debug").
"""

import atexit
import contextlib
import ctypes
import importlib.util
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

START_TIMEOUT_S = 10.0
TAIL_LINES = 40
SANITIZER_LINES = 30
SANITIZER_RE = re.compile(r"ERROR: \w*Sanitizer|runtime error:")

_brokers = []
_out_lock = threading.RLock()


def _emit(line):
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _diag_text(text):
    for line in str(text).splitlines() or [""]:
        _emit("# " + line)


def _kill_all():
    for b in list(_brokers):
        b.kill(quiet=True)


def _tail_all():
    for b in list(_brokers):
        b.log_tail(TAIL_LINES)


def runneld_path():
    """Path of the broker binary, or None if it is not there."""
    cands = [os.environ.get("RUNNELD")]
    top = os.environ.get("RN_TOP_BUILDDIR")
    if top:
        cands.append(os.path.join(top, "runneld"))
    cands.append("./runneld")
    for c in cands:
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    return None


def free_port():
    """A loopback TCP port that was free a moment ago (bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_connect(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class Tap:
    """TAP producer with a global timeout (seconds) and per-section ones."""

    def __init__(self, timeout, name=None):
        self.name = name or os.path.basename(sys.argv[0])
        self.count = 0
        self.failed = 0
        self.planned = None
        self._deadline = time.monotonic() + timeout
        self._timeout = timeout
        self._section = None  # (description, deadline, seconds)
        seed = os.environ.get("RN_IT_SEED")
        self.seed = int(seed) if seed else int(time.time()) ^ (os.getpid() << 16)
        self.random = random.Random(self.seed)
        _emit("# %s: RN_IT_SEED=%d, timeout %d s" % (self.name, self.seed, timeout))
        self.runneld = runneld_path()
        if self.runneld is None:
            self.skip_all("broker binary not found (set RUNNELD)")
        atexit.register(self._cleanup)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        t = threading.Thread(target=self._watchdog, name="tap-watchdog", daemon=True)
        t.start()

    # -- timeouts ---------------------------------------------------------

    def _watchdog(self):
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            sec = self._section
            if now > self._deadline:
                self._expire("global test timeout (%d s) expired" % self._timeout)
            if sec is not None and now > sec[1]:
                self._expire("section '%s' timed out after %d s" % (sec[0], sec[2]))

    def _expire(self, why):
        with _out_lock:
            _diag_text("timeout: " + why)
            _kill_all()
            _tail_all()
            # Python threads, for the hang's location.
            for tid, frame in sys._current_frames().items():
                if tid == threading.get_ident():
                    continue
                _diag_text("thread %d:\n%s" % (tid, "".join(traceback.format_stack(frame))))
            _emit("Bail out! %s: %s" % (self.name, why))
            for b in list(_brokers):
                b.cleanup()
            os._exit(1)

    def _on_signal(self, signum, frame):
        _emit("Bail out! %s: killed by signal %d" % (self.name, signum))
        _kill_all()
        os._exit(1)

    def _cleanup(self):
        for b in list(_brokers):
            b.cleanup()

    @contextlib.contextmanager
    def section(self, desc, cases, timeout):
        """Runs a block of `cases` counted cases within `timeout` seconds.

        An exception ends the block: its traceback becomes a diagnostic and
        each case not yet reported is reported "not ok". Yields nothing.
        """
        start = self.count
        self._section = (desc, time.monotonic() + timeout, timeout)
        try:
            yield
        except Exception:  # noqa: BLE001 - every failure must be reported
            self.diag("exception in '%s':\n%s" % (desc, traceback.format_exc()))
            for _ in range(cases - (self.count - start)):
                self.ok(False, "%s (not reached: exception)" % desc)
        finally:
            self._section = None
        done = self.count - start
        if done != cases:
            self.diag("section '%s' reported %d cases, declared %d" % (desc, done, cases))

    # -- TAP --------------------------------------------------------------

    def plan(self, n):
        self.planned = n
        _emit("1..%d" % n)

    def skip_all(self, why):
        _emit("1..0 # SKIP %s" % why)
        sys.exit(0)

    def bail(self, why):
        _tail_all()
        _emit("Bail out! %s" % why)
        _kill_all()
        sys.exit(1)

    def diag(self, text):
        with _out_lock:
            _diag_text(text)

    def ok(self, cond, desc, *diag):
        desc = str(desc).replace("#", " ").replace("\n", " ")
        with _out_lock:
            self.count += 1
            if not cond:
                self.failed += 1
            _emit("%sok %d - %s" % ("" if cond else "not ", self.count, desc))
            if not cond:
                here = os.path.abspath(__file__)
                for fr in reversed(traceback.extract_stack()):
                    if os.path.abspath(fr.filename) != here and \
                            not fr.filename.endswith("contextlib.py"):
                        _emit("#   failed at %s:%d" % (os.path.basename(fr.filename), fr.lineno))
                        break
                for d in diag:
                    _diag_text("  " + str(d))
        return bool(cond)

    def is_(self, got, want, desc):
        """Passes if got == want; prints both otherwise."""
        cond = got == want
        with _out_lock:
            self.ok(cond, desc)
            if not cond:
                _emit("#        got: %r" % (got,))
                _emit("#   expected: %r" % (want,))
        return cond

    def skip(self, n, why):
        with _out_lock:
            for _ in range(n):
                self.count += 1
                _emit("ok %d - # SKIP %s" % (self.count, why))

    def done(self):
        """Ends the test: exits 0 only if all planned cases ran and passed."""
        code = 0
        if self.planned is not None and self.count != self.planned:
            self.diag("planned %d tests but ran %d" % (self.planned, self.count))
            code = 1
        if self.failed:
            self.diag("%d of %d tests failed" % (self.failed, self.count))
            _tail_all()
            code = 1
        sys.stdout.flush()
        sys.exit(code)


def _pdeathsig():
    """In the child before exec: die with SIGKILL when the test dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Broker:
    """One runneld process with its own port, data directory and log."""

    def __init__(self, tap, args=(), advertise=False):
        self.tap = tap
        self.root = tempfile.mkdtemp(prefix="runnel-it-")
        self.data_dir = os.path.join(self.root, "data")
        os.mkdir(self.data_dir)
        self.log_path = os.path.join(self.root, "broker.log")
        self.port = free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.args = list(args)
        if advertise:
            self.args += ["--advertise", self.bootstrap]
        self.args += os.environ.get("RN_IT_BROKER_ARGS", "").split()
        self.proc = None
        self.starts = 0
        _brokers.append(self)

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def argv(self):
        # No HTTP server unless a test asks for one (a later --http wins):
        # brokers of tests running in parallel would all want :8080.
        return [self.tap.runneld, "--data-dir", self.data_dir,
                "--listen", self.bootstrap, "--set", "http.listener="] + self.args

    def start(self):
        """Starts the process and waits until it accepts connections.

        Returns True, or False after a diagnostic (it exited, or did not
        listen within 10 s and was killed)."""
        if self.alive():
            self.tap.diag("broker start: process %d is still running" % self.pid)
            return False
        argv = self.argv()
        with open(self.log_path, "ab") as log:
            log.write(("=== harness: start #%d: %s\n" % (self.starts + 1, " ".join(argv))).encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, preexec_fn=_pdeathsig)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.tap.diag("broker exited during start-up with status %d" % rc)
                self.proc = None
                self.log_tail(TAIL_LINES)
                return False
            if can_connect(self.port):
                self.starts += 1
                return True
            time.sleep(0.05)
        self.tap.diag("broker did not accept connections on port %d within %d s"
                      % (self.port, START_TIMEOUT_S))
        self.kill()
        self.log_tail(TAIL_LINES)
        return False

    def stop(self, timeout=30.0):
        """SIGTERM, then waits. Returns the exit status (negative = killed
        by that signal), None if it did not exit in time (then killed), or
        "not running"."""
        if self.proc is None:
            return "not running"
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.tap.diag("broker did not exit within %d s of SIGTERM; killing it" % timeout)
            self.kill()
            return None
        self.proc = None
        return rc

    def kill(self, quiet=False):
        """SIGKILL and reap. No-op if not running."""
        if self.proc is None:
            return
        try:
            self.proc.kill()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.proc = None

    def restart(self):
        """Graceful stop then start; True if the stop gave 0 and the start
        succeeded."""
        rc = self.stop()
        if rc != 0:
            self.tap.diag("broker stop before restart gave status %r" % (rc,))
        return self.start() and rc == 0

    def alive(self):
        if self.proc is None:
            return False
        rc = self.proc.poll()
        if rc is not None:
            self.tap.diag("broker has exited with status %d" % rc)
            self.proc = None
            return False
        return True

    def status_kb(self, field):
        """A "kB" field of /proc/<pid>/status (VmPeak, VmHWM, VmRSS), or None."""
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except (OSError, TypeError, ValueError):
            pass
        return None

    def sanitized(self):
        """True when the running broker was built with ASan/UBSan (its
        memory figures then include shadow memory and the quarantine)."""
        try:
            with open("/proc/%d/maps" % self.pid) as f:
                return any("libasan" in line or "libubsan" in line for line in f)
        except (OSError, TypeError):
            return False

    def rss_slack_kb(self, mib):
        """An RSS growth bound of mib MiB, widened for sanitizer builds
        (x4 plus ASan's 256 MiB quarantine)."""
        return (mib * 4 + 256) * 1024 if self.sanitized() else mib * 1024

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=TAIL_LINES):
        """Prints the first sanitizer report in the log (its top is what
        matters and a plain tail cuts it off), then the last n lines."""
        lines = self.log_text().splitlines()
        with _out_lock:
            for i, line in enumerate(lines):
                if SANITIZER_RE.search(line):
                    _emit("# sanitizer report in the broker log (%s):" % self.log_path)
                    for rep in lines[i:i + SANITIZER_LINES]:
                        _emit("#   | " + rep)
                    break
            _emit("# broker log tail (%s):" % self.log_path)
            for line in lines[-n:]:
                _emit("#   | " + line)

    def cleanup(self):
        self.kill(quiet=True)
        if self.root and os.path.isdir(self.root):
            if os.environ.get("RN_IT_KEEP") == "1":
                _emit("# keeping %s (RN_IT_KEEP=1)" % self.root)
            else:
                shutil.rmtree(self.root, ignore_errors=True)
        if self in _brokers:
            _brokers.remove(self)


def require_module(tap, name, package):
    """Imports a client module, or skips the whole test saying why."""
    try:
        return __import__(name)
    except ImportError as e:
        tap.skip_all("python module %s not available (%s: %s)" % (name, package, e))


def wait_until(pred, timeout, interval=0.1):
    """Polls pred() until it returns a true value or timeout seconds pass;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


# ---- confluent-kafka helpers -------------------------------------------------


def ck_produce(conf, topic, records, flush_timeout=60):
    """Produces records [(key, value, headers, timestamp_ms or None)] with a
    confluent_kafka.Producer built from conf, waiting for every delivery.

    Returns (reports, errors, left): reports[i] is (partition, offset) for a
    delivered record i or None; errors lists failure strings; left is the
    number of records still queued after flush_timeout seconds."""
    from confluent_kafka import Producer

    p = Producer(dict(conf))
    reports = [None] * len(records)
    errors = []

    def on_delivery(i):
        def cb(err, msg):
            if err is not None:
                errors.append("record %d: %s" % (i, err))
            else:
                reports[i] = (msg.partition(), msg.offset())
        return cb

    for i, (key, value, headers, ts) in enumerate(records):
        kw = {"key": key, "value": value, "on_delivery": on_delivery(i)}
        if headers is not None:
            kw["headers"] = headers
        if ts is not None:
            kw["timestamp"] = ts
        while True:
            try:
                p.produce(topic, **kw)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(flush_timeout)
    return reports, errors, left


def ck_read_all(conf, topic, nparts, timeout=60, alive=None):
    """Reads partitions 0..nparts-1 of topic from OFFSET_BEGINNING until each
    reports its end, with assign() and no commits (the group.id that
    confluent-kafka 1.7 insists on is never used).

    Returns (messages, errors, complete); messages are confluent_kafka
    Message objects in arrival order; complete is False if some partition
    did not reach its end within timeout seconds or alive() turned false."""
    import confluent_kafka as ck

    c = ck.Consumer(dict(conf, **{"group.id": "rn-it-unused", "enable.auto.commit": False,
                                  "enable.partition.eof": True, "check.crcs": True}))
    c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(nparts)])
    msgs, errors, eof = [], [], set()
    deadline = time.monotonic() + timeout
    while len(eof) < nparts and time.monotonic() < deadline and (alive is None or alive()):
        for m in c.consume(1000, 0.5):
            err = m.error()
            if err is None:
                msgs.append(m)
                eof.discard(m.partition())
            elif err.code() == ck.KafkaError._PARTITION_EOF:
                eof.add(m.partition())
            else:
                errors.append(str(err))
    c.close()
    return msgs, errors, len(eof) == nparts


def load_httplib():
    """The HTTP test helpers of 0899-httplib.py (HttpBroker, call, ...),
    loaded once; a module name cannot start with a digit, so by path."""
    mod = sys.modules.get("httplib0899")
    if mod is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "0899-httplib.py")
        spec = importlib.util.spec_from_file_location("httplib0899", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["httplib0899"] = mod
        spec.loader.exec_module(mod)
    return mod
