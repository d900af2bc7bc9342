#!/usr/bin/python3
"""mkcorpus.py: write tests/fuzz/corpus/<target>/ seed files.

Usage: mkcorpus.py SRCDIR [CAPTURE_DIR]

SRCDIR is the source tree (the corpus is written under it). With
CAPTURE_DIR (the output of capture.py) the request, batch and recovery
corpora are rebuilt from real client frames and the broker's data
directory; the sql, json and rest-filter corpora come from docs and fixed
examples. File names are content hashes, so reruns do not duplicate.
Input layouts are described at the top of each tests/fuzz/fuzz-<name>.c.
"""
import glob
import hashlib
import os
import re
import struct
import sys

SRC = sys.argv[1]
CAP = sys.argv[2] if len(sys.argv) > 2 else None
CORPUS = os.path.join(SRC, "tests", "fuzz", "corpus")


def put(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def api_specs():
    text = open(os.path.join(SRC, "broker", "proto_gen.c")).read()
    specs = {}
    for m in re.finditer(r'\[(\d+)\] = \{\d+, "\w+", (-?\d+), (-?\d+), (-?\d+)\}', text):
        specs[int(m.group(1))] = tuple(int(x) for x in m.groups()[1:])
    return specs


def uvarint(b, p):
    v = s = 0
    while True:
        c = b[p]
        p += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, p


def header_len(frame, flexible):
    cid = struct.unpack(">h", frame[8:10])[0]
    p = 10 + max(cid, 0)
    if flexible:
        n, p = uvarint(frame, p)
        for _ in range(n):
            _, p = uvarint(frame, p)
            size, p = uvarint(frame, p)
            p += size
    return p


def legacy_records(body, ver):
    """records fields of a Produce v0-v2 body."""
    out = []
    p = 2 + 4  # acks, timeout
    (nt,) = struct.unpack(">i", body[p:p + 4])
    p += 4
    for _ in range(nt):
        (ln,) = struct.unpack(">h", body[p:p + 2])
        p += 2 + ln
        (np_,) = struct.unpack(">i", body[p:p + 4])
        p += 4
        for _ in range(np_):
            p += 4
            (rl,) = struct.unpack(">i", body[p:p + 4])
            p += 4
            out.append(body[p:p + rl])
            p += rl
    return out


def batches(buf):
    p = 0
    while p + 61 <= len(buf):
        (bl,) = struct.unpack(">i", buf[p + 8:p + 12])
        if bl < 49 or p + 12 + bl > len(buf):
            break
        yield p, buf[p:p + 12 + bl]
        p += 12 + bl


def from_capture():
    specs = api_specs()
    for path in sorted(glob.glob(os.path.join(CAP, "raw", "*"))):
        frame = open(path, "rb").read()
        api, ver = struct.unpack(">hh", frame[:4])
        if api not in specs or int(path.rsplit("-", 1)[1]) >= 3:
            continue
        lo, hi, flex = specs[api]
        flexible = flex >= 0 and ver >= flex
        put("request", bytes([0xFF, 1 if flexible else 0]) + frame)
        body = frame[header_len(frame, flexible):]
        put("request", bytes([api, (ver - lo) % (hi - lo + 1)]) + body)
        if api == 0 and ver <= 2:
            for rec in legacy_records(body, ver):
                put("batch", b"\x02" + rec)
    for d in sorted(glob.glob(os.path.join(CAP, "data", "*-*"))):
        logs = sorted(glob.glob(os.path.join(d, "*.log")))
        if not logs:
            continue
        buf = open(logs[0], "rb").read()
        seen = 0
        for _, b in batches(buf):
            if seen < 3:
                put("batch", b"\x00" + b)
                seen += 1
        # Two batches back to back, as a Produce records field may hold.
        bl = [b for _, b in batches(buf)][:2]
        if len(bl) == 2:
            put("batch", b"\x00" + bl[0] + bl[1])
        # Recovery: the partition's files, the log cut to 12 KiB at a batch
        # boundary; with and without the checkpoint.
        end = 0
        for p, b in batches(buf):
            if p + len(b) > 12288:
                break
            end = p + len(b)
        base = logs[0][:-4]

        def rd(path, cap=65535):
            return open(path, "rb").read()[:cap] if os.path.exists(path) else None

        ck = rd(os.path.join(d, "runnel-log.checkpoint"))
        idx, tidx = rd(base + ".index", 4096), rd(base + ".timeindex", 4096)
        files = [ck, idx, tidx, buf[:end]]
        for flags, withck in ((0x00, True), (0x10, True), (0x14, False), (0x01, False)):
            out = bytes([flags]) + b"\0\0\0\0"
            for i, f in enumerate(files):
                if i == 0 and not withck:
                    f = b""
                f = f or b""
                out += struct.pack(">H", len(f)) + f
            put("recovery", out)
        # A torn tail: the last batch cut in half.
        if end > 200:
            cut = buf[:end - 20]
            put("recovery", b"\x10\0\0\0\0" + b"\0\0" * 3 + struct.pack(">H", len(cut)) + cut)


SQL_EXTRA = [
    "INSERT INTO o SELECT * FROM t",
    "INSERT INTO o SELECT a, b.c AS bc, `odd name`, _key, _partition, _offset, _timestamp FROM t"
    " WHERE a IS NOT NULL AND b.c IN (1, 2, 3) AND s LIKE 'x%' AND n BETWEEN 1 AND 10",
    "INSERT INTO o SELECT CAST(a AS BIGINT), COALESCE(s, 'none'), LOWER(s) || UPPER(s),"
    " CHAR_LENGTH(s), ABS(n), ROUND(n, 2), FLOOR(n), CEIL(n), n % 3, -n / 2 FROM t",
    "INSERT INTO o SELECT k, window_start, window_end, window_time, COUNT(DISTINCT v), MIN(v),"
    " MAX(v), FIRST_VALUE(v), COUNT(v) FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts),"
    " INTERVAL '1' MINUTE, INTERVAL '1' HOUR)) GROUP BY k, window_start, window_end"
    " HAVING COUNT(*) > 1",
    "INSERT INTO o SELECT k FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(_timestamp),"
    " INTERVAL '1:30' MINUTE TO SECOND, INTERVAL '10' SECOND)) WHERE NOT (a <> 1 OR b >= 2.5e3);",
    "INSERT INTO o SELECT CASE WHEN a > 1 THEN 'x' WHEN a IS NULL THEN NULL ELSE 'y' END,"
    " TIMESTAMP '2024-01-01 00:00:00.000', DATE '2024-01-01' FROM t",
]

JSON = [
    b'{}', b'{"amount": 150.5, "user": {"id": 42, "name": "bob"}, "ts": 1700000000123}',
    b'{"a": {"b": {"c": [1, 2, {"d": null}]}}, "odd key": {"\\u00e9": "x\\n\\"y\\" \\ud83d\\ude00"}}',
    b'{"user": 1, "user": {"id": -0.5e-3}, "": true, "amount": false}',
    b'[1, 2, 3]', b'"str"', b'{"amount": 1e400, "ts": "2023-11-14 22:13:20.123"}',
    b' { "user" : { "name" : "\\u0041" } } ',
]

FILTERS = [
    'value.amount > 100 and header.source = "web"', "value.amount > 100",
    'key = "k1" or not value.ok', "value.tags ~ \"red\"", "value.a.b[1] >= 2",
    "offset >= 2 && partition != 3 || timestamp < 5000", 'value.name startswith "al"',
    "value.`odd key` endswith 'x'", "(value.n = null) and value.price <= 9.5", "key.user == 42",
    'value contains "bob"', "header.trace", "!(value.s = 10)", "value.ok = true",
]


def main():
    if CAP:
        from_capture()
    text = open(os.path.join(SRC, "docs", "sql.md")).read()
    blocks = re.findall(r"```(?:sql)?\n(.*?)```", text, re.S)
    for b in blocks:
        put("sql", b.encode())
    for s in SQL_EXTRA:
        put("sql", s.encode())
    for j in JSON:
        put("json", j)
    for f in FILTERS:
        put("rest-filter", f.encode())


main()
