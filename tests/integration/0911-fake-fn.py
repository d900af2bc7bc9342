#!/usr/bin/python3
"""0911-fake-fn: a stand-in for the broker's functions REST API.

Used by 0911-cli-fn.sh while the broker answers 501 for /api/v1/functions:
serves the contract of docs/rest-api.md (GET/POST /api/v1/functions,
GET/DELETE /api/v1/functions/{f}, POST .../pause|resume, GET .../flink)
from memory, with contract-shaped status objects. Statements are checked
only roughly (INSERT INTO out SELECT ... FROM in); anything else is
INVALID_SQL with a position. The input topic "missing" does not exist.

Usage: 0911-fake-fn.py PORTFILE   (listens on a free loopback port and
writes it to PORTFILE; runs until killed).
"""
import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
SQL_RE = re.compile(
    r"^\s*INSERT\s+INTO\s+`?([\w.-]+)`?\s+SELECT\s.+?\sFROM\s+"
    r"(?:TABLE\s*\(\s*\w+\s*\(\s*TABLE\s+)?`?([\w.-]+)`?",
    re.I | re.S)
DUR_RE = re.compile(r"^\d+ ?(ms|s|m|min|h|d)?$")
OPTS = {"watermark.delay", "watermark.idle-timeout", "allowed.lateness", "late.topic",
        "dlq.topic", "startup", "checkpoint.interval", "emit"}
FUNCS = {}


def status(f):
    now = int(time.time() * 1000)
    running = f["state"] == "running"
    return {
        "records_in": 42, "records_out": 7, "late": 1, "dlq": 0, "filtered": 3,
        "windows_fired": 2, "groups": 2, "state_bytes": 1024,
        "watermark_ms": now - 5000, "watermark_lag_ms": 5000, "lag": 0,
        "last_checkpoint_ms": now - 1000, "last_error": None,
        "records_in_per_sec": 4.5 if running else 0.0,
        "records_out_per_sec": 0.5 if running else 0.0,
        "partitions": [
            {"partition": p, "offset": 21, "high_watermark": 21, "lag": 0,
             "watermark_ms": now - 5000, "idle": p == 1} for p in range(2)],
    }


def position(sql, idx):
    line = sql.count("\n", 0, idx) + 1
    col = idx - (sql.rfind("\n", 0, idx) + 1) + 1
    return line, col


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def err(self, code, name, msg):
        self.reply(code, {"error_code": name, "message": msg})

    def fn(self, f):
        out = dict(f)
        out["status"] = status(f)
        return out

    def parts(self):
        p = self.path.split("?")[0]
        if not p.startswith("/api/v1/functions"):
            return None
        return [unquote(x) for x in p[len("/api/v1/functions"):].split("/") if x]

    def do_GET(self):
        ps = self.parts()
        if ps is None:
            return self.err(404, "NOT_FOUND", "no such path")
        if not ps:
            return self.reply(200, {"functions": [self.fn(FUNCS[k]) for k in sorted(FUNCS)]})
        f = FUNCS.get(ps[0])
        if not f:
            return self.err(404, "FUNCTION_NOT_FOUND", "function %s does not exist" % ps[0])
        if len(ps) == 1:
            return self.reply(200, self.fn(f))
        if ps[1:] == ["flink"]:
            wm = f["options"].get("watermark.delay", "0s")
            return self.reply(200, "-- Flink SQL script for the runnel stream function '%s' (fake)\n"
                              "CREATE TABLE `%s` (\n  `ts` BIGINT,\n  WATERMARK FOR ts AS ts - %s\n)"
                              " WITH (\n  'connector' = 'kafka'\n);\n\n%s;\n"
                              % (f["name"], f["input_topic"], wm, f["sql"].rstrip("; \n")),
                              "text/plain; charset=utf-8")
        return self.err(404, "NOT_FOUND", "no such path")

    def do_POST(self):
        ps = self.parts()
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if ps is None:
            return self.err(404, "NOT_FOUND", "no such path")
        if len(ps) == 2 and ps[1] in ("pause", "resume"):
            f = FUNCS.get(ps[0])
            if not f:
                return self.err(404, "FUNCTION_NOT_FOUND", "function %s does not exist" % ps[0])
            f["state"] = "paused" if ps[1] == "pause" else "running"
            return self.reply(200, self.fn(f))
        if ps:
            return self.err(404, "NOT_FOUND", "no such path")
        try:
            body = json.loads(raw)
        except ValueError:
            return self.err(400, "INVALID_REQUEST", "the body is not JSON")
        name, sql, opts = body.get("name"), body.get("sql"), body.get("options") or {}
        if not isinstance(name, str) or not NAME_RE.match(name):
            return self.err(400, "INVALID_REQUEST", "bad function name")
        if not isinstance(sql, str):
            return self.err(400, "INVALID_REQUEST", "sql must be a string")
        if not isinstance(opts, dict):
            return self.err(400, "INVALID_CONFIG", "options must be an object of strings")
        for k, v in opts.items():
            if k not in OPTS:
                return self.err(400, "INVALID_CONFIG", "unknown option '%s'" % k)
            if k in ("watermark.delay", "watermark.idle-timeout", "allowed.lateness",
                     "checkpoint.interval") and not DUR_RE.match(v):
                return self.err(400, "INVALID_CONFIG", "option %s: bad duration '%s'" % (k, v))
        m = SQL_RE.match(sql)
        if not m or re.search(r",\s*FROM\b", sql, re.I):
            bad = re.search(r"\S", sql)
            idx = bad.start() if bad else 0
            kw = re.search(r"\bSELEC\b|\bFORM\b|,\s*FROM", sql, re.I)
            if kw:
                idx = kw.start()
            line, col = position(sql, idx)
            return self.err(400, "INVALID_SQL", "line %d, col %d: expected INSERT INTO topic "
                            "SELECT ... FROM source" % (line, col))
        if name in FUNCS:
            return self.err(409, "FUNCTION_ALREADY_EXISTS", "function %s already exists" % name)
        if m.group(2) == "missing":
            return self.err(404, "UNKNOWN_TOPIC_OR_PARTITION", "topic 'missing' does not exist")
        FUNCS[name] = {"name": name, "sql": sql, "input_topic": m.group(2),
                       "output_topic": m.group(1), "options": opts, "state": "running",
                       "created_ms": int(time.time() * 1000)}
        return self.reply(201, self.fn(FUNCS[name]))

    def do_DELETE(self):
        ps = self.parts()
        if not ps or len(ps) != 1:
            return self.err(404, "NOT_FOUND", "no such path")
        if ps[0] not in FUNCS:
            return self.err(404, "FUNCTION_NOT_FOUND", "function %s does not exist" % ps[0])
        del FUNCS[ps[0]]
        return self.reply(200, {"name": ps[0], "dropped": True})


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
