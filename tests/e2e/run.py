#!/usr/bin/python3
"""End-to-end tests of the picklewall daemon (issue 5, "End-to-end tests").

Every test starts real processes on 127.0.0.1: Python stdlib servers of
the kinds picklewall protects (the logging cookbook's socket receiver, a
multiprocessing.connection Listener, a raw pickle.load() loop), each of
which records every byte it received, and the real picklewall binary with
a configuration written for the test.  Real clients (SocketHandler,
multiprocessing.connection.Client, ssl sockets) drive it.  Results are
checked against what the backend recorded and against the audit log.

    /usr/bin/python3 tests/e2e/run.py [--binary build/picklewall]
        [--keep] [-k SUBSTRING]... [-v]

Prints one line per test and ends with "N passed, M failed"; exits 0 iff
none failed.  Every wait is bounded and every process started is killed
at the end.  picklewall is stopped with SIGTERM and must exit 0 with no
sanitizer report on its standard error (run it with the ASan binary:
--binary build/asan/picklewall).

The same file is also the backend servers and the write-then-close
logging client, run as child processes (--role ...); those modes are
internal.
"""

import argparse
import collections
import datetime
import decimal
import fractions
import hashlib
import io
import itertools
import json
import logging
import logging.handlers
import os
import pickle
import re
import select
import shutil
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RULES = os.path.join(ROOT, "rules")
PYTHON = sys.executable or "/usr/bin/python3"

# Bounds on every wait (seconds).
START_TIMEOUT = 15.0      # a process until it listens (ASan is slower)
STOP_TIMEOUT = 15.0       # picklewall after SIGTERM
IO_TIMEOUT = 10.0         # any socket operation
ARRIVE_TIMEOUT = 10.0     # data until the backend has recorded it

SANITIZER_PATTERNS = ("AddressSanitizer", "LeakSanitizer",
                      "UndefinedBehaviorSanitizer", "runtime error:",
                      "ThreadSanitizer", "MemorySanitizer")


# ======================================================================
# Shared helpers
# ======================================================================

class Evil:
    """A pickle gadget: unpickling runs os.system(cmd).  The command only
    creates a marker file, so a pickle that gets through is visible."""

    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def len32(payload):
    return struct.pack(">L", len(payload)) + payload


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    """True if something LISTENs on 127.0.0.1:port or 0.0.0.0:port,
    read from /proc/net/tcp (no connection is made, so no audit event)."""
    want = {"0100007F:%04X" % port, "00000000:%04X" % port}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[1] in want and parts[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def wait_until(pred, timeout, interval=0.02):
    """Poll pred() until it returns a true value or timeout passes;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def wait_closed(sock, timeout):
    """Read from sock until the peer closes it (EOF or a reset/TLS error).
    Returns (how, seconds, data): how is "eof", "error: ..." or
    "timeout"."""
    t0 = time.monotonic()
    data = b""
    deadline = t0 + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout", time.monotonic() - t0, data
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return "timeout", time.monotonic() - t0, data
        except (ssl.SSLError, OSError) as e:
            return "error: %s" % e, time.monotonic() - t0, data
        if not chunk:
            return "eof", time.monotonic() - t0, data
        data += chunk


def make_log_record(msg, name="e2e", level=logging.INFO, exc_info=None,
                    **extra):
    rec = logging.LogRecord(name, level, __file__, 42, msg, None, exc_info,
                            func="e2e")
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


_PICKLER = logging.handlers.SocketHandler("127.0.0.1", 9)


def log_record_bytes(msg, **extra):
    """What SocketHandler sends for one record (len32 header + pickle)."""
    return _PICKLER.makePickle(make_log_record(msg, **extra))


# ======================================================================
# Backends (child processes): --role backend --kind logging|raw|mp
# ======================================================================

class _Recorder:
    """Everything a backend receives goes to OUT/conn-N.raw; events
    (connections, TLS, decoded objects) to OUT/events.jsonl."""

    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        os.makedirs(out, exist_ok=True)
        self.f = open(os.path.join(out, "events.jsonl"), "a")

    def event(self, **kw):
        kw["t"] = round(time.time(), 6)
        line = json.dumps(kw, default=repr) + "\n"
        with self.lock:
            self.f.write(line)
            self.f.flush()

    def new_conn(self):
        n = next(self.counter)
        f = open(os.path.join(self.out, "conn-%d.raw" % n), "wb")
        return n, f


class _RecordingSocket:
    """recv() that writes what it returns to a file (for the cookbook
    handler, which calls self.connection.recv)."""

    def __init__(self, sock, f, rec, n):
        self.sock, self.f, self.rec, self.n = sock, f, rec, n

    def recv(self, size):
        data = self.sock.recv(size)
        self.f.write(data)
        self.f.flush()
        return data

    def __getattr__(self, name):
        return getattr(self.sock, name)


class _RecordingRaw(io.RawIOBase):
    """The raw layer under the raw server's BufferedReader (as
    sock.makefile('rb') has a SocketIO there), recording every byte."""

    def __init__(self, sock, f):
        self.sock, self.f = sock, f

    def readable(self):
        return True

    def readinto(self, b):
        n = self.sock.recv_into(b)
        self.f.write(bytes(b[:n]))
        self.f.flush()
        return n


def _backend_tls_context(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.tls_cert, a.tls_key)
    if a.tls_ca:
        ctx.load_verify_locations(a.tls_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def backend_main(a):
    rec = _Recorder(a.out)
    if a.kind == "mp":
        return _backend_mp(a, rec)
    tls_ctx = _backend_tls_context(a) if a.tls_cert else None
    if tls_ctx is not None:
        def sni(sslobj, name, ctx):
            rec.event(ev="sni", name=name)
        tls_ctx.sni_callback = sni

    class Base(socketserver.StreamRequestHandler):
        def setup(self):
            self.n, self.rawf = rec.new_conn()
            rec.event(ev="open", conn=self.n)
            self.tls_ok = True
            if tls_ctx is not None:
                try:
                    self.request.settimeout(10)
                    self.request = tls_ctx.wrap_socket(self.request,
                                                       server_side=True)
                    self.request.settimeout(None)
                    cert = self.request.getpeercert()
                    rec.event(ev="tls", conn=self.n,
                              version=self.request.version(),
                              peer=cert.get("subject") if cert else None)
                except (ssl.SSLError, OSError) as e:
                    rec.event(ev="tls_error", conn=self.n, error=str(e))
                    self.tls_ok = False
            super().setup()

        def finish(self):
            try:
                super().finish()
            finally:
                self.rawf.close()
                rec.event(ev="close", conn=self.n)

    # The logging cookbook's receiver ("Sending and receiving logging
    # events across a network"), with every recv recorded.
    class LogRecordStreamHandler(Base):
        def handle(self):
            if not self.tls_ok:
                return
            self.connection = _RecordingSocket(self.request, self.rawf, rec,
                                               self.n)
            while True:
                chunk = self.connection.recv(4)
                if len(chunk) < 4:
                    if chunk:
                        rec.event(ev="short_header", conn=self.n,
                                  got=len(chunk))
                    break
                slen = struct.unpack(">L", chunk)[0]
                chunk = self.connection.recv(slen)
                while len(chunk) < slen:
                    more = self.connection.recv(slen - len(chunk))
                    if not more:
                        rec.event(ev="truncated", conn=self.n)
                        return
                    chunk = chunk + more
                obj = self.unPickle(chunk)
                record = logging.makeLogRecord(obj)
                self.handleLogRecord(record)
                self.records = getattr(self, "records", 0) + 1
                if a.close_after and self.records >= a.close_after:
                    rec.event(ev="closing", conn=self.n)
                    return

        def unPickle(self, data):
            return pickle.loads(data)

        def handleLogRecord(self, record):
            rec.event(ev="record", conn=self.n, msg=record.msg,
                      name=record.name, levelno=record.levelno)

    # pickle.load(sock.makefile('rb')) in a loop: one Unpickler per
    # connection, its memo kept across pickles.
    class RawPickleHandler(Base):
        def handle(self):
            if not self.tls_ok:
                return
            f = io.BufferedReader(_RecordingRaw(self.request, self.rawf))
            u = pickle.Unpickler(f)
            while True:
                try:
                    obj = u.load()
                except EOFError:
                    break
                except Exception as e:  # the server carries on? no: stop
                    rec.event(ev="load_error", conn=self.n, error=repr(e))
                    break
                rec.event(ev="object", conn=self.n, repr=repr(obj))

    handler = {"logging": LogRecordStreamHandler,
               "raw": RawPickleHandler}[a.kind]

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True


    srv = Server(("127.0.0.1", a.port), handler)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    srv.serve_forever()


def _backend_mp(a, rec):
    import multiprocessing.connection as mpc
    orig = mpc.Connection._recv
    lock = threading.Lock()

    def _recv(self, size, read=os.read):
        buf = orig(self, size)
        with lock:
            if not hasattr(self, "_pw_f"):
                self._pw_n, self._pw_f = rec.new_conn()
        self._pw_f.write(buf.getvalue())
        self._pw_f.flush()
        return buf

    mpc.Connection._recv = _recv
    listener = mpc.Listener(("127.0.0.1", a.port), authkey=a.authkey.encode())
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    def serve(c):
        n = getattr(c, "_pw_n", None)
        rec.event(ev="open", conn=n)
        while True:
            try:
                obj = c.recv()
            except EOFError:
                rec.event(ev="eof", conn=n)
                break
            except Exception as e:
                rec.event(ev="recv_error", conn=n, error=repr(e))
                break
            rec.event(ev="object", conn=n, repr=repr(obj))
            try:
                c.send(obj)
            except Exception as e:
                rec.event(ev="send_error", conn=n, error=repr(e))
                break
        c.close()

    while True:
        try:
            c = listener.accept()
        except Exception as e:  # AuthenticationError, EOFError, ...
            rec.event(ev="accept_error", error=repr(e))
            continue
        threading.Thread(target=serve, args=(c,), daemon=True).start()


# ======================================================================
# The write-then-close logging client (child process)
# ======================================================================

class TLSSocketHandler(logging.handlers.SocketHandler):
    """SocketHandler over TLS; keeps a copy of every makePickle output."""

    def __init__(self, host, port, ctx, server_hostname="localhost"):
        super().__init__(host, port)
        self.ctx = ctx
        self.server_hostname = server_hostname
        self.sent = []
        self.sockets = []

    def makeSocket(self, timeout=1):
        s = super().makeSocket(timeout=IO_TIMEOUT)
        s = self.ctx.wrap_socket(s, server_hostname=self.server_hostname)
        self.sockets.append(s)
        return s

    def makePickle(self, record):
        b = super().makePickle(record)
        self.sent.append(b)
        return b

    def handleError(self, record):
        # Do not print tracebacks; the test looks at what arrived.
        self.errors = getattr(self, "errors", 0) + 1


def burst_client_main(a):
    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    h = TLSSocketHandler("127.0.0.1", a.port, ctx)
    log = logging.getLogger("burst")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(h)
    for i in range(a.count):
        log.info("burst record %d", i)
    version = h.sock.version() if h.sock else None
    h.close()
    # Exit at once: no flush of anything, no waiting for the peer.
    sys.stdout.write(json.dumps({"version": version,
                                 "errors": getattr(h, "errors", 0),
                                 "sent": len(h.sent)}) + "\n")
    sys.stdout.flush()
    os._exit(0)


# ======================================================================
# The test harness
# ======================================================================

class TestFailure(Exception):
    pass


def q(s):
    """A quoted config string."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Backend:
    def __init__(self, t, kind, name, tls=None, authkey=None,
                 close_after=None):
        self.t = t
        self.kind = kind
        self.port = free_port()
        self.out = os.path.join(t.dir, "backend-" + name)
        os.makedirs(self.out, exist_ok=True)
        argv = [PYTHON, os.path.abspath(__file__), "--role", "backend",
                "--kind", kind, "--port", str(self.port), "--out", self.out]
        if tls:
            argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
            if len(tls) > 2:
                argv += ["--tls-ca", tls[2]]
        if authkey:
            argv += ["--authkey", authkey]
        if close_after:
            argv += ["--close-after", str(close_after)]
        self.stderr_path = os.path.join(self.out, "stderr.txt")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, start_new_session=True)
        t.procs.append(self.proc)
        if not wait_until(lambda: listening(self.port) or
                          self.proc.poll() is not None, START_TIMEOUT) \
                or self.proc.poll() is not None:
            raise TestFailure("backend %s did not start: %s" %
                              (name, self.stderr()))

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")[-2000:]
        except OSError:
            return ""

    def raw(self):
        """{conn number: bytes received}"""
        res = {}
        for fn in os.listdir(self.out):
            m = re.fullmatch(r"conn-(\d+)\.raw", fn)
            if m:
                with open(os.path.join(self.out, fn), "rb") as f:
                    res[int(m.group(1))] = f.read()
        return dict(sorted(res.items()))

    def all_bytes(self):
        return b"".join(self.raw().values())

    def events(self, ev=None):
        path = os.path.join(self.out, "events.jsonl")
        res = []
        try:
            with open(path) as f:
                for line in f:
                    if line.endswith("\n"):
                        e = json.loads(line)
                        if ev is None or e.get("ev") == ev:
                            res.append(e)
        except OSError:
            pass
        return res

    def wait_bytes(self, n, timeout=ARRIVE_TIMEOUT):
        return wait_until(lambda: len(self.all_bytes()) >= n, timeout)

    def wait_events(self, ev, n, timeout=ARRIVE_TIMEOUT):
        wait_until(lambda: len(self.events(ev)) >= n, timeout)
        return self.events(ev)


class Picklewall:
    def __init__(self, t, name, listeners, global_opts=None):
        self.t = t
        self.name = name
        self.dir = os.path.join(t.dir, "pw-" + name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "picklewall.conf")
        self.audit_path = os.path.join(self.dir, "audit.jsonl")
        self.stderr_path = os.path.join(self.dir, "stderr.txt")
        g = {"audit_log": q(self.audit_path)}
        g.update(global_opts or {})
        self.ports = {}
        lines = ["# written by tests/e2e/run.py", "[global]"]
        lines += ["%s = %s" % kv for kv in g.items()]
        for lname, opts in listeners:
            port = free_port()
            self.ports[lname] = port
            lines += ["", "[listener %s]" % lname,
                      "listen = 127.0.0.1:%d" % port]
            lines += ["%s = %s" % kv for kv in opts.items()]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.stderr_f = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [t.binary, "--config", self.conf], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.stderr_f, env=env,
            start_new_session=True)
        t.procs.append(self.proc)
        t.picklewalls.append(self)
        self.stopped = False
        ok = wait_until(lambda: self.proc.poll() is not None or
                        all(listening(p) for p in self.ports.values()),
                        START_TIMEOUT)
        if not ok or self.proc.poll() is not None:
            raise TestFailure("picklewall did not start (exit %s): %s" %
                              (self.proc.poll(), self.stderr()))

    def port(self, lname):
        return self.ports[lname]

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM; returns a list of problems (exit status, sanitizer)."""
        if self.stopped:
            return []
        self.stopped = True
        problems = []
        if self.proc.poll() is not None:
            problems.append("picklewall %s died during the test (exit %s): "
                            "%s" % (self.name, self.proc.returncode,
                                    self.stderr()[-2000:]))
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                problems.append("picklewall %s did not exit within %.0fs "
                                "of SIGTERM" % (self.name, STOP_TIMEOUT))
            if self.proc.returncode != 0:
                problems.append("picklewall %s exited %s on SIGTERM" %
                                (self.name, self.proc.returncode))
        self.stderr_f.close()
        problems += self.validate_audit()
        err = self.stderr()
        if any(p in err for p in SANITIZER_PATTERNS):
            problems.append("sanitizer output on picklewall %s stderr:\n%s"
                            % (self.name, err[-4000:]))
        return problems

    def audit(self):
        """Every complete line of the audit log, parsed; a line that is
        not JSON is a test failure."""
        try:
            with open(self.audit_path, "rb") as f:
                data = f.read()
        except OSError:
            return []
        res = []
        for line in data.split(b"\n")[:-1]:
            try:
                res.append(json.loads(line))
            except ValueError:
                pass    # reported by validate_audit()
        return res

    def validate_audit(self):
        """Every line of the audit log is a JSON object with a timestamp
        (RFC 3339, UTC, microseconds) and a known event."""
        problems = []
        try:
            with open(self.audit_path, "rb") as f:
                data = f.read()
        except OSError:
            return problems
        if data and not data.endswith(b"\n"):
            problems.append("audit log does not end with a newline")
        for line in data.split(b"\n")[:-1]:
            try:
                e = json.loads(line)
            except ValueError:
                problems.append("audit line is not JSON: %r" % line[:300])
                continue
            if not isinstance(e, dict) or not re.fullmatch(
                    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z",
                    str(e.get("timestamp"))) or e.get("event") not in (
                    "conn_open", "tls", "message", "conn_close", "error",
                    "audit_dropped", "reload"):
                problems.append("bad audit line: %r" % line[:300])
            if len(problems) > 5:
                break
        return problems

    def wait_audit(self, pred, timeout=ARRIVE_TIMEOUT):
        """Wait until some audit event satisfies pred; returns it or None."""
        def find():
            for e in self.audit():
                if pred(e):
                    return e
            return None
        return wait_until(find, timeout)

    def conn_id(self, client_port, timeout=ARRIVE_TIMEOUT):
        e = self.wait_audit(lambda e: e.get("event") == "conn_open" and
                            e.get("client_port") == client_port, timeout)
        return e.get("conn_id") if e else None

    def events_of(self, conn_id, event=None):
        return [e for e in self.audit() if e.get("conn_id") == conn_id and
                (event is None or e.get("event") == event)]

    def wait_close(self, conn_id, timeout=ARRIVE_TIMEOUT):
        return self.wait_audit(lambda e: e.get("event") == "conn_close" and
                               e.get("conn_id") == conn_id, timeout)


class T:
    """One test's context: its directory, processes and failed checks."""

    def __init__(self, name, binary, certs, root_dir, verbose):
        self.name = name
        self.binary = binary
        self.certs = certs
        self.dir = os.path.join(root_dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.procs = []
        self.picklewalls = []
        self.closers = []
        self.failures = []
        self.verbose = verbose

    def cert(self, fn):
        return os.path.join(self.certs, fn)

    def check(self, cond, msg):
        if not cond:
            self.failures.append(msg)
        elif self.verbose:
            print("      ok: %s" % msg.splitlines()[0][:120])
        return cond

    def require(self, cond, msg):
        """A check whose failure makes the rest of the test meaningless."""
        if not self.check(cond, msg):
            raise TestFailure(msg)

    # --- building blocks ------------------------------------------------

    def backend(self, kind, name="b", **kw):
        return Backend(self, kind, name, **kw)

    def picklewall(self, listeners, global_opts=None, name="pw"):
        return Picklewall(self, name, listeners, global_opts)

    def tls_listener(self, backend, framing, rules=None, **extra):
        o = collections.OrderedDict()
        o["backend"] = backend if isinstance(backend, str) else \
            "tcp://127.0.0.1:%d" % backend.port
        o["framing"] = framing
        if rules:
            o["rules"] = q(os.path.join(RULES, rules))
        o["tls_cert"] = q(self.cert("server-chain.crt"))
        o["tls_key"] = q(self.cert("server.key"))
        for k, v in extra.items():
            if v is not None:
                o[k] = v
        return o

    def client_ctx(self, cert=None, key=None, min_version=None,
                   max_version=None):
        ctx = ssl.create_default_context(cafile=self.cert("ca.crt"))
        if cert:
            ctx.load_cert_chain(self.cert(cert), self.cert(key))
        if min_version:
            ctx.minimum_version = min_version
        if max_version:
            ctx.maximum_version = max_version
        return ctx

    def tls_connect(self, port, ctx=None):
        ctx = ctx or self.client_ctx()
        raw = socket.create_connection(("127.0.0.1", port),
                                       timeout=IO_TIMEOUT)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s = ctx.wrap_socket(raw, server_hostname="localhost")
        except BaseException:
            raw.close()
            raise
        self.closers.append(s.close)
        return s

    def tcp_connect(self, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.closers.append(s.close)
        return s

    def cleanup(self):
        # picklewall first, while clients may still be connected: SIGTERM
        # must close live connections cleanly too.
        for pw in self.picklewalls:
            for p in pw.stop():
                self.failures.append(p)
        for c in reversed(self.closers):
            try:
                c()
            except Exception:
                pass
        # Every process was started as the leader of its own session, so
        # its process group also holds anything it started.
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except OSError:
                    pass
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def audit_message_checks(self, pw, conn_id, sent_msgs):
        """The audit log's message events of conn_id match the messages
        sent (sha256 and length of header + payload, msg_seq order)."""
        msgs = sorted(pw.events_of(conn_id, "message"),
                      key=lambda e: e.get("msg_seq", 0))
        self.check(len(msgs) == len(sent_msgs),
                   "audit: %d message events for %d messages sent" %
                   (len(msgs), len(sent_msgs)))
        self.check([m.get("msg_seq") for m in msgs] ==
                   list(range(1, len(msgs) + 1)),
                   "audit: msg_seq runs 1..N")
        bad = [i for i, (m, b) in enumerate(zip(msgs, sent_msgs))
               if m.get("sha256") != hashlib.sha256(b).hexdigest() or
               m.get("length") != len(b)]
        self.check(not bad, "audit: sha256/length of every message is "
                   "that of the bytes sent (first mismatch: %s)" %
                   (msgs[bad[0]] if bad else None))
        return msgs


def rule_ids(msg_event):
    out = set()
    for r in msg_event.get("rules") or []:
        try:
            out.add(int(r.get("id")))
        except (TypeError, ValueError):
            pass
    return out


GADGET_OS_RULE = 900100      # rules/gadgets.rules: os, posix, nt, _winapi


# ======================================================================
# 1. logging.handlers.SocketHandler -> picklewall -> cookbook receiver
# ======================================================================

def _logging_setup(t, on_deny=None, tickets=None, name="logging",
                   message_hash=None):
    be = t.backend("logging")
    pw = t.picklewall([(name, t.tls_listener(
        be, "len32", "logging.rules", on_deny=on_deny,
        tls_session_tickets=tickets, message_hash=message_hash))])
    return be, pw


def _new_logger(name, handler):
    log = logging.getLogger("e2e." + name)
    log.propagate = False
    log.setLevel(logging.DEBUG)
    for h in list(log.handlers):
        log.removeHandler(h)
    log.addHandler(handler)
    return log


def test_logging_records_arrive_byte_identical(t):
    be, pw = _logging_setup(t)
    h = TLSSocketHandler("127.0.0.1", pw.port("logging"), t.client_ctx())
    log = _new_logger("identical", h)
    msgs = ["plain record", "ünïcödé ✓ \u2028 record", "x" * 70000,
            "with %s args"]
    for i, m in enumerate(msgs):
        log.info(m, "some") if "%s" in m else log.warning(m)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("with a traceback")
    log.error("with extra", extra={"user": "bob", "n": 5, "f": 1.5,
                                   "l": [1, {"a": None}], "ok": True})
    for i in range(50):
        log.debug("numbered %d", i)
    t.require(h.sock is not None and not getattr(h, "errors", 0),
              "the handler connected and sent without errors")
    version = h.sock.version()
    client_port = h.sock.getsockname()[1]
    expected = b"".join(h.sent)
    be.wait_bytes(len(expected))
    h.close()
    got = be.raw()
    t.check(len(got) == 1, "backend saw one connection (got %d)" % len(got))
    data = b"".join(got.values())
    t.check(data == expected,
            "backend received exactly the bytes SocketHandler sent "
            "(%d sent, %d received, first difference at %s)" %
            (len(expected), len(data),
             next((i for i, (x, y) in enumerate(zip(expected, data))
                   if x != y), min(len(expected), len(data)))))
    recs = be.wait_events("record", len(h.sent))
    t.check(len(recs) == len(h.sent), "the receiver unpickled %d of %d "
            "records" % (len(recs), len(h.sent)))
    t.check(not be.events("short_header"),
            "the receiver's recv(4) always got the whole header")
    cid = pw.conn_id(client_port)
    t.require(cid is not None, "audit: conn_open for the client's port")
    close = pw.wait_close(cid)
    t.require(close is not None, "audit: conn_close for the connection")
    msgs_ev = t.audit_message_checks(pw, cid, h.sent)
    t.check(all(m.get("verdict") == "allow" for m in msgs_ev),
            "audit: every record allowed")
    tls_ev = pw.events_of(cid, "tls")
    t.check(len(tls_ev) == 1 and tls_ev[0].get("tls_version") == version,
            "audit: tls event with the negotiated version %s (%s)" %
            (version, tls_ev))
    t.check(close.get("bytes_from_client") == len(expected) and
            close.get("bytes_to_backend") == len(expected) and
            close.get("messages_from_client") == len(h.sent) and
            close.get("messages_to_backend") == len(h.sent),
            "audit: conn_close counts bytes and messages (%s)" % close)
    t.check(close.get("reason") and isinstance(close.get("duration_us"), int),
            "audit: conn_close has a reason and a duration (%s)" % close)


def test_logging_malicious_record_never_reaches_backend(t):
    be, pw = _logging_setup(t)
    marker = os.path.join(t.dir, "PWNED-logging")
    h = TLSSocketHandler("127.0.0.1", pw.port("logging"), t.client_ctx())
    log = _new_logger("malicious", h)
    log.info("before the attack")
    be.wait_bytes(len(h.sent[0]))
    log.info("attack", extra={"payload": Evil("touch " + marker)})
    before, evil = h.sent
    t.require(b"system" in evil and marker.encode() in evil,
              "the malicious record pickles os.system")
    client_port = h.sock.getsockname()[1]
    how, secs, _ = wait_closed(h.sock, 5)
    t.check(how != "timeout", "picklewall closed the connection after "
            "the denied record (on_deny = close): %s" % how)
    h.close()
    time.sleep(0.1)
    t.check(be.all_bytes() == before,
            "the backend got the benign record and nothing of the denied "
            "one (%d bytes, expected %d)" % (len(be.all_bytes()),
                                            len(before)))
    # A new connection works after the denial.
    h2 = TLSSocketHandler("127.0.0.1", pw.port("logging"), t.client_ctx())
    log = _new_logger("malicious2", h2)
    log.info("after the attack")
    after = h2.sent[0]
    wait_until(lambda: after in be.all_bytes(), 5)
    h2.close()
    time.sleep(0.2)
    data = be.all_bytes()
    t.check(after in data, "a record on a new connection arrives")
    t.check(marker.encode() not in data and b"system" not in data,
            "the malicious pickle's bytes never reached the backend")
    t.check(not os.path.exists(marker), "the gadget did not run on the "
            "backend (marker file absent)")
    cid = pw.conn_id(client_port)
    t.require(cid is not None, "audit: conn_open for the client")
    close = pw.wait_close(cid)
    denied = [m for m in pw.events_of(cid, "message")
              if m.get("verdict") == "deny"]
    t.require(len(denied) == 1, "audit: one denied message (%d)" %
              len(denied))
    d = denied[0]
    t.check(GADGET_OS_RULE in rule_ids(d),
            "audit: the deny names the gadget rule %d (rules: %s)" %
            (GADGET_OS_RULE, d.get("rules")))
    t.check(any(i.get("module") == "posix" and i.get("name") == "system"
                for i in d.get("imports") or []),
            "audit: imports posix.system")
    t.check(any(c.get("callable") == "posix.system"
                for c in d.get("calls") or []), "audit: calls posix.system")
    t.check(d.get("sha256") == hashlib.sha256(evil).hexdigest() and
            d.get("length") == len(evil) and d.get("msg_seq") == 2,
            "audit: msg_seq/sha256/length of the denied message")
    t.check(any(r.get("code") == "import" for r in d.get("reasons") or []),
            "audit: reason import")
    for f in ("scan_us", "protocol", "msg_seq"):
        t.check(f in d, "audit: message event has %s" % f)
    t.check(close is not None and close.get("reason") == "denied" and
            close.get("messages_from_client") == 2,
            "audit: conn_close reason denied, 2 messages in (%s)" % close)
    t.check(close is not None and close.get("bytes_to_backend") ==
            len(before) and close.get("messages_to_backend") == 1,
            "audit: conn_close 1 message, %d bytes to the backend (%s)" %
            (len(before), close))


def test_logging_write_then_close_tls13_all_records_arrive(t):
    be, pw = _logging_setup(t)
    n = 1000
    p = subprocess.run(
        [PYTHON, os.path.abspath(__file__), "--role", "burst-client",
         "--port", str(pw.port("logging")), "--ca", t.cert("ca.crt"),
         "--count", str(n)], stdin=subprocess.DEVNULL,
        capture_output=True, timeout=60)
    t.require(p.returncode == 0, "the burst client ran (exit %s): %s" %
              (p.returncode, p.stderr.decode(errors="replace")[-1000:]))
    res = json.loads(p.stdout.decode().strip().splitlines()[-1])
    t.check(res["version"] == "TLSv1.3", "TLS 1.3 was negotiated (%s)" %
            res["version"])
    t.check(res["errors"] == 0 and res["sent"] == n,
            "the client sent %d records without errors (%s)" % (n, res))
    wait_until(lambda: len(be.events("record")) >= n or
               be.events("short_header"), 15)
    time.sleep(0.1)
    recs = be.events("record")
    t.check(len(recs) == n, "all %d records arrived (%d)" % (n, len(recs)))
    # The cookbook receiver drops the connection when its recv(4) gets
    # less than a whole header: picklewall must write each record, header
    # included, in one write whenever it fits (not cut a coalesced
    # buffer anywhere under backpressure).
    t.check(not be.events("short_header"), "the receiver's recv(4) never "
            "got a partial header (%s)" % be.events("short_header"))
    t.check([r["msg"] for r in recs] ==
            ["burst record %d" % i for i in range(n)][:len(recs)],
            "in order")
    close = pw.wait_audit(lambda e: e.get("event") == "conn_close")
    t.check(close is not None and close.get("messages_to_backend") == n,
            "audit: %d messages forwarded (%s)" % (n, close))


def test_tls13_session_tickets_off_by_default_and_configurable(t):
    """SocketHandler never reads, so unread TLS 1.3 tickets make its
    kernel reset the connection on close: picklewall sends none unless
    tls_session_tickets says so."""
    be = t.backend("logging")
    pw = t.picklewall([
        ("default", t.tls_listener(be, "len32", "logging.rules")),
        ("two", t.tls_listener(be, "len32", "logging.rules",
                               tls_session_tickets="2")),
    ])
    for lname, want in (("default", False), ("two", True)):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = t.client_ctx(min_version=version, max_version=version)
            s = t.tls_connect(pw.port(lname), ctx)
            s.settimeout(0.5)     # read what the server sent after the
            try:                  # handshake (NewSessionTicket)
                s.recv(1)
            except (socket.timeout, TimeoutError, ssl.SSLError):
                pass
            sess = s.session
            has = bool(sess is not None and sess.has_ticket)
            t.check(has == want, "%s, %s: session ticket received: %s, "
                    "expected %s" % (lname, s.version(), has, want))
            s.close()


def test_logging_on_deny_drop_keeps_connection(t):
    be, pw = _logging_setup(t, on_deny="drop")
    marker = os.path.join(t.dir, "PWNED-drop")
    h = TLSSocketHandler("127.0.0.1", pw.port("logging"), t.client_ctx())
    log = _new_logger("drop", h)
    log.info("first")
    s0 = h.sock
    client_port = s0.getsockname()[1]
    log.info("attack", extra={"payload": Evil("touch " + marker)})
    log.info("second")
    log.info("third")
    good = [h.sent[0], h.sent[2], h.sent[3]]
    evil = h.sent[1]
    be.wait_bytes(sum(map(len, good)))
    t.check(h.sock is s0 and not getattr(h, "errors", 0),
            "the client kept its one connection")
    # The connection still works a little later.
    time.sleep(0.3)
    log.info("fourth")
    good.append(h.sent[4])
    be.wait_bytes(sum(map(len, good)))
    t.check(h.sock is s0, "still the same connection")
    h.close()
    raw = be.raw()
    t.check(len(raw) == 1, "backend saw one connection (%d)" % len(raw))
    t.check(b"".join(raw.values()) == b"".join(good),
            "backend received exactly the allowed records, in order")
    t.check(evil not in be.all_bytes() and not os.path.exists(marker),
            "the dropped record never reached the backend")
    recs = be.wait_events("record", 4)
    t.check([r["msg"] for r in recs] == ["first", "second", "third",
                                         "fourth"],
            "receiver got first, second, third, fourth (%s)" %
            [r["msg"] for r in recs])
    cid = pw.conn_id(client_port)
    close = pw.wait_close(cid)
    msgs = t.audit_message_checks(pw, cid, h.sent)
    t.check([m.get("verdict") for m in msgs] ==
            ["allow", "deny", "allow", "allow", "allow"],
            "audit: verdicts allow, deny, allow, allow, allow")
    t.check(close is not None and close.get("messages_from_client") == 5 and
            close.get("messages_to_backend") == 4,
            "audit: conn_close 5 in, 4 out (%s)" % close)


def test_drop_inside_one_record_forwards_the_rest_in_order(t):
    """Allowed, denied, allowed, allowed messages written at once (one TLS
    record): the allowed ones reach the backend whole and in order, the
    denied one never does, and the connection stays up.  With
    message_hash = denied, only the denied message's event has a hash."""
    be, pw = _logging_setup(t, on_deny="drop", message_hash="denied")
    marker = os.path.join(t.dir, "PWNED-record")
    h = TLSSocketHandler("127.0.0.1", pw.port("logging"), t.client_ctx())
    records = [{"msg": "one"}, {"msg": "attack",
                                "payload": Evil("touch " + marker)},
               {"msg": "two"}, {"msg": "three"}]
    frames = [h.makePickle(logging.makeLogRecord(r)) for r in records]
    good = [frames[0], frames[2], frames[3]]
    s = socket.create_connection(("127.0.0.1", pw.port("logging")),
                                 timeout=IO_TIMEOUT)
    s = t.client_ctx().wrap_socket(s, server_hostname="localhost")
    s.sendall(frames[0] + frames[1] + frames[2] + frames[3])
    client_port = s.getsockname()[1]
    be.wait_bytes(sum(map(len, good)))
    s.sendall(frames[0])
    be.wait_bytes(sum(map(len, good)) + len(frames[0]))
    s.close()
    raw = b"".join(be.raw().values())
    t.check(raw == b"".join(good) + frames[0],
            "backend received the allowed messages whole and in order, "
            "then the next one on the same connection")
    t.check(frames[1] not in be.all_bytes() and not os.path.exists(marker),
            "the dropped message never reached the backend")
    recs = be.wait_events("record", 4)
    t.check([r["msg"] for r in recs] == ["one", "two", "three", "one"],
            "receiver got one, two, three, one (%s)" %
            [r["msg"] for r in recs])
    cid = pw.conn_id(client_port)
    pw.wait_close(cid)
    msgs = sorted(pw.events_of(cid, "message"), key=lambda e: e["msg_seq"])
    t.check([(m.get("verdict"), m.get("sha256")) for m in msgs] ==
            [("allow", None), ("deny", hashlib.sha256(frames[1]).hexdigest()),
             ("allow", None), ("allow", None), ("allow", None)],
            "audit: with message_hash = denied only the denied message "
            "has a sha256 (%s)" % [(m.get("verdict"), m.get("sha256"))
                                   for m in msgs])


def test_allowed_message_just_before_a_denied_one_is_delivered(t):
    """An allowed message and a denied one arriving together (one TCP
    read): on_deny = close must still deliver the allowed one, which was
    complete and judged before the denied one arrived, and conn_close must
    count only what reached the backend."""
    lbe = t.backend("logging", "logging")
    rbe = t.backend("raw", "raw")
    pw = t.picklewall([
        ("logging", t.tls_listener(lbe, "len32", "logging.rules")),
        ("raw", t.tls_listener(rbe, "raw", "data-only.rules")),
    ])
    marker = os.path.join(t.dir, "PWNED")
    cases = (
        ("logging", lbe, log_record_bytes("benign, just before"),
         log_record_bytes("attack", payload=Evil("touch " + marker))),
        ("raw", rbe, pickle.dumps({"benign": "just before"}, protocol=4),
         pickle.dumps(Evil("touch " + marker), protocol=4)),
    )
    for lname, be, good, evil in cases:
        for how in ("one write", "two writes"):
            s = t.tls_connect(pw.port(lname))
            port = s.getsockname()[1]
            before = len(be.all_bytes())
            time.sleep(0.2)       # the backend connection is up
            if how == "one write":
                s.sendall(good + evil)
            else:
                s.sendall(good)
                s.sendall(evil)
            res, secs, _ = wait_closed(s, 5)
            t.check(res != "timeout", "%s, %s: the connection is closed "
                    "(%s)" % (lname, how, res))
            wait_until(lambda: len(be.all_bytes()) >= before + len(good), 2)
            got = be.all_bytes()[before:]
            t.check(got == good, "%s, %s: the allowed message sent just "
                    "before the denied one reached the backend (got %d "
                    "bytes, expected %d)" % (lname, how, len(got),
                                             len(good)))
            cid = pw.conn_id(port)
            close = pw.wait_close(cid) if cid else None
            t.check(close is not None and
                    close.get("messages_to_backend") == 1 and
                    close.get("bytes_to_backend") == len(good),
                    "%s, %s: conn_close says 1 message, %d bytes to the "
                    "backend, and so it was (%s)" %
                    (lname, how, len(good),
                     {k: close.get(k) for k in ("messages_to_backend",
                                                "bytes_to_backend",
                                                "reason")}
                     if close else None))
    t.check(not os.path.exists(marker), "no gadget ran")


def test_conn_close_reason_names_the_side_that_closed(t):
    """The client closes and the backend follows: client_closed.  The
    backend closes while the client stays: backend_closed."""
    be = t.backend("logging")
    be2 = t.backend("logging", "closer", close_after=1)
    pw = t.picklewall([
        ("a", t.tls_listener(be, "len32", "logging.rules")),
        ("b", t.tls_listener(be2, "len32", "logging.rules")),
    ])
    rec = log_record_bytes("hello")
    s = t.tls_connect(pw.port("a"))
    port = s.getsockname()[1]
    s.sendall(rec)
    be.wait_bytes(len(rec))
    s.close()
    cid = pw.conn_id(port)
    close = pw.wait_close(cid) if cid else None
    t.check(close is not None and close.get("reason") == "client_closed",
            "the client closed first (the cookbook receiver closes when it "
            "sees EOF): reason client_closed (%s)" %
            (close.get("reason") if close else None))
    s = t.tls_connect(pw.port("b"))
    port = s.getsockname()[1]
    s.sendall(rec)
    res, secs, _ = wait_closed(s, 5)
    t.check(res != "timeout", "the backend's close reaches the client (%s)"
            % res)
    cid = pw.conn_id(port)
    close = pw.wait_close(cid) if cid else None
    t.check(close is not None and close.get("reason") == "backend_closed",
            "the backend closed first: reason backend_closed (%s)" %
            (close.get("reason") if close else None))


# ======================================================================
# 2. multiprocessing.connection
# ======================================================================

class TLSForwarder:
    """plain TCP in -> TLS out (a tiny stunnel client), so that an
    unmodified multiprocessing.connection.Client speaks TLS to
    picklewall."""

    def __init__(self, t, target_port, ctx):
        self.t, self.target_port, self.ctx = t, target_port, ctx
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.ls.settimeout(0.2)
        self.port = self.ls.getsockname()[1]
        self.stop = False
        self.tls_socks = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()
        t.closers.append(self.close)

    def close(self):
        self.stop = True
        for th in self.threads:
            th.join(3)
        self.ls.close()

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.ls.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            th = threading.Thread(target=self._pump, args=(c,), daemon=True)
            self.threads.append(th)
            th.start()

    def _pump(self, plain):
        try:
            raw = socket.create_connection(("127.0.0.1", self.target_port),
                                           timeout=IO_TIMEOUT)
            tls = self.ctx.wrap_socket(raw, server_hostname="localhost")
        except OSError:
            plain.close()
            return
        self.tls_socks.append(tls)
        tls.settimeout(1.0)
        plain.settimeout(IO_TIMEOUT)
        try:
            while not self.stop:
                if tls.pending():
                    r = [tls]
                else:
                    r, _, _ = select.select([plain, tls], [], [], 0.2)
                for s in r:
                    try:
                        data = s.recv(65536)
                    except (socket.timeout, TimeoutError,
                            ssl.SSLWantReadError):
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        return
                    (tls if s is plain else plain).sendall(data)
        except OSError:
            pass
        finally:
            for s in (plain, tls):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


MP_AUTHKEY = "e2e-secret-key"


def _mp_setup(t):
    import multiprocessing.connection as mpc
    be = t.backend("mp", authkey=MP_AUTHKEY)
    pw = t.picklewall([("jobs", t.tls_listener(
        be, "mp", "multiprocessing.rules", mp_handshake=3))])
    fwd = TLSForwarder(t, pw.port("jobs"), t.client_ctx())
    return mpc, be, pw, fwd


def _mp_objects():
    return [
        {"job": 1, "args": [1, 2.5, "three", None, True]},
        ("tuple", b"bytes\x00\xff", bytearray(b"ba"), {1, 2}, frozenset()),
        datetime.datetime(2024, 5, 6, 7, 8, 9, 10,
                          tzinfo=datetime.timezone.utc),
        decimal.Decimal("3.14159"), fractions.Fraction(22, 7),
        uuid.UUID(int=0x1234), complex(1, -2),
        collections.OrderedDict([("a", 1), ("b", 2)]),
        collections.deque([1, 2, 3]), collections.Counter("hello"),
        collections.defaultdict(list, {"k": [1]}),
        b"\xab" * (1 << 20),          # a 1 MiB message
        "end",
    ]


def test_multiprocessing_handshake_and_objects_roundtrip(t):
    mpc, be, pw, fwd = _mp_setup(t)
    c = mpc.Client(("127.0.0.1", fwd.port), authkey=MP_AUTHKEY.encode())
    objs = _mp_objects()
    back = []
    for o in objs:
        c.send(o)
        if not c.poll(IO_TIMEOUT):
            t.require(False, "no reply to %r within %ss" % (o, IO_TIMEOUT))
        back.append(c.recv())
    t.check(back == objs, "every object came back equal")
    t.check([type(x) for x in back] == [type(x) for x in objs],
            "with the same types")
    c.close()
    got = be.wait_events("object", len(objs))
    t.check([e["repr"] for e in got] == [repr(o) for o in objs],
            "the backend unpickled exactly the objects sent")
    t.check(not be.events("accept_error"),
            "the authkey handshake passed (%s)" % be.events("accept_error"))
    close = pw.wait_audit(lambda e: e.get("event") == "conn_close")
    t.require(close is not None, "audit: conn_close")
    msgs = sorted(pw.events_of(close["conn_id"], "message"),
                  key=lambda e: e.get("msg_seq", 0))
    kinds = [m.get("kind") for m in msgs]
    t.check(kinds == ["handshake"] * 3 + ["pickle"] * len(objs),
            "audit: 3 handshake messages then %d pickles (%s)" %
            (len(objs), kinds))
    t.check(all(m.get("verdict") == "allow" for m in msgs),
            "audit: all allowed (%s)" %
            [(m.get("msg_seq"), m.get("verdict"), m.get("reasons"))
             for m in msgs if m.get("verdict") != "allow"])
    t.check(close.get("messages_to_backend") == 3 + len(objs) and
            close.get("bytes_from_client") == close.get("bytes_to_backend")
            and close.get("bytes_from_backend") ==
            close.get("bytes_to_client") and
            close.get("bytes_to_client", 0) > len(objs[-2]),
            "audit: conn_close totals (%s)" % close)


def test_multiprocessing_malicious_object_blocked_and_closed(t):
    mpc, be, pw, fwd = _mp_setup(t)
    marker = os.path.join(t.dir, "PWNED-mp")
    c = mpc.Client(("127.0.0.1", fwd.port), authkey=MP_AUTHKEY.encode())
    c.send({"benign": 1})
    t.require(c.poll(IO_TIMEOUT) and c.recv() == {"benign": 1},
              "a benign object round-trips first")
    c.send(Evil("touch " + marker))
    closed = c.poll(5)
    outcome = "no reply and no close within 5s"
    if closed:
        try:
            outcome = "reply %r" % (c.recv(),)
        except (EOFError, ConnectionError, OSError) as e:
            outcome = "closed: %r" % e
    t.check(outcome.startswith("closed"),
            "the client sees the connection closed (%s)" % outcome)
    c.close()
    be.wait_events("eof", 1, timeout=5)
    time.sleep(0.2)
    t.check(not os.path.exists(marker), "the gadget did not run")
    t.check(marker.encode() not in be.all_bytes() and
            b"system" not in be.all_bytes(),
            "the malicious pickle's bytes never reached the backend")
    t.check([e["repr"] for e in be.events("object")] == [repr({"benign": 1})],
            "the backend unpickled only the benign object")
    d = pw.wait_audit(lambda e: e.get("event") == "message" and
                      e.get("verdict") == "deny")
    t.require(d is not None, "audit: a denied message")
    t.check(GADGET_OS_RULE in rule_ids(d) and d.get("msg_seq") == 5,
            "audit: message 5 denied by the gadget rule (%s)" %
            {k: d.get(k) for k in ("msg_seq", "rules")})
    close = pw.wait_close(d["conn_id"])
    t.check(close is not None and close.get("reason") == "denied",
            "audit: conn_close reason denied (%s)" % close)


# ======================================================================
# 3. raw framing: pickle.load(sock.makefile('rb')) in a loop
# ======================================================================

def _raw_objects():
    return [
        (0, {"proto": 0, "text": "hé"}), (1, [1, 2, (3, 4)]),
        (2, {"b": b"\x00\x01", "s": {1, 2}}), (3, (b"x" * 300, 1.5)),
        (4, ["list", {"nested": [None, True, False]}]),
        (5, {"bytes": b"y" * 70000, "frozen": frozenset({"a"})}),
        (4, "last"),
    ]


def test_raw_several_pickles_per_segment_and_byte_by_byte(t):
    be = t.backend("raw")
    # The backend stops reading at its first unpickling error, so the
    # bytes pickled at protocol < 3 (a _codecs.encode call) may pass.
    pw = t.picklewall([
        ("raw-tls", t.tls_listener(be, "raw", "data-only.rules",
                                   resume_after_error="no")),
        ("raw-plain", collections.OrderedDict([
            ("backend", "tcp://127.0.0.1:%d" % be.port),
            ("framing", "raw"),
            ("rules", q(os.path.join(RULES, "data-only.rules"))),
            ("resume_after_error", "no"),
            ("tls", "no")])),
    ])
    objs = _raw_objects()
    pickles = [pickle.dumps(o, protocol=p) for p, o in objs]
    expect_reprs = []
    sent_by_port = {}
    for lname in ("raw-tls", "raw-plain"):
        if lname == "raw-tls":
            s = t.tls_connect(pw.port(lname))
        else:
            s = t.tcp_connect(pw.port(lname))
        port = s.getsockname()[1]
        # several pickles in one segment (one sendall, one TLS record)
        first = b"".join(pickles[:4])
        s.sendall(first)
        # one pickle split in one-byte segments
        one = pickle.dumps({"split": "one byte per segment", "n": 12345},
                           protocol=2)
        for i in range(len(one)):
            s.sendall(one[i:i + 1])
            time.sleep(0.001)
        # the end of a pickle and the start of the next in one segment
        rest = b"".join(pickles[4:])
        cut = len(pickles[4]) // 2
        s.sendall(rest[:cut])
        time.sleep(0.05)
        s.sendall(rest[cut:])
        sent = first + one + rest
        sent_by_port[port] = sent
        expect_reprs += [repr(o) for _, o in objs[:4]] + \
            [repr({"split": "one byte per segment", "n": 12345})] + \
            [repr(o) for _, o in objs[4:]]
        got = be.wait_events("object", len(expect_reprs))
        t.check([e["repr"] for e in got] == expect_reprs,
                "%s: the backend unpickled every object, in order (%d of "
                "%d)" % (lname, len(got), len(expect_reprs)))
        s.close()
    raw = be.raw()
    t.check(sorted(raw.values()) == sorted(sent_by_port.values()),
            "the backend received exactly the bytes sent, on each "
            "connection")
    t.check(not be.events("load_error"), "no unpickling error on the "
            "backend (%s)" % be.events("load_error"))
    for port, sent in sent_by_port.items():
        cid = pw.conn_id(port)
        close = pw.wait_close(cid) if cid else None
        t.check(close is not None and close.get("messages_to_backend") == 8
                and close.get("bytes_to_backend") == len(sent),
                "audit: 8 messages, %d bytes forwarded (%s)" %
                (len(sent), close))


def test_raw_malicious_pickle_closes_connection(t):
    be = t.backend("raw")
    pw = t.picklewall([("raw", t.tls_listener(be, "raw",
                                               "data-only.rules"))])
    marker = os.path.join(t.dir, "PWNED-raw")
    s = t.tls_connect(pw.port("raw"))
    port = s.getsockname()[1]
    good = pickle.dumps({"ok": 1}, protocol=4)
    s.sendall(good)
    be.wait_events("object", 1)
    evil = pickle.dumps(Evil("touch " + marker), protocol=4)
    after = pickle.dumps({"after": 2}, protocol=4)
    s.sendall(evil + after)
    how, secs, _ = wait_closed(s, 5)
    t.check(how != "timeout", "picklewall closed the connection (%s)" % how)
    time.sleep(0.2)
    data = be.all_bytes()
    t.check(data == good, "the backend received only the benign pickle "
            "(%d bytes, expected %d)" % (len(data), len(good)))
    t.check(not os.path.exists(marker), "the gadget did not run")
    t.check([e["repr"] for e in be.events("object")] == [repr({"ok": 1})],
            "the backend unpickled only the benign object")
    cid = pw.conn_id(port)
    close = pw.wait_close(cid)
    msgs = sorted(pw.events_of(cid, "message"),
                  key=lambda e: e.get("msg_seq", 0))
    t.check([m.get("verdict") for m in msgs][:2] == ["allow", "deny"],
            "audit: allow then deny (%s)" % [m.get("verdict") for m in msgs])
    t.check(len(msgs) >= 2 and GADGET_OS_RULE in rule_ids(msgs[1]),
            "audit: denied by the gadget rule")
    t.check(close is not None and close.get("reason") == "denied" and
            close.get("messages_to_backend") == 1,
            "audit: conn_close reason denied, 1 message forwarded (%s)" %
            close)


def test_raw_call_denied_when_the_server_may_read_on(t):
    """By default a raw listener assumes the server may carry on after an
    unpickling error: a fresh load() per pickle would then restart where
    its buffer was last refilled, inside the pickle.  A pickle that calls
    anything (here bytes at protocol 2: _codecs.encode) is denied and the
    connection closed; pure data passes."""
    be = t.backend("raw")
    pw = t.picklewall([("raw", t.tls_listener(be, "raw",
                                               "data-only.rules"))])
    s = t.tls_connect(pw.port("raw"))
    port = s.getsockname()[1]
    good = pickle.dumps({"ok": [1, 2.5, "x"]}, protocol=2)
    s.sendall(good)
    be.wait_events("object", 1)
    calls = pickle.dumps({"b": b"\x00\x01"}, protocol=2)
    s.sendall(calls + good)
    how, secs, _ = wait_closed(s, 5)
    t.check(how != "timeout", "picklewall closed the connection (%s)" % how)
    time.sleep(0.2)
    t.check(be.all_bytes() == good, "the backend received only the pickle "
            "of pure data")
    cid = pw.conn_id(port)
    msgs = sorted(pw.events_of(cid, "message"),
                  key=lambda e: e.get("msg_seq", 0))
    t.check([m.get("verdict") for m in msgs][:2] == ["allow", "deny"],
            "audit: allow then deny (%s)" % [m.get("verdict") for m in msgs])
    codes = [r.get("code") for r in msgs[1].get("reasons", [])] \
        if len(msgs) > 1 else []
    t.check(codes == ["resume_unknown"], "audit: the only reason is "
            "resume_unknown (%s)" % codes)
    t.check(len(msgs) > 1 and [c.get("callable") for c in
            msgs[1].get("calls", [])] == ["_codecs.encode"],
            "audit: the call is listed all the same")


# ======================================================================
# 4. a TLS backend, verified
# ======================================================================

def test_tls_backend_verified_and_wrong_name_refused(t):
    tls = (t.cert("backend-chain.crt"), t.cert("backend.key"),
           t.cert("ca.crt"))
    good_be = t.backend("logging", "good", tls=tls)
    bad_be = t.backend("logging", "bad", tls=tls)
    common = dict(backend_ca=q(t.cert("ca.crt")))
    pw = t.picklewall([
        ("good", t.tls_listener(
            "tls://127.0.0.1:%d" % good_be.port, "len32", "logging.rules",
            backend_name="backend.test",
            backend_cert=q(t.cert("backend-client-chain.crt")),
            backend_key=q(t.cert("backend-client.key")), **common)),
        ("bad", t.tls_listener(
            "tls://127.0.0.1:%d" % bad_be.port, "len32", "logging.rules",
            backend_name="other.test", **common)),
    ])
    recs = [log_record_bytes("to a TLS backend %d" % i) for i in range(3)]
    s = t.tls_connect(pw.port("good"))
    for r in recs:
        s.sendall(r)
    good_be.wait_bytes(sum(map(len, recs)))
    s.close()
    t.check(good_be.all_bytes() == b"".join(recs),
            "backend.test: the TLS backend received the records unchanged")
    sni = [e.get("name") for e in good_be.events("sni")]
    t.check(sni == ["backend.test"], "SNI backend.test was sent (%s)" % sni)
    tev = good_be.events("tls")
    t.check(len(tev) == 1 and "picklewall" in json.dumps(tev[0].get("peer")),
            "picklewall presented its client certificate CN=picklewall "
            "(%s)" % tev)

    s = t.tls_connect(pw.port("bad"))
    port = s.getsockname()[1]
    try:
        s.sendall(recs[0])
    except OSError:
        pass
    how, secs, _ = wait_closed(s, 5)
    t.check(how != "timeout", "other.test: the client connection was "
            "closed (%s)" % how)
    time.sleep(0.3)
    t.check(bad_be.all_bytes() == b"",
            "other.test: the backend received no application data (%r)" %
            bad_be.all_bytes()[:100])
    t.check(not bad_be.events("record"), "other.test: no record unpickled")
    cid = pw.conn_id(port)
    t.require(cid is not None, "audit: conn_open for the refused client")
    close = pw.wait_close(cid)
    errs = pw.events_of(cid, "error")
    t.check(errs and any(re.search(r"hostname|name|verif|certificate",
                                   e.get("detail") or "", re.I)
                         for e in errs),
            "audit: an error event says the backend certificate failed "
            "verification (%s)" % errs)
    t.check(close is not None and close.get("reason") == "backend_tls_error"
            and close.get("messages_to_backend", 0) == 0,
            "audit: conn_close reason backend_tls_error (%s)" % close)


# ======================================================================
# 5. mTLS
# ======================================================================

def test_mtls_required_refuses_bad_clients_and_logs_identity(t):
    be = t.backend("logging")
    pw = t.picklewall([("mtls", t.tls_listener(
        be, "len32", "logging.rules", client_auth="required",
        client_ca=q(t.cert("ca.crt")), client_crl=q(t.cert("crl-chain.pem")),
        client_allow="CN=demo-client"))])
    port = pw.port("mtls")
    rec = log_record_bytes("from a client")
    cases = [
        ("no certificate", None, None, r"certificate"),
        ("wrong CA", "client-wrong-ca-chain.crt", "client-wrong-ca.key",
         r"unknown ca|issuer|verif"),
        ("revoked", "client-revoked-chain.crt", "client-revoked.key",
         r"revoked"),
        ("CN outside the allow-list", "client-other-chain.crt",
         "client-other.key", r"allow|not permitted|intruder"),
    ]
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        vname = "TLS 1.3" if version == ssl.TLSVersion.TLSv1_3 else "TLS 1.2"
        for what, cert, key, detail_re in cases:
            ctx = t.client_ctx(cert, key, min_version=version,
                               max_version=version)
            raw = socket.create_connection(("127.0.0.1", port),
                                           timeout=IO_TIMEOUT)
            t.closers.append(raw.close)
            client_port = raw.getsockname()[1]
            outcome = None
            try:
                s = ctx.wrap_socket(raw, server_hostname="localhost")
                t.closers.append(s.close)
                try:
                    s.sendall(rec)
                except OSError as e:
                    outcome = "refused after handshake: %s" % e
                if outcome is None:
                    how, secs, data = wait_closed(s, 5)
                    outcome = None if how == "timeout" else \
                        "refused after handshake: %s" % how
            except (ssl.SSLError, OSError) as e:
                outcome = "handshake failed: %s" % e
            t.check(outcome is not None, "%s, %s: refused" % (vname, what))
            cid = pw.conn_id(client_port)
            close = pw.wait_close(cid) if cid else None
            errs = pw.events_of(cid, "error") if cid else []
            t.check(close is not None and close.get("reason") and
                    close.get("messages_to_backend", 0) == 0,
                    "%s, %s: audit conn_close with a reason (%s)" %
                    (vname, what, close))
            t.check(any(re.search(detail_re, e.get("detail") or "", re.I)
                        for e in errs),
                    "%s, %s: audit error event says why (/%s/ in %s)" %
                    (vname, what, detail_re,
                     [e.get("detail") for e in errs]))
            t.check(not pw.events_of(cid, "message") if cid else True,
                    "%s, %s: no message was analyzed" % (vname, what))
    time.sleep(0.2)
    t.check(be.all_bytes() == b"", "the backend received nothing from the "
            "refused clients (%d bytes)" % len(be.all_bytes()))

    s = t.tls_connect(port, t.client_ctx("client-chain.crt", "client.key"))
    client_port = s.getsockname()[1]
    s.sendall(rec)
    be.wait_bytes(len(rec))
    s.close()
    t.check(be.all_bytes() == rec, "the good client's record arrived")
    cid = pw.conn_id(client_port)
    close = pw.wait_close(cid)
    tls_ev = pw.events_of(cid, "tls")
    t.require(len(tls_ev) == 1, "audit: a tls event for the good client")
    with open(t.cert("client.crt")) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    want_sha = hashlib.sha256(der).hexdigest()
    serial = int(ssl._ssl._test_decode_cert(t.cert("client.crt"))
                 ["serialNumber"], 16)
    for name, ev in (("tls", tls_ev[0]), ("conn_close", close or {})):
        sha = (ev.get("peer_sha256") or "").replace(":", "").lower()
        t.check(sha == want_sha, "audit %s: peer_sha256 is the SHA-256 of "
                "the certificate's DER (%s vs %s)" %
                (name, ev.get("peer_sha256"), want_sha))
        try:
            got_serial = int(str(ev.get("peer_serial")).replace(":", ""), 16)
        except ValueError:
            got_serial = None
        t.check(got_serial == serial, "audit %s: peer_serial %s is %X" %
                (name, ev.get("peer_serial"), serial))
        t.check("CN=demo-client" in (ev.get("peer_subject") or ""),
                "audit %s: peer_subject has CN=demo-client (%s)" %
                (name, ev.get("peer_subject")))
        sans = ev.get("peer_sans") or []
        t.check("URI:spiffe://picklewall.test/demo-client" in sans and
                "DNS:demo-client.test" in sans,
                "audit %s: peer_sans has the URI and DNS names (%s)" %
                (name, sans))


# ======================================================================
# 6. slow clients, limits, backend down
# ======================================================================

def test_handshake_timeout_closes_silent_client(t):
    be = t.backend("logging")
    pw = t.picklewall([("slow", t.tls_listener(
        be, "len32", "logging.rules", handshake_timeout="1s"))])
    s = t.tcp_connect(pw.port("slow"))
    port = s.getsockname()[1]
    how, secs, _ = wait_closed(s, 5)
    t.check(how != "timeout" and 0.8 <= secs <= 3.0,
            "a client that sends nothing is closed after about 1s (%s "
            "after %.2fs)" % (how, secs))
    cid = pw.conn_id(port)
    close = pw.wait_close(cid) if cid else None
    t.check(close is not None and close.get("reason") ==
            "handshake_timeout",
            "audit: conn_close reason handshake_timeout (%s)" % close)
    # A half-sent ClientHello is no better.
    s = t.tcp_connect(pw.port("slow"))
    port = s.getsockname()[1]
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    how, secs, _ = wait_closed(s, 5)
    t.check(how != "timeout" and 0.8 <= secs <= 3.0,
            "a partial ClientHello is closed after about 1s (%s after "
            "%.2fs)" % (how, secs))
    cid = pw.conn_id(port)
    close = pw.wait_close(cid) if cid else None
    t.check(close is not None and close.get("reason") ==
            "handshake_timeout",
            "audit: conn_close reason handshake_timeout (%s)" % close)


def test_message_timeout_closes_stalled_message(t):
    be = t.backend("logging")
    pw = t.picklewall([("slow", t.tls_listener(
        be, "len32", "logging.rules", message_timeout="1s"))])
    s = t.tls_connect(pw.port("slow"))
    port = s.getsockname()[1]
    whole = log_record_bytes("a record that never ends")
    s.sendall(whole[:len(whole) // 2])
    how, secs, _ = wait_closed(s, 5)
    t.check(how != "timeout" and 0.8 <= secs <= 3.0,
            "a half-sent message is closed after about 1s (%s after "
            "%.2fs)" % (how, secs))
    t.check(be.all_bytes() == b"", "the backend received nothing")
    cid = pw.conn_id(port)
    close = pw.wait_close(cid) if cid else None
    t.check(close is not None and close.get("reason") == "message_timeout",
            "audit: conn_close reason message_timeout (%s)" % close)
    # A stalled 4-byte header counts too.
    s = t.tls_connect(pw.port("slow"))
    port = s.getsockname()[1]
    s.sendall(whole[:2])
    how, secs, _ = wait_closed(s, 5)
    t.check(how != "timeout" and 0.8 <= secs <= 3.0,
            "a half-sent length header is closed after about 1s (%s after "
            "%.2fs)" % (how, secs))
    cid = pw.conn_id(port)
    close = pw.wait_close(cid) if cid else None
    t.check(close is not None and close.get("reason") == "message_timeout",
            "audit: conn_close reason message_timeout (%s)" % close)


def test_oversize_message_refused(t):
    be = t.backend("logging")
    # No rule file: logging.rules sets `limit message_bytes` 16M, and a
    # listener's max_message_bytes may not be lower than its rule file's
    # limit (the config refuses it); the built-in policy has none.
    pw = t.picklewall([("small", t.tls_listener(
        be, "len32", None, max_message_bytes="64k"))])
    s = t.tls_connect(pw.port("small"))
    port = s.getsockname()[1]
    fits = log_record_bytes("f" * 60000)
    t.require(len(fits) - 4 <= 65536, "the first record fits in 64k")
    s.sendall(fits)
    be.wait_bytes(len(fits))
    big = log_record_bytes("b" * 100000)
    try:
        s.sendall(big)
    except OSError:
        pass
    how, secs, _ = wait_closed(s, 5)
    t.check(how != "timeout", "the oversize message closes the connection "
            "(%s)" % how)
    time.sleep(0.2)
    t.check(be.all_bytes() == fits, "the backend received only the record "
            "that fits (%d bytes, expected %d)" %
            (len(be.all_bytes()), len(fits)))
    cid = pw.conn_id(port)
    close = pw.wait_close(cid) if cid else None
    msgs = sorted(pw.events_of(cid, "message"),
                  key=lambda e: e.get("msg_seq", 0)) if cid else []
    t.check(len(msgs) == 2 and msgs[0].get("verdict") == "allow" and
            msgs[1].get("verdict") == "deny" and
            any(r.get("code") == "limit_message_bytes"
                for r in msgs[1].get("reasons") or []),
            "audit: the second message denied with limit_message_bytes (%s)"
            % [(m.get("verdict"), m.get("reasons")) for m in msgs])
    t.check(close is not None and close.get("messages_to_backend") == 1 and
            close.get("reason") in ("denied", "analysis_ended"),
            "audit: conn_close, 1 message forwarded (%s)" % close)


def test_connection_limit_holds(t):
    be = t.backend("logging")
    pw = t.picklewall(
        [("a", t.tls_listener(be, "len32", "logging.rules")),
         ("b", t.tls_listener(be, "len32", "logging.rules"))],
        global_opts={"max_connections": "2"})
    c1 = t.tls_connect(pw.port("a"))
    c2 = t.tls_connect(pw.port("b"))
    r1, r2 = log_record_bytes("one"), log_record_bytes("two")
    c1.sendall(r1)
    c2.sendall(r2)
    be.wait_bytes(len(r1) + len(r2))
    refused = None
    third_port = None
    try:
        raw = socket.create_connection(("127.0.0.1", pw.port("a")),
                                       timeout=IO_TIMEOUT)
        t.closers.append(raw.close)
        third_port = raw.getsockname()[1]
        c3 = t.client_ctx().wrap_socket(raw, server_hostname="localhost")
        t.closers.append(c3.close)
        try:
            c3.sendall(log_record_bytes("three"))
        except OSError as e:
            refused = "after handshake: %s" % e
        if refused is None:
            how, secs, _ = wait_closed(c3, 5)
            refused = None if how == "timeout" else "after handshake: " + how
    except (ssl.SSLError, OSError) as e:
        refused = "handshake: %s" % e
    t.check(refused is not None, "the third connection is refused (%s)" %
            refused)
    ev = pw.wait_audit(lambda e: e.get("event") == "error" and
                       "max_connections" in (e.get("detail") or ""))
    t.check(ev is not None, "audit: an error event about max_connections")
    time.sleep(0.2)
    t.check(b"three" not in be.all_bytes(), "the third client's record did "
            "not arrive")
    # The two first still work.
    more = log_record_bytes("one again")
    c1.sendall(more)
    t.check(be.wait_bytes(len(r1) + len(r2) + len(more)),
            "the admitted connections still work")
    # Closing one makes room.
    p1 = c1.getsockname()[1]
    c1.close()
    cid1 = pw.conn_id(p1)
    t.check(pw.wait_close(cid1) is not None, "audit: the first closes")
    c4 = t.tls_connect(pw.port("a"))
    r4 = log_record_bytes("four")
    c4.sendall(r4)
    t.check(be.wait_bytes(len(r1) + len(r2) + len(more) + len(r4)),
            "after one closed, a new connection is admitted")
    # SIGTERM with two live connections: both are closed and logged.
    live = [pw.conn_id(c.getsockname()[1]) for c in (c2, c4)]
    for p in pw.stop():
        t.failures.append(p)
    for c in (c2, c4):
        how, secs, _ = wait_closed(c, 5)
        t.check(how != "timeout", "SIGTERM closes a live client connection "
                "(%s)" % how)
    closes = [e for e in pw.audit() if e.get("event") == "conn_close" and
              e.get("conn_id") in live]
    t.check(len(closes) == 2 and all(e.get("reason") == "shutdown"
                                     for e in closes),
            "audit: both live connections closed with reason shutdown (%s)"
            % [e.get("reason") for e in closes])


def test_connection_limit_refusal_names_the_client(t):
    """The audit event for a connection refused at max_connections says
    whose connection it was (client_addr, client_port), as every
    connection event does."""
    be = t.backend("logging")
    pw = t.picklewall([("a", t.tls_listener(be, "len32", "logging.rules"))],
                      global_opts={"max_connections": "1"})
    c1 = t.tls_connect(pw.port("a"))
    t.require(pw.conn_id(c1.getsockname()[1]) is not None,
              "the first connection is admitted")
    raw = t.tcp_connect(pw.port("a"))
    port = raw.getsockname()[1]
    wait_closed(raw, 5)
    ev = pw.wait_audit(lambda e: e.get("event") == "error" and
                       "max_connections" in (e.get("detail") or ""))
    t.require(ev is not None, "audit: an error event about max_connections")
    t.check(ev.get("client_addr") == "127.0.0.1" and
            ev.get("client_port") == port,
            "audit: the refusal names the client 127.0.0.1:%d (%s)" %
            (port, ev))


def test_backend_down_is_logged_and_client_closed(t):
    dead = free_port()
    pw = t.picklewall([("down", t.tls_listener(
        "tcp://127.0.0.1:%d" % dead, "len32", "logging.rules"))])
    s = t.tls_connect(pw.port("down"))
    port = s.getsockname()[1]
    try:
        s.sendall(log_record_bytes("anyone there?"))
    except OSError:
        pass
    how, secs, _ = wait_closed(s, 5)
    t.check(how != "timeout", "the client connection is closed (%s)" % how)
    cid = pw.conn_id(port)
    t.require(cid is not None, "audit: conn_open")
    close = pw.wait_close(cid)
    errs = pw.events_of(cid, "error")
    t.check(any("127.0.0.1:%d" % dead in (e.get("detail") or "") and
                re.search(r"connection refused", e.get("detail") or "", re.I)
                for e in errs),
            "audit: an error names the backend 127.0.0.1:%d and "
            "'Connection refused' (%s)" % (dead, errs))
    t.check(close is not None and close.get("reason") ==
            "backend_unreachable",
            "audit: conn_close reason backend_unreachable (%s)" % close)


# ======================================================================
# picklewall -t --config
# ======================================================================

def test_config_check_good_and_broken(t):
    d = os.path.join(t.dir, "conf")
    os.makedirs(d)
    good = os.path.join(d, "good.conf")
    lines = [
        "[global]", "audit_log = %s" % q(os.path.join(d, "audit.jsonl")),
        "max_connections = 10", "",
        "[listener logging]", "listen = 127.0.0.1:%d" % free_port(),
        "backend = tcp://127.0.0.1:%d" % free_port(), "framing = len32",
        "rules = %s" % q(os.path.join(RULES, "logging.rules")),
        "on_deny = drop",
        "tls_cert = %s" % q(t.cert("server-chain.crt")),
        "tls_key = %s" % q(t.cert("server.key")),
        "client_auth = required", "client_ca = %s" % q(t.cert("ca.crt")),
        "client_crl = %s" % q(t.cert("crl-chain.pem")),
        "client_allow = CN=demo-client, URI=spiffe://picklewall.test/x",
        "",
        "[listener jobs]", "listen = 127.0.0.1:%d" % free_port(),
        "backend = tls://127.0.0.1:%d" % free_port(), "framing = mp",
        "rules = %s" % q(os.path.join(RULES, "multiprocessing.rules")),
        "tls_cert = %s" % q(t.cert("server-chain.crt")),
        "tls_key = %s" % q(t.cert("server.key")),
        "backend_ca = %s" % q(t.cert("ca.crt")),
        "backend_name = backend.test",
        "backend_cert = %s" % q(t.cert("backend-client-chain.crt")),
        "backend_key = %s" % q(t.cert("backend-client.key")),
    ]
    with open(good, "w") as f:
        f.write("\n".join(lines) + "\n")
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")

    def run(path):
        p = subprocess.run([t.binary, "-t", "--config", path],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30, env=env)
        err = p.stderr.decode(errors="replace")
        t.check(not any(s in err for s in SANITIZER_PATTERNS),
                "no sanitizer output from -t: %s" % err[-2000:])
        return p.returncode, p.stdout.decode(errors="replace"), err

    rc, out, err = run(good)
    t.check(rc == 0, "-t on a good config exits 0 (%s: %s)" % (rc, err))
    t.check(not os.path.exists(os.path.join(d, "audit.jsonl")),
            "-t does not create the audit log")

    bad = os.path.join(d, "bad.conf")
    bl = list(lines)
    bl.insert(7, "no_such_key = 1")
    with open(bad, "w") as f:
        f.write("\n".join(bl) + "\n")
    rc, out, err = run(bad)
    t.check(rc == 78, "-t on an unknown key exits 78 (%s)" % rc)
    t.check(re.search(re.escape(bad) + r":8:", err) is not None and
            "no_such_key" in err,
            "the error names %s:8 and the key (%r)" % (bad, err))

    mism = os.path.join(d, "mismatch.conf")
    ml = [l.replace(t.cert("server.key"), t.cert("client.key"))
          if l.startswith("tls_key") else l for l in lines]
    with open(mism, "w") as f:
        f.write("\n".join(ml) + "\n")
    rc, out, err = run(mism)
    t.check(rc == 78, "-t with a key that does not match its certificate "
            "exits 78 (%s: %s)" % (rc, err.strip()))


def _log_frame(msg):
    """What SocketHandler sends for a record of ${msg}: len32 + pickle."""
    rec = logging.makeLogRecord({"name": "e2e.reload", "msg": msg,
                                 "levelno": logging.INFO,
                                 "levelname": "INFO"})
    return logging.handlers.SocketHandler("localhost", 0).makePickle(rec)


def test_reload_rules_reach_live_connections(t):
    """SIGUSR2 loads the rule files again: a live connection decides its
    next message with the new rules, a message in progress finishes under
    the rules it started with, and a rule file that does not load leaves
    the rules in force."""
    rules = os.path.join(t.dir, "reload.rules")
    data_only = "mode enforce\n"
    small_only = ("mode enforce\ndeny message size > 100\n"
                  "    (id: 9001; rev: 1; msg: \"e2e: small messages only\";"
                  " severity: high;)\n")
    with open(rules, "w") as f:
        f.write(data_only)
    be = t.backend("logging")
    opts = t.tls_listener(be, "len32", on_deny="drop")
    opts["rules"] = q(rules)
    pw = t.picklewall([("logging", opts)])
    s = t.tls_connect(pw.port("logging"))
    client_port = s.getsockname()[1]
    sent_ok = []

    def reload(text, generation=None):
        with open(rules + ".tmp", "w") as f:
            f.write(text)
        os.replace(rules + ".tmp", rules)
        before = len([e for e in pw.audit()
                      if e.get("event") in ("reload", "error")])
        pw.proc.send_signal(signal.SIGUSR2)
        return wait_until(lambda: len(
            [e for e in pw.audit() if e.get("event") in
             ("reload", "error")]) > before, ARRIVE_TIMEOUT)

    first = _log_frame("before the reload")
    s.sendall(first)
    sent_ok.append(first)
    be.wait_bytes(len(first))

    # A message cut in two by the reload keeps the rules it started with.
    split = _log_frame("in progress during the reload")
    s.sendall(split[:30])
    t.require(pw.wait_audit(lambda e: e.get("event") == "conn_open" and
                            e.get("client_port") == client_port)
              is not None, "the connection is open")
    time.sleep(0.3)
    reload(small_only)
    ev = pw.wait_audit(lambda e: e.get("event") == "reload")
    t.check(ev is not None and ev.get("listener") == "logging" and
            ev.get("generation") == 2 and ev.get("rules") == rules,
            "audit: reload of listener logging, generation 2 (%s)" % ev)
    s.sendall(split[30:])
    sent_ok.append(split)
    be.wait_bytes(len(first) + len(split))

    # The next message on the same connection: the new rules deny it.
    denied = _log_frame("after the reload")
    s.sendall(denied)
    cid = pw.conn_id(client_port)
    t.check(pw.wait_audit(lambda e: e.get("event") == "message" and
                          e.get("conn_id") == cid and
                          e.get("verdict") == "deny") is not None,
            "audit: the message after the reload is denied")

    # A rule file that does not load: the rules in force stay.
    reload("mode enforce\nthis is not a rule\n")
    err = pw.wait_audit(lambda e: e.get("event") == "error" and
                        e.get("code") == "config_error")
    t.check(err is not None and "reload" in str(err.get("detail")),
            "audit: an error event for the failed reload (%s)" % err)
    t.check(re.search(re.escape(rules) + r":2:", pw.stderr()) is not None,
            "stderr names the bad line (%r)" % pw.stderr()[-500:])
    still = _log_frame("still denied")
    s.sendall(still)
    t.check(wait_until(lambda: len([
        e for e in pw.events_of(cid, "message")
        if e.get("verdict") == "deny"]) >= 2, ARRIVE_TIMEOUT),
        "audit: the rules in force still deny")

    # Back to data only: the same connection is allowed again.
    reload(data_only)
    t.check(pw.wait_audit(lambda e: e.get("event") == "reload" and
                          e.get("generation") == 3) is not None,
            "audit: reload generation 3")
    again = _log_frame("allowed again")
    s.sendall(again)
    sent_ok.append(again)
    be.wait_bytes(sum(map(len, sent_ok)))
    # A connection opened now decides with the rules of now.
    s2 = t.tls_connect(pw.port("logging"))
    fresh = _log_frame("new connection")
    s2.sendall(fresh)
    be.wait_bytes(sum(map(len, sent_ok)) + len(fresh))
    s.close()
    s2.close()
    raw = be.raw()
    t.check(len(raw) == 2, "backend saw two connections (%d)" % len(raw))
    t.check(raw.get(min(raw)) == b"".join(sent_ok),
            "the first connection delivered exactly the allowed messages")
    t.check(raw.get(max(raw)) == fresh,
            "the second connection delivered its message")
    recs = [r["msg"] for r in be.wait_events("record", 4)]
    t.check(recs[:3] == ["before the reload", "in progress during the "
                         "reload", "allowed again"] or
            sorted(recs) == sorted(["before the reload", "in progress "
                                    "during the reload", "allowed again",
                                    "new connection"]),
            "receiver got the allowed records (%s)" % recs)
    verdicts = [e.get("verdict") for e in pw.events_of(cid, "message")]
    t.check(verdicts == ["allow", "allow", "deny", "deny", "allow"],
            "audit verdicts on the live connection (%s)" % verdicts)


def _unrevoking_crl(t, d):
    """A CRL file for CRL_CHECK_ALL in which the intermediate revokes
    nothing (crl-chain.pem's counterpart), signed with openssl ca."""
    db = os.path.join(d, "ca-db")
    os.makedirs(db)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "crlnumber"), "w") as f:
        f.write("1000\n")
    conf = os.path.join(db, "ca.cnf")
    with open(conf, "w") as f:
        f.write("[ca]\ndefault_ca = x\n[x]\ndatabase = %s\n"
                "crlnumber = %s\ndefault_md = sha256\n"
                "default_crl_days = 30\n" % (
                    os.path.join(db, "index.txt"),
                    os.path.join(db, "crlnumber")))
    out = os.path.join(d, "crl-none.pem")
    subprocess.run(["openssl", "ca", "-batch", "-config", conf, "-gencrl",
                    "-cert", t.cert("intermediate.crt"), "-keyfile",
                    t.cert("intermediate.key"), "-out", out],
                   check=True, capture_output=True, timeout=30)
    with open(out, "rb") as f, open(t.cert("ca-crl.pem"), "rb") as g:
        return f.read() + g.read()


def _put(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_reload_takes_up_new_certificates_and_crls(t):
    """SIGUSR2 reads the certificate, key and CRL files again: new
    handshakes present the new certificate and refuse a client the new
    CRL revokes; a connection made before goes on; files that do not load
    leave the ones in force."""
    d = os.path.join(t.dir, "files")
    os.makedirs(d)
    cert, key, crl = (os.path.join(d, n) for n in
                      ("listener.crt", "listener.key", "crl.pem"))
    _put(cert, _read(t.cert("server-chain.crt")))
    _put(key, _read(t.cert("server.key")))
    _put(crl, _unrevoking_crl(t, d))
    be = t.backend("logging")
    opts = t.tls_listener(be, "len32", "logging.rules",
                          client_auth="required",
                          client_ca=q(t.cert("ca.crt")), client_crl=q(crl))
    opts["tls_cert"] = q(cert)
    opts["tls_key"] = q(key)
    pw = t.picklewall([("mtls", opts)])
    port = pw.port("mtls")
    revoked = t.client_ctx("client-revoked-chain.crt", "client-revoked.key")
    good = t.client_ctx("client-chain.crt", "client.key")
    sent = []

    def refused(ctx, hostname):
        raw = socket.create_connection(("127.0.0.1", port),
                                       timeout=IO_TIMEOUT)
        t.closers.append(raw.close)
        try:
            s = ctx.wrap_socket(raw, server_hostname=hostname)
            t.closers.append(s.close)
            s.sendall(log_record_bytes("refused?"))
            how, _secs, _data = wait_closed(s, 5)
            return how != "timeout"
        except (ssl.SSLError, OSError):
            return True

    def reload():
        before = len([e for e in pw.audit()
                      if e.get("event") in ("reload", "error")])
        pw.proc.send_signal(signal.SIGUSR2)
        t.require(wait_until(lambda: len(
            [e for e in pw.audit() if e.get("event") in
             ("reload", "error")]) > before, ARRIVE_TIMEOUT),
            "an audit event answers SIGUSR2")

    # Not revoked yet: the client gets in and stays connected.
    old = t.tls_connect(port, revoked)
    rec = log_record_bytes("before the reload")
    old.sendall(rec)
    sent.append(rec)
    be.wait_bytes(len(rec))

    _put(crl, _read(t.cert("crl-chain.pem")))
    _put(cert, _read(t.cert("backend-chain.crt")))
    _put(key, _read(t.cert("backend.key")))
    reload()
    t.check(pw.wait_audit(lambda e: e.get("event") == "reload" and
                          e.get("listener") == "mtls" and
                          e.get("generation") == 2) is not None,
            "audit: reload of listener mtls, generation 2")
    t.check(refused(revoked, "backend.test"),
            "the new CRL refuses the revoked client's new connection")
    t.check(refused(good, "localhost"),
            "new handshakes no longer present the localhost certificate")
    fresh = None
    try:
        raw = socket.create_connection(("127.0.0.1", port),
                                       timeout=IO_TIMEOUT)
        t.closers.append(raw.close)
        fresh = good.wrap_socket(raw, server_hostname="backend.test")
        t.closers.append(fresh.close)
    except (ssl.SSLError, OSError) as e:
        t.check(False, "a handshake expecting backend.test: %s" % e)
    if fresh is not None:
        cn = dict(x[0] for x in fresh.getpeercert()["subject"]).get(
            "commonName")
        t.check(cn == "backend.test", "the new certificate is presented "
                "(CN %s)" % cn)
        rec = log_record_bytes("new connection, new certificate")
        fresh.sendall(rec)
        sent.append(rec)
        be.wait_bytes(sum(map(len, sent)))
    # The connection made before the reload goes on.
    rec = log_record_bytes("old connection after the reload")
    old.sendall(rec)
    sent.append(rec)
    t.check(be.wait_bytes(sum(map(len, sent))),
            "the connection made before the reload still delivers")

    # A key that does not load: nothing changes.
    _put(key, b"not a key\n")
    reload()
    t.check(pw.wait_audit(lambda e: e.get("event") == "error" and
                          e.get("code") == "config_error") is not None,
            "audit: an error event for the failed reload")
    t.check(not refused(good, "backend.test"),
            "the certificate in force stays after a failed reload")
    t.check(refused(revoked, "backend.test"),
            "the CRL in force stays after a failed reload")


def _children(pid):
    """The PIDs of the live processes whose parent is ${pid}."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(d))
    return sorted(kids)


def test_workers_share_connections_and_signals(t):
    """workers = 2: both processes serve connections (ids apart), a
    reload reaches both, a killed worker is started again, and SIGTERM
    stops them all with every audit line whole."""
    be = t.backend("logging")
    pw = t.picklewall([("logging", t.tls_listener(be, "len32",
                                                  "logging.rules"))],
                      global_opts={"workers": 2, "max_connections": 100})
    port = pw.port("logging")
    t.require(wait_until(lambda: len(_children(pw.proc.pid)) == 2,
                         START_TIMEOUT), "two worker processes run")
    first = _children(pw.proc.pid)

    def serve(n, tag):
        socks, recs = [], []
        for i in range(n):
            s = t.tls_connect(port)
            rec = log_record_bytes("%s %d" % (tag, i))
            s.sendall(rec)
            socks.append(s)
            recs.append(rec)
        return socks, recs

    socks, recs = serve(24, "first")
    got = be.wait_events("record", 24)
    t.check(len(got) == 24, "all 24 records arrived (%d)" % len(got))
    opens = [e for e in pw.audit() if e.get("event") == "conn_open"]
    ids = [e.get("conn_id") for e in opens]
    t.check(len(ids) == 24 and len(set(ids)) == 24,
            "24 distinct conn_ids (%s)" % ids)
    t.check({i % 2 for i in ids} == {0, 1},
            "both workers took connections (ids %s)" % sorted(ids))

    pw.proc.send_signal(signal.SIGUSR2)
    t.check(wait_until(lambda: len([
        e for e in pw.audit() if e.get("event") == "reload"]) == 2,
        ARRIVE_TIMEOUT), "SIGUSR2 reached both workers (two reload events)")

    # A worker that dies is started again; its connections are gone,
    # the other worker's go on.
    victim = first[0]
    os.kill(victim, signal.SIGKILL)
    t.check(wait_until(lambda: len(_children(pw.proc.pid)) == 2 and
                       victim not in _children(pw.proc.pid),
                       START_TIMEOUT), "the killed worker was replaced")
    t.check(wait_until(lambda: "was killed by signal 9" in pw.stderr(),
                       ARRIVE_TIMEOUT),
            "stderr says a worker was killed (%r)" % pw.stderr()[-300:])
    t.require(wait_until(lambda: listening(port), START_TIMEOUT),
              "the port still accepts")
    for s in socks:
        s.close()
    socks2, recs2 = serve(10, "after")
    t.check(len(be.wait_events("record", 34)) == 34,
            "the 10 connections after the restart were served")
    ids = [e.get("conn_id") for e in pw.audit()
           if e.get("event") == "conn_open"]
    t.check(len(ids) == 34 and len(set(ids)) == 34,
            "conn_ids stay unique across the restart (%s)" % sorted(ids))
    for s in socks2:
        s.close()
    problems = pw.stop()
    t.check(not problems, "SIGTERM stopped every worker cleanly: %s" %
            problems)
    t.check(_children(pw.proc.pid) == [],
            "no worker is left behind")


# ======================================================================
# main
# ======================================================================

TESTS = [
    test_logging_records_arrive_byte_identical,
    test_logging_malicious_record_never_reaches_backend,
    test_logging_write_then_close_tls13_all_records_arrive,
    test_tls13_session_tickets_off_by_default_and_configurable,
    test_logging_on_deny_drop_keeps_connection,
    test_drop_inside_one_record_forwards_the_rest_in_order,
    test_allowed_message_just_before_a_denied_one_is_delivered,
    test_conn_close_reason_names_the_side_that_closed,
    test_multiprocessing_handshake_and_objects_roundtrip,
    test_multiprocessing_malicious_object_blocked_and_closed,
    test_raw_several_pickles_per_segment_and_byte_by_byte,
    test_raw_malicious_pickle_closes_connection,
    test_raw_call_denied_when_the_server_may_read_on,
    test_tls_backend_verified_and_wrong_name_refused,
    test_mtls_required_refuses_bad_clients_and_logs_identity,
    test_handshake_timeout_closes_silent_client,
    test_message_timeout_closes_stalled_message,
    test_oversize_message_refused,
    test_connection_limit_holds,
    test_connection_limit_refusal_names_the_client,
    test_backend_down_is_logged_and_client_closed,
    test_config_check_good_and_broken,
    test_reload_rules_reach_live_connections,
    test_reload_takes_up_new_certificates_and_crls,
    test_workers_share_connections_and_signals,
]


def make_certs(root):
    certs = os.path.join(root, "certs")
    p = subprocess.run(["sh", os.path.join(ROOT, "certs",
                                           "make-dev-certs.sh"), certs],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=120)
    if p.returncode != 0:
        sys.exit("make-dev-certs.sh failed (%d): %s" %
                 (p.returncode, p.stderr.decode(errors="replace")))
    return certs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build",
                                                     "picklewall"))
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    ap.add_argument("-k", action="append", default=[],
                    help="run only tests whose name contains this")
    ap.add_argument("-v", "--verbose", action="store_true")
    # internal roles (child processes)
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--tls-cert", help=argparse.SUPPRESS)
    ap.add_argument("--tls-key", help=argparse.SUPPRESS)
    ap.add_argument("--tls-ca", help=argparse.SUPPRESS)
    ap.add_argument("--authkey", help=argparse.SUPPRESS)
    ap.add_argument("--ca", help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--close-after", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.role == "backend":
        return backend_main(a)
    if a.role == "burst-client":
        return burst_client_main(a)

    binary = os.path.abspath(a.binary)
    if not os.access(binary, os.X_OK):
        sys.exit("no executable %s (make it first)" % binary)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    root = tempfile.mkdtemp(prefix="picklewall-e2e-")
    t0 = time.monotonic()
    passed = failed = 0
    try:
        certs = make_certs(root)
        for fn in TESTS:
            name = fn.__name__
            if a.k and not any(k in name for k in a.k):
                continue
            t = T(name, binary, certs, root, a.verbose)
            start = time.monotonic()
            try:
                fn(t)
            except TestFailure:
                pass    # already recorded
            except Exception:
                t.failures.append("exception:\n" + traceback.format_exc())
            finally:
                try:
                    t.cleanup()
                except Exception:
                    t.failures.append("cleanup:\n" + traceback.format_exc())
            secs = time.monotonic() - start
            if t.failures:
                failed += 1
                print("FAIL %s (%.1fs)" % (name, secs))
                for f in t.failures:
                    print("      " + f.replace("\n", "\n      "))
            else:
                passed += 1
                print("PASS %s (%.1fs)" % (name, secs))
            sys.stdout.flush()
    finally:
        if failed or a.keep:
            print("# files kept in %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print("# %.1fs in all, binary %s" % (time.monotonic() - t0, binary))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
