"""kwire: a small Kafka wire client for tests that send exact requests.

Used by the raw-wire tests of idempotence and transactions (1002, 1012,
1013): an encoder W and decoder R for classic and flexible (compact,
tagged) fields, a connection that frames requests with a v1/v2 header and
checks correlation ids, and record batches v2 of one uncompressed record
with CRC-32C. It encodes what the test says, nothing more: tests use it to
send what a real client would not (duplicates, wrong epochs, bad states).
"""

import socket
import struct


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def zvarint(n):
    return uvarint((n << 1) ^ (n >> 63))


class W:
    """Request body encoder; flex = a flexible (compact) version."""

    def __init__(self, flex=False):
        self.flex, self.b = flex, bytearray()

    def i8(self, v):
        self.b += struct.pack(">b", v)
        return self

    def i16(self, v):
        self.b += struct.pack(">h", v)
        return self

    def i32(self, v):
        self.b += struct.pack(">i", v)
        return self

    def i64(self, v):
        self.b += struct.pack(">q", v)
        return self

    def str(self, s):
        if s is None:
            self.b += b"\x00" if self.flex else struct.pack(">h", -1)
            return self
        e = s.encode()
        self.b += (uvarint(len(e) + 1) if self.flex else struct.pack(">h", len(e))) + e
        return self

    def bytes_(self, data):
        self.b += struct.pack(">i", len(data)) + data
        return self

    def arr(self, items, fn):
        self.b += uvarint(len(items) + 1) if self.flex else struct.pack(">i", len(items))
        for x in items:
            fn(self, x)
        return self

    def tags(self):
        if self.flex:
            self.b += b"\x00"
        return self


class R:
    """Response body decoder; raises ValueError on a short response."""

    def __init__(self, b, flex=False):
        self.b, self.p, self.flex = b, 0, flex

    def take(self, n):
        v = self.b[self.p:self.p + n]
        if len(v) != n:
            raise ValueError("short response")
        self.p += n
        return v

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        shift = v = 0
        while True:
            c = self.take(1)[0]
            v |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return v

    def str(self):
        n = self.uvarint() - 1 if self.flex else self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def arr(self, fn):
        n = self.uvarint() - 1 if self.flex else self.i32()
        return None if n < 0 else [fn(self) for _ in range(n)]

    def tags(self):
        if self.flex:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.take(self.uvarint())


class Conn:
    """One connection to the broker on 127.0.0.1:port. send() may pipeline
    requests; recv() reads one response and checks its correlation id."""

    def __init__(self, port, client_id="kwire"):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.corr = 0
        self.client_id = client_id

    def send(self, key, ver, flex, body):
        self.corr += 1
        h = W().i16(key).i16(ver).i32(self.corr).str(self.client_id)
        if flex:
            h.b += b"\x00"
        frame = bytes(h.b) + bytes(body.b)
        self.s.sendall(struct.pack(">i", len(frame)) + frame)
        return self.corr

    def recv(self, corr, flex):
        size = struct.unpack(">i", self._read(4))[0]
        r = R(self._read(size), flex)
        if r.i32() != corr:
            raise ValueError("correlation id mismatch")
        r.tags()
        return r

    def call(self, key, ver, flex, body):
        return self.recv(self.send(key, ver, flex, body), flex)

    def _read(self, n):
        out = b""
        while len(out) < n:
            c = self.s.recv(n - len(out))
            if not c:
                raise ConnectionError("connection closed")
            out += c
        return out


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_T = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def batch(pid, epoch, seq, value, attrs=0, key=None, base_offset=0):
    """A record batch v2 of one uncompressed record (value bytes, key bytes
    or None) with producer id, epoch, base sequence and attributes
    (0x10 = transactional)."""
    k = b"" if key is None else key
    rec = bytes([0]) + zvarint(0) + zvarint(0)
    rec += zvarint(-1 if key is None else len(k)) + k + zvarint(len(value)) + value + zvarint(0)
    rec = zvarint(len(rec)) + rec
    after_crc = struct.pack(">hiqqqhii", attrs, 0, 1000, 1000, pid, epoch, seq, 1) + rec
    body = struct.pack(">ibI", 0, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", base_offset, len(body)) + body


def api_versions_answered(s, corr, timeout=10.0, client_id=b"kwire"):
    """Sends ApiVersions v0 on socket s and reads the whole response: True
    when it carries correlation id corr, False when the connection closes,
    times out or fails (a broker that refused or dropped it)."""
    hdr = struct.pack(">hhi", 18, 0, corr) + struct.pack(">h", len(client_id)) + client_id
    try:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(hdr)) + hdr)
        head = b""
        while len(head) < 8:
            chunk = s.recv(8 - len(head))
            if not chunk:
                return False
            head += chunk
        size, got = struct.unpack(">ii", head)
        left = size - 4
        while left > 0:
            chunk = s.recv(min(left, 65536))
            if not chunk:
                return False
            left -= len(chunk)
        return got == corr
    except OSError:
        return False


# ---- transaction APIs (KIP-98), classic request versions ---------------------


def init_pid(c, ver, txn_id, timeout=60000, pid=-1, epoch=-1):
    """InitProducerId v0-4 (flexible from v2; pid/epoch from v3, KIP-360):
    (error, producer id, epoch)."""
    flex = ver >= 2
    w = W(flex).str(txn_id).i32(timeout)
    if ver >= 3:
        w.i64(pid).i16(epoch)
    r = c.call(22, ver, flex, w.tags())
    r.i32()
    return r.i16(), r.i64(), r.i16()


def add_parts(c, ver, txn_id, pid, epoch, parts):
    """AddPartitionsToTxn v0-2, parts [(topic, partition)]: {(topic, partition): error}."""
    topics = {}
    for t, p in parts:
        topics.setdefault(t, []).append(p)
    w = W().str(txn_id).i64(pid).i16(epoch).arr(
        list(topics.items()), lambda w, x: w.str(x[0]).arr(x[1], lambda w, p: w.i32(p)))
    r = c.call(24, ver, False, w)
    r.i32()
    out = {}
    for name, res in r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i16())))):
        for p, e in res:
            out[(name, p)] = e
    return out


def add_offsets(c, txn_id, pid, epoch, group):
    """AddOffsetsToTxn v1: the error."""
    r = c.call(25, 1, False, W().str(txn_id).i64(pid).i16(epoch).str(group))
    r.i32()
    return r.i16()


def end_txn(c, txn_id, pid, epoch, commit, ver=1):
    """EndTxn v0-2: the error."""
    r = c.call(26, ver, False, W().str(txn_id).i64(pid).i16(epoch).i8(1 if commit else 0))
    r.i32()
    return r.i16()


def txn_offset_commit(c, txn_id, group, pid, epoch, topic, part, offset):
    """TxnOffsetCommit v1, one partition: its error."""
    w = W().str(txn_id).str(group).i64(pid).i16(epoch).arr(
        [topic], lambda w, t: w.str(t).arr([part], lambda w, p: w.i32(p).i64(offset).str(None)))
    r = c.call(28, 1, False, w)
    r.i32()
    res = r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i16()))))
    return res[0][1][0][1]
