#!/usr/bin/env python3
"""bench/proxy_bench.py: picklewall as a proxy, next to HAProxy and a direct
connection, over loopback, in one run (bench/PROXY.md).

    python3 bench/proxy_bench.py [--binary build/picklewall] [--out FILE]

Three paths to one backend (a len32 sink that answers each message with a
1-byte ack):

    direct      client --tcp--> backend
    picklewall  client --tls--> picklewall (len32, rules/logging.rules) --tcp--> backend
    haproxy     client --tls--> haproxy (mode tcp, no inspection)      --tcp--> backend

Measured, every path in the same run, interleaved repeat by repeat:
  - round trip per message (send one message, wait for its ack): p50/p99,
    and "added" = the path's percentile minus the direct path's;
  - pipelined throughput on one connection (messages/s, MB/s = 10^6 B/s),
    and for the small messages with several client processes at once;
  - the proxy's CPU time per message (sum over its threads,
    /proc/PID/task/*/schedstat), which the Python client does not limit,
    and the Python backend's and client's CPU time per message in the same
    throughput runs (for several client processes, their sum);
  - the CPU budget of the throughput target: at 0.9 x HAProxy's rate, the
    CPU time the machine has per message (CPUs / rate) less what the
    client and backend used on the picklewall path, and 1 / rate for any
    one thread, next to picklewall's CPU per message;
  - SHA-256 per message as picklewall computes it (build/bench/sha256_cost,
    run once, before the proxies start);
  - idle memory per TLS connection: VmRSS of a freshly started proxy
    before and after N idle TLS connections (handshake done), over N;
  - full TLS handshakes per second (no resumption), several client
    processes at once.

Every loop is bounded by a count and a deadline; every process started here
is ended here (SIGTERM, then SIGKILL).  Internal modes: --backend.
"""

import argparse
import json
import multiprocessing
import os
import pickle
import platform
import selectors
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SIZES = [("200B", 200), ("64KiB", 64 * 1024), ("1MiB", 1024 * 1024)]
PATHS = ["direct", "picklewall", "haproxy"]
PROXIES = ["picklewall", "haproxy"]

# Per size: (latency messages, warm-up messages, throughput messages,
#            batch = messages per write, window = messages in flight)
# A throughput run sends until it has sent tput messages or TPUT_SECONDS
# have passed, whichever comes first, then waits for the acks.
PLAN = {
    "200B":  dict(lat=3000, warm=100, tput=5000000, batch=64, window=2048),
    "64KiB": dict(lat=1000, warm=20, tput=200000, batch=1, window=8),
    "1MiB":  dict(lat=100, warm=3, tput=20000, batch=1, window=2),
}
MULTI_MSGS = 5000000        # cap per client process, 200 B, multi-process
TPUT_SECONDS = 1.0          # sending time of one throughput run
RUN_DEADLINE = 8.0          # seconds, any latency or handshake run
IO_TIMEOUT = 10.0           # seconds, any single socket operation
START_TIMEOUT = 10.0


# --------------------------------------------------------------------------
# Messages: a logging-style dict pickled at protocol 1 (what
# logging.handlers.SocketHandler sends), framed len32, the frame padded to
# exactly the size.

def make_frame(size):
    def frame(pad):
        rec = {"name": "bench", "msg": "x" * pad, "levelname": "INFO",
               "levelno": 20, "created": 1700000000.25, "lineno": 42,
               "args": None, "exc_info": None}
        body = pickle.dumps(rec, 1)
        return struct.pack(">I", len(body)) + body
    base = len(frame(0))
    if base > size:
        raise SystemExit("message template (%d B) larger than %d B" %
                         (base, size))
    f = frame(size - base)
    assert len(f) == size, (len(f), size)
    rec = pickle.loads(f[4:])           # what the backend would get
    assert rec["name"] == "bench"
    return f


# --------------------------------------------------------------------------
# Backend: one process, epoll, any number of connections.  Reads len32
# messages, throws them away, sends one byte per complete message (all the
# acks of one read in one send).

def backend_main(argv):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4096)
    ls.setblocking(False)
    sys.stdout.write("%d\n" % ls.getsockname()[1])
    sys.stdout.flush()
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    buf = bytearray(1 << 18)
    mv = memoryview(buf)
    unpack_from = struct.unpack_from
    # per connection: [hdr bytearray, skip, pending acks bytes]
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))

    def close(s):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()

    while True:
        for key, ev in sel.select(60):
            s = key.fileobj
            if key.data is None:
                for _ in range(64):
                    try:
                        c, _a = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(c, selectors.EVENT_READ,
                                 [bytearray(), 0, b""])
                continue
            st = key.data
            if ev & selectors.EVENT_WRITE and st[2]:
                try:
                    k = s.send(st[2])
                except (BlockingIOError, InterruptedError):
                    k = 0
                except OSError:
                    close(s)
                    continue
                st[2] = st[2][k:]
                if not st[2]:
                    sel.modify(s, selectors.EVENT_READ, st)
            if not ev & selectors.EVENT_READ:
                continue
            try:
                n = s.recv_into(buf)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                close(s)
                continue
            if n == 0:
                close(s)
                continue
            hdr, skip = st[0], st[1]
            pos = 0
            acks = 0
            while pos < n:
                if skip:
                    t = n - pos
                    if t > skip:
                        t = skip
                    skip -= t
                    pos += t
                    if not skip:
                        acks += 1
                elif hdr or n - pos < 4:
                    t = min(4 - len(hdr), n - pos)
                    hdr += mv[pos:pos + t]
                    pos += t
                    if len(hdr) == 4:
                        skip = int.from_bytes(hdr, "big")
                        hdr.clear()
                        if not skip:
                            acks += 1
                else:
                    skip = unpack_from(">I", buf, pos)[0]
                    pos += 4
                    if not skip:
                        acks += 1
            st[1] = skip
            if acks:
                out = st[2] + b"\x01" * acks
                if not st[2]:
                    try:
                        k = s.send(out)
                    except (BlockingIOError, InterruptedError):
                        k = 0
                    except OSError:
                        close(s)
                        continue
                    out = out[k:]
                    if out:
                        sel.modify(s, selectors.EVENT_READ |
                                   selectors.EVENT_WRITE, st)
                st[2] = out


# --------------------------------------------------------------------------
# Processes

class Procs:
    def __init__(self):
        self.procs = []

    def start(self, name, argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        p.bench_name = name
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            except ProcessLookupError:
                pass
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            self.stop(p)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_listening(p, port, what, errfile):
    end = time.monotonic() + START_TIMEOUT
    while time.monotonic() < end:
        if p.poll() is not None:
            break
        if listening(port):
            return
        time.sleep(0.05)
    err = ""
    try:
        with open(errfile, errors="replace") as f:
            err = f.read()[-3000:]
    except OSError:
        pass
    raise SystemExit("%s did not start (exit %s):\n%s" % (what, p.poll(), err))


def family(pid):
    """pid and its child processes (picklewall's workers, if any)."""
    pids = [pid]
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            pids.append(int(d))
    return pids


def rss_kib(pid):
    """VmRSS of pid and its children, in KiB."""
    total = 0
    for p in family(pid):
        with open("/proc/%d/status" % p) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            else:
                raise RuntimeError("no VmRSS for %d" % p)
    return total


def nfds(pid):
    return sum(len(os.listdir("/proc/%d/fd" % p)) for p in family(pid))


def cpu_ns(pid):
    """CPU time of every thread of pid and its children, in ns
    (schedstat)."""
    total = 0
    for p in family(pid):
        base = "/proc/%d/task" % p
        try:
            tasks = os.listdir(base)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("%s/%s/schedstat" % (base, t)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def main_thread_cpu_ns(pid):
    """CPU time of the main thread of pid and of each child (picklewall's
    event loops: one, or one per worker), in ns."""
    total = 0
    for p in family(pid):
        try:
            with open("/proc/%d/task/%d/schedstat" % (p, p)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def uptime_line():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True,
                              timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: %s" % loadavg()


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def run_sha256_cost(prog, seconds=0.2, samples=5):
    """SHA-256 per message (sha256_hex of proxy/sha256.c) for each size,
    from bench/sha256_cost.c: {"200B": {...}, ...} and its whole output,
    or (None, why) if it could not be run."""
    if not prog or not os.access(prog, os.X_OK):
        return None, ("no %s (make -f bench/proxy.mk proxy-bench-sha256)"
                      % prog)
    argv = [prog, "-t", str(seconds), "-r", str(samples)] + \
        [str(size) for _name, size in SIZES]
    try:
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=30 + 3 * len(SIZES) * samples *
                             seconds, check=True).stdout
        raw = json.loads(out)
        by_bytes = {d["bytes"]: d for d in raw["sizes"]}
        res = {name: by_bytes[size] for name, size in SIZES}
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as e:
        return None, "%s failed: %r" % (prog, e)
    return res, raw


# --------------------------------------------------------------------------
# Setup: certificates, configurations, the three servers

class Env:
    def __init__(self, args, procs):
        self.args = args
        self.procs = procs
        self.dir = args.workdir
        os.makedirs(self.dir, exist_ok=True)
        self.certs = os.path.join(self.dir, "certs")
        if not os.path.exists(os.path.join(self.certs, "server-chain.crt")):
            subprocess.run([os.path.join(ROOT, "certs", "make-dev-certs.sh"),
                            self.certs], check=True,
                           stdout=subprocess.DEVNULL, timeout=120)
        self.pem = os.path.join(self.dir, "haproxy-server.pem")
        with open(self.pem, "wb") as out:
            for fn in ("server-chain.crt", "server.key"):
                with open(os.path.join(self.certs, fn), "rb") as f:
                    out.write(f.read())
        os.chmod(self.pem, 0o600)
        self.ca = os.path.join(self.certs, "ca.crt")
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ctx.load_verify_locations(self.ca)
        self.backend_port = None
        self.ports = {}
        self.proc = {}
        self.audit_stats = {"audit_message_events": 0,
                            "audit_not_allowed": 0,
                            "audit_dropped_total": 0}

    def start_backend(self):
        p = self.procs.start(
            "backend", [sys.executable, os.path.abspath(__file__),
                        "--backend"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = p.stdout.readline()
        if not line.strip():
            raise SystemExit("backend did not start")
        self.backend_port = int(line)
        self.proc["backend"] = p
        self.ports["direct"] = self.backend_port

    def start_picklewall(self, tag="main"):
        port = free_port()
        d = os.path.join(self.dir, "pw-" + tag)
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "picklewall.conf")
        audit = (self.args.audit_log if self.args.audit_log else
                 os.path.join(d, "audit.jsonl"))
        if audit != "-" and os.path.exists(audit) and \
                not audit.startswith("/dev/"):
            os.unlink(audit)
        q = json.dumps
        with open(conf, "w") as f:
            f.write("\n".join([
                "# written by bench/proxy_bench.py",
                "[global]",
                "audit_log = %s" % q(audit),
                "max_connections = 4096"]
                + (["workers = %d" % self.args.workers]
                   if self.args.workers > 1 else [])
                + ["",
                "[listener bench]",
                "listen = 127.0.0.1:%d" % port,
                "backend = tcp://127.0.0.1:%d" % self.backend_port,
                "framing = len32",
                "rules = %s" % q(os.path.join(ROOT, "rules",
                                               "logging.rules")),
                "on_deny = close",
                "max_message_bytes = 16M",
                "tls_cert = %s" % q(os.path.join(self.certs,
                                                 "server-chain.crt")),
                "tls_key = %s" % q(os.path.join(self.certs, "server.key"))]
                + (["message_hash = %s" % self.args.message_hash]
                   if self.args.message_hash else [])
                + [""]))
        errf = os.path.join(d, "stderr.txt")
        with open(errf, "wb") as err:
            p = self.procs.start(
                "picklewall", [self.args.binary, "--config", conf],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err)
        wait_listening(p, port, "picklewall", errf)
        p.audit = audit
        p.stderr_path = errf
        return p, port

    def start_haproxy(self, tag="main"):
        port = free_port()
        d = os.path.join(self.dir, "haproxy-" + tag)
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "haproxy.cfg")
        lines = ["# written by bench/proxy_bench.py",
                 "global",
                 "    maxconn 8192"]
        if self.args.haproxy_nbthread:
            lines.append("    nbthread %d" % self.args.haproxy_nbthread)
        lines += [
            "",
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 5m",
            "    timeout server 5m",
            "",
            "frontend bench",
            "    bind 127.0.0.1:%d ssl crt %s no-tls-tickets" % (port,
                                                                  self.pem),
            "    default_backend sink",
            "",
            "backend sink",
            "    server sink 127.0.0.1:%d" % self.backend_port,
            ""]
        with open(conf, "w") as f:
            f.write("\n".join(lines))
        errf = os.path.join(d, "stderr.txt")
        with open(errf, "wb") as err:
            p = self.procs.start(
                "haproxy", [self.args.haproxy, "-db", "-f", conf],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        wait_listening(p, port, "haproxy", errf)
        p.stderr_path = errf
        return p, port

    def connect(self, path, port=None):
        port = port or self.ports[path]
        s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if path == "direct":
            return s
        t = self.ctx.wrap_socket(s, server_hostname="localhost")
        t.settimeout(IO_TIMEOUT)
        return t


def recv_some(s, n):
    d = s.recv(n)
    if not d:
        raise RuntimeError("connection closed by the path (a denial, a "
                           "limit or a crash: see the proxy's audit log)")
    return d


# --------------------------------------------------------------------------
# Timed runs (one connection)

def run_latency(s, frame, n, warm, deadline):
    perf = time.perf_counter_ns
    samples = []
    for i in range(warm + n):
        if time.monotonic() > deadline:
            break
        t0 = perf()
        s.sendall(frame)
        if recv_some(s, 1) != b"\x01":
            raise RuntimeError("bad ack")
        t1 = perf()
        if i >= warm:
            samples.append(t1 - t0)
    return samples


def run_tput(s, frame, count, batch, window, deadline):
    blob = frame * batch
    sent = acked = 0
    mono = time.monotonic
    t0 = time.perf_counter()
    while acked < count:
        if sent < count and sent - acked < window and mono() < deadline:
            k = min(batch, count - sent)
            s.sendall(blob if k == batch else frame * k)
            sent += k
        elif sent == acked:
            break                       # deadline
        else:
            acked += len(recv_some(s, 65536))
    t1 = time.perf_counter()
    return acked, t1 - t0


def pct(sorted_ns, p):
    """Nearest-rank percentile, in µs."""
    if not sorted_ns:
        return None
    k = max(0, min(len(sorted_ns) - 1,
                   int(-(-p * len(sorted_ns) // 100)) - 1))
    return sorted_ns[k] / 1000.0


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


# --------------------------------------------------------------------------
# Multi-process runs (forked workers; each its own connection)

def _tput_worker(env, path, frame, count, batch, window, barrier, q):
    try:
        s = env.connect(path)
        barrier.wait(30)
        me = os.getpid()
        deadline = time.monotonic() + TPUT_SECONDS
        c0 = cpu_ns(me)
        t0 = time.perf_counter()
        acked, _ = run_tput(s, frame, count, batch, window, deadline)
        t1 = time.perf_counter()
        c1 = cpu_ns(me)
        s.close()
        q.put(("ok", t0, t1, acked, c1 - c0))
    except Exception as e:          # reported by the parent
        q.put(("error", repr(e)))
        try:
            barrier.abort()
        except Exception:
            pass


def _hs_worker(env, path, count, barrier, q):
    try:
        port = env.ports[path]
        ctx = env.ctx
        barrier.wait(30)
        deadline = time.monotonic() + 2 * RUN_DEADLINE
        done = 0
        info = None
        t0 = time.perf_counter()
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            raw = socket.create_connection(("127.0.0.1", port),
                                           timeout=IO_TIMEOUT)
            t = ctx.wrap_socket(raw, server_hostname="localhost")
            if t.session_reused:
                raise RuntimeError("session resumed")
            if info is None:
                info = (t.version(), t.cipher()[0])
            t.close()
            done += 1
        t1 = time.perf_counter()
        q.put(("ok", t0, t1, done, info))
    except Exception as e:
        q.put(("error", repr(e)))
        try:
            barrier.abort()
        except Exception:
            pass


def run_workers(target, nproc, argsf):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(nproc)
    q = ctx.Queue()
    ws = [ctx.Process(target=target, args=argsf(barrier, q), daemon=True)
          for _ in range(nproc)]
    for w in ws:
        w.start()
    res = []
    try:
        for _ in ws:
            res.append(q.get(timeout=60))
    finally:
        for w in ws:
            w.join(10)
            if w.is_alive():
                w.kill()
                w.join(5)
    errs = [r[1] for r in res if r[0] != "ok"]
    if errs:
        raise RuntimeError("worker failed: %s" % errs[0])
    return res


# --------------------------------------------------------------------------
# The benchmark

def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def proxy_cpu_delta(env, path, fn):
    """fn() with the CPU time of the path's proxy (0 for direct)."""
    r, cpu = cpu_deltas(env, path, fn)
    return r, cpu["proxy"]


def cpu_deltas(env, path, fn):
    """fn() with the CPU time, in ns, that it took of the path's proxy
    ("proxy", None for direct) and of its main thread ("proxy_main"), of
    the backend ("backend") and of this process, the client of a
    single-connection run ("client")."""
    pids = {"client": os.getpid(), "backend": env.proc["backend"].pid}
    if path in env.proc and path != "direct":
        pids["proxy"] = env.proc[path].pid

    def now():
        c = {k: cpu_ns(pid) for k, pid in pids.items()}
        if "proxy" in pids:
            c["proxy_main"] = main_thread_cpu_ns(pids["proxy"])
        return c
    c0 = now()
    r = fn()
    c1 = now()
    d = {k: c1[k] - c0[k] for k in c0}
    d.setdefault("proxy", None)
    d.setdefault("proxy_main", None)
    return r, d


def us_per(ns, n):
    return ns / 1000.0 / n if ns is not None and n else None


def audit_count(env, path):
    """Adds up the message events of an audit log file."""
    st = env.audit_stats
    if path == "-" or path.startswith("/dev/") or not os.path.exists(path):
        st["audit_log"] = path
        return
    st["audit_log"] = "a file"
    with open(path, "rb") as f:
        for line in f:
            if b'"event":"message"' in line:
                st["audit_message_events"] += 1
                if b'"verdict":"allow"' not in line:
                    st["audit_not_allowed"] += 1
            elif b'"audit_dropped"' in line:
                st["audit_dropped_total"] = max(
                    st["audit_dropped_total"],
                    json.loads(line).get("dropped_total", 0))


def audit_rotate(env):
    """Between runs: move the audit log aside, SIGHUP (picklewall reopens
    it), count the old file and delete it: the disk holds one repeat's
    log at most."""
    p = env.proc["picklewall"]
    a = p.audit
    if a == "-" or a.startswith("/dev/") or not os.path.exists(a):
        return
    old = a + ".old"
    os.rename(a, old)
    p.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    audit_count(env, old)
    os.unlink(old)


def check_paths(env, frames):
    """Each path forwards each message size and acks it; tells TLS info."""
    info = {}
    for path in PATHS:
        s = env.connect(path)
        for _name, f in frames.items():
            s.sendall(f)
            if recv_some(s, 1) != b"\x01":
                raise RuntimeError("bad ack")
        if path != "direct":
            info[path] = {"tls_version": s.version(),
                          "cipher": s.cipher()[0]}
        s.close()
    return info


def bench_messages(env, frames, repeats):
    res = {}        # res[size][path] = list of per-repeat dicts
    for r in range(repeats):
        order = PATHS[r % 3:] + PATHS[:r % 3]
        for name, _size in SIZES:
            plan = PLAN[name]
            frame = frames[name]
            for path in order:
                s = env.connect(path)
                lat, _ = proxy_cpu_delta(env, path, lambda: run_latency(
                    s, frame, plan["lat"], plan["warm"],
                    time.monotonic() + RUN_DEADLINE))
                # one warm-up window's worth before timing throughput
                run_tput(s, frame, min(plan["window"] * 2, 1000),
                         plan["batch"], plan["window"],
                         time.monotonic() + RUN_DEADLINE)
                (acked, secs), cpu = cpu_deltas(
                    env, path, lambda: run_tput(
                        s, frame, plan["tput"], plan["batch"],
                        plan["window"], time.monotonic() + TPUT_SECONDS))
                s.close()
                lat.sort()
                d = {"repeat": r, "lat_n": len(lat),
                     "p50_us": pct(lat, 50), "p99_us": pct(lat, 99),
                     "tput_msgs": acked, "tput_s": secs,
                     "msgs_per_s": acked / secs,
                     "mb_per_s": acked * len(frame) / secs / 1e6,
                     "proxy_cpu_us_per_msg": us_per(cpu["proxy"], acked),
                     "proxy_main_thread_cpu_us_per_msg":
                         us_per(cpu["proxy_main"], acked),
                     "backend_cpu_us_per_msg": us_per(cpu["backend"], acked),
                     "client_cpu_us_per_msg": us_per(cpu["client"], acked)}
                res.setdefault(name, {}).setdefault(path, []).append(d)
                log("  %-6s %-10s rep %d: p50 %8.1f us  p99 %8.1f us  "
                    "%9.0f msg/s  %7.1f MB/s  cpu us/msg: proxy %s  "
                    "backend %.2f  client %.2f" %
                    (name, path, r, d["p50_us"], d["p99_us"],
                     d["msgs_per_s"], d["mb_per_s"],
                     fmt(d["proxy_cpu_us_per_msg"], ".2f"),
                     d["backend_cpu_us_per_msg"],
                     d["client_cpu_us_per_msg"]))
        audit_rotate(env)
    return res


def bench_multi(env, frame, nproc, repeats):
    res = {}
    plan = PLAN["200B"]
    for r in range(repeats):
        order = PATHS[r % 3:] + PATHS[:r % 3]
        for path in order:
            out, cpu = cpu_deltas(env, path, lambda: run_workers(
                _tput_worker, nproc, lambda b, q: (
                    env, path, frame, MULTI_MSGS, plan["batch"],
                    plan["window"], b, q)))
            t0 = min(o[1] for o in out)
            t1 = max(o[2] for o in out)
            n = sum(o[3] for o in out)
            # the client: the workers' own CPU over their runs, summed
            d = {"repeat": r, "procs": nproc, "msgs": n, "s": t1 - t0,
                 "msgs_per_s": n / (t1 - t0),
                 "mb_per_s": n * len(frame) / (t1 - t0) / 1e6,
                 "proxy_cpu_us_per_msg": us_per(cpu["proxy"], n),
                 "proxy_main_thread_cpu_us_per_msg":
                     us_per(cpu["proxy_main"], n),
                 "backend_cpu_us_per_msg": us_per(cpu["backend"], n),
                 "client_cpu_us_per_msg": us_per(sum(o[4] for o in out), n)}
            res.setdefault(path, []).append(d)
            log("  200B x%d %-10s rep %d: %9.0f msg/s  cpu us/msg: proxy %s  "
                "backend %.2f  client %.2f" %
                (nproc, path, r, d["msgs_per_s"],
                 fmt(d["proxy_cpu_us_per_msg"], ".2f"),
                 d["backend_cpu_us_per_msg"], d["client_cpu_us_per_msg"]))
        audit_rotate(env)
    return res


def bench_handshakes(env, count, nproc, repeats):
    res = {}
    for r in range(repeats):
        order = PROXIES if r % 2 == 0 else PROXIES[::-1]
        for path in order:
            per = count // nproc
            out, cpu = proxy_cpu_delta(env, path, lambda: run_workers(
                _hs_worker, nproc, lambda b, q: (env, path, per, b, q)))
            t0 = min(o[1] for o in out)
            t1 = max(o[2] for o in out)
            n = sum(o[3] for o in out)
            d = {"repeat": r, "procs": nproc, "handshakes": n,
                 "s": t1 - t0, "per_s": n / (t1 - t0),
                 "proxy_cpu_us_per_handshake": cpu / 1000.0 / n,
                 "tls": out[0][4]}
            res.setdefault(path, []).append(d)
            log("  handshakes %-10s rep %d: %7.0f /s" %
                (path, r, d["per_s"]))
    return res


def bench_idle(env, nconn, repeats):
    """Fresh proxy instances each repeat: RSS before/after nconn idle TLS
    connections."""
    res = {}
    for r in range(repeats):
        order = PROXIES if r % 2 == 0 else PROXIES[::-1]
        for path in order:
            if path == "picklewall":
                p, port = env.start_picklewall("idle%d" % r)
            else:
                p, port = env.start_haproxy("idle%d" % r)
            try:
                # warm-up: a few connections with one message each
                for _ in range(5):
                    s = env.connect(path, port)
                    s.sendall(env.small_frame)
                    recv_some(s, 1)
                    s.close()
                time.sleep(0.3)
                rss0, fd0 = rss_kib(p.pid), nfds(p.pid)
                conns = []
                deadline = time.monotonic() + 60
                try:
                    for _ in range(nconn):
                        if time.monotonic() > deadline:
                            raise RuntimeError("idle connections: too slow")
                        conns.append(env.connect(path, port))
                    time.sleep(1.0)
                    rss1, fd1 = rss_kib(p.pid), nfds(p.pid)
                finally:
                    for s in conns:
                        s.close()
                time.sleep(0.5)
                rss2 = rss_kib(p.pid)
            finally:
                env.procs.stop(p)
            d = {"repeat": r, "conns": nconn, "rss_before_kib": rss0,
                 "rss_idle_kib": rss1, "rss_after_close_kib": rss2,
                 "fds_before": fd0, "fds_idle": fd1,
                 "bytes_per_conn": (rss1 - rss0) * 1024.0 / nconn}
            res.setdefault(path, []).append(d)
            log("  idle %-10s rep %d: %d conns, RSS %d -> %d KiB, fds %d -> "
                "%d: %.0f B/conn" % (path, r, nconn, rss0, rss1, fd0, fd1,
                                     d["bytes_per_conn"]))
    return res


CPU_KEYS = ("proxy_cpu_us_per_msg", "proxy_main_thread_cpu_us_per_msg",
            "backend_cpu_us_per_msg", "client_cpu_us_per_msg")
TARGET_RATIO = 0.9


def cpu_budget(rows, ncpu):
    """The CPU budget of "picklewall >= 0.9 x HAProxy's msgs/s" from one
    measurement's medians (rows[path]), in µs per message."""
    rate = TARGET_RATIO * rows["haproxy"]["msgs_per_s"]
    pw = rows["picklewall"]
    cl, bk = pw["client_cpu_us_per_msg"], pw["backend_cpu_us_per_msg"]
    total = ncpu / rate * 1e6
    return {"cpus": ncpu, "target_msgs_per_s": rate,
            "cpu_us_per_msg_at_target": total,
            "client_cpu_us_per_msg": cl, "backend_cpu_us_per_msg": bk,
            "proxy_cpu_us_per_msg_max": total - cl - bk,
            "one_thread_us_per_msg_at_target": 1e6 / rate,
            "picklewall_cpu_us_per_msg": pw["proxy_cpu_us_per_msg"],
            "picklewall_main_thread_cpu_us_per_msg":
                pw["proxy_main_thread_cpu_us_per_msg"],
            "haproxy_cpu_us_per_msg":
                rows["haproxy"]["proxy_cpu_us_per_msg"]}


def summarize(msgs, multi, hs, idle, ncpu, sha):
    S = {"messages": {}, "multi_200B": {}, "handshakes": {}, "idle": {}}
    for name, _ in SIZES:
        rows = {}
        for path in PATHS:
            L = msgs[name][path]
            rows[path] = {k: median([d[k] for d in L]) for k in
                          ("msgs_per_s", "mb_per_s", "p50_us", "p99_us")
                          + CPU_KEYS}
        for path in PATHS:
            row = rows[path]
            row["added_p50_us"] = row["p50_us"] - rows["direct"]["p50_us"]
            row["added_p99_us"] = row["p99_us"] - rows["direct"]["p99_us"]
            row["tput_vs_haproxy"] = (row["msgs_per_s"] /
                                      rows["haproxy"]["msgs_per_s"])
            row["tput_vs_direct"] = (row["msgs_per_s"] /
                                     rows["direct"]["msgs_per_s"])
        S["messages"][name] = rows
    for path in PATHS:
        S["multi_200B"][path] = {
            k: median([d[k] for d in multi[path]]) for k in
            ("msgs_per_s", "mb_per_s") + CPU_KEYS}
    for path in PATHS:
        m = S["multi_200B"][path]
        m["tput_vs_haproxy"] = (m["msgs_per_s"] /
                                S["multi_200B"]["haproxy"]["msgs_per_s"])
        m["tput_vs_direct"] = (m["msgs_per_s"] /
                               S["multi_200B"]["direct"]["msgs_per_s"])
    for path in PROXIES:
        S["handshakes"][path] = {
            k: median([d[k] for d in hs[path]]) for k in
            ("per_s", "proxy_cpu_us_per_handshake")}
        S["idle"][path] = {
            "bytes_per_conn": median([d["bytes_per_conn"]
                                      for d in idle[path]])}
    for path in PROXIES:
        S["handshakes"][path]["vs_haproxy"] = (
            S["handshakes"][path]["per_s"] /
            S["handshakes"]["haproxy"]["per_s"])
        S["idle"][path]["vs_haproxy"] = (
            S["idle"][path]["bytes_per_conn"] /
            S["idle"]["haproxy"]["bytes_per_conn"]
            if S["idle"]["haproxy"]["bytes_per_conn"] else None)
    S["cpu_budget"] = {name: cpu_budget(S["messages"][name], ncpu)
                       for name, _ in SIZES}
    S["cpu_budget"]["multi_200B"] = cpu_budget(S["multi_200B"], ncpu)
    S["sha256"] = {name: {
        "bytes": size,
        "us_per_msg": sha[name]["us_per_msg"] if sha else None,
        "haproxy_cpu_us_per_msg":
            S["messages"][name]["haproxy"]["proxy_cpu_us_per_msg"],
        "picklewall_cpu_us_per_msg":
            S["messages"][name]["picklewall"]["proxy_cpu_us_per_msg"]}
        for name, size in SIZES}
    # Targets (issue 5)
    pw = S["messages"]
    T = []
    for name, _ in SIZES:
        v = pw[name]["picklewall"]["tput_vs_haproxy"]
        T.append({"target": "throughput %s, 1 connection >= 90%% of "
                            "HAProxy" % name, "value": v,
                  "met": v >= 0.9})
    v = S["multi_200B"]["picklewall"]["tput_vs_haproxy"]
    T.append({"target": "throughput 200B, %d processes >= 90%% of HAProxy"
                        % multi["picklewall"][0]["procs"],
              "value": v, "met": v >= 0.9})
    dv = (pw["200B"]["picklewall"]["added_p99_us"] -
          pw["200B"]["haproxy"]["added_p99_us"])
    T.append({"target": "p99 added latency 200B within 50 us of HAProxy's",
              "value": dv, "met": dv <= 50})
    iv = S["idle"]["picklewall"]["bytes_per_conn"]
    ih = S["idle"]["haproxy"]["bytes_per_conn"]
    T.append({"target": "idle memory per TLS connection <= HAProxy's",
              "value": iv - ih, "met": iv <= ih})
    S["targets"] = T
    return S


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def table(S, meta):
    out = []
    w = out.append
    w("picklewall proxy benchmark (bench/PROXY.md)")
    w("  %s" % meta["uptime_before"])
    w("  %s, %d CPUs, %s; python %s; %s; %s" % (
        meta["machine"], meta["cpus"], meta["cpu_model"], meta["python"],
        meta["openssl"], meta["haproxy_version"]))
    w("  TLS: %s" % ", ".join("%s %s %s" % (p, v["tls_version"], v["cipher"])
                             for p, v in meta["tls"].items()))
    w("  threads: picklewall %d, haproxy %d (nbthread %s); client and "
      "backend: Python" % (meta["picklewall_threads"],
                           meta["haproxy_threads"],
                           meta["haproxy_nbthread"]))
    w("  picklewall: framing %s, %s, message_hash %s, workers %s" % (
        meta["framing"], meta["rules"], meta.get("message_hash", "all"),
        meta.get("workers", 1)))
    w("  medians of %d repeats; MB = 10^6 B; added = path - direct (same "
      "percentile)" % meta["repeats"])
    w("")
    w("One connection, one client process.  Latency: one message, wait "
      "for its 1-byte ack.")
    w("Throughput: pipelined.  CPU: the proxy's CPU time per message.")
    w("back us, clnt us: the Python backend's and client's CPU time per "
      "message in the same run.")
    hdr = ("%-6s %-10s %10s %9s %6s %6s %9s %9s %8s %8s %7s %7s %7s" %
           ("size", "path", "msgs/s", "MB/s", "/hap", "/dir", "p50 us",
            "p99 us", "+p50", "+p99", "cpu us", "back us", "clnt us"))
    w(hdr)
    w("-" * len(hdr))
    for name, _ in SIZES:
        for path in PATHS:
            r = S["messages"][name][path]
            w("%-6s %-10s %10.0f %9.1f %6.2f %6.2f %9.1f %9.1f %8s %8s %7s "
              "%7s %7s" % (
                name, path, r["msgs_per_s"], r["mb_per_s"],
                r["tput_vs_haproxy"], r["tput_vs_direct"], r["p50_us"],
                r["p99_us"],
                "-" if path == "direct" else fmt(r["added_p50_us"], ".1f"),
                "-" if path == "direct" else fmt(r["added_p99_us"], ".1f"),
                fmt(r["proxy_cpu_us_per_msg"], ".2f"),
                fmt(r["backend_cpu_us_per_msg"], ".2f"),
                fmt(r["client_cpu_us_per_msg"], ".2f")))
    w("")
    n = meta["multi_procs"]
    w("200 B messages, %d client processes at once (one connection each):"
      % n)
    for path in PATHS:
        r = S["multi_200B"][path]
        w("  %-10s %10.0f msgs/s %7.1f MB/s  /hap %.2f  /dir %.2f  cpu %s "
          "us/msg  backend %s  clients %s us/msg" % (
              path, r["msgs_per_s"], r["mb_per_s"],
              r["tput_vs_haproxy"], r["tput_vs_direct"],
              fmt(r["proxy_cpu_us_per_msg"], ".2f"),
              fmt(r["backend_cpu_us_per_msg"], ".2f"),
              fmt(r["client_cpu_us_per_msg"], ".2f")))
    w("")
    sha = meta.get("sha256_cost")
    if sha:
        w("SHA-256 per message as picklewall computes it (%s: sha256_hex, "
          "best of %d samples of >= %g s), next to the proxies' CPU per "
          "message above:" % (meta["sha256_cost_program"], sha["samples"],
                              sha["min_seconds"]))
        for name, _ in SIZES:
            r = S["sha256"][name]
            w("  %-6s sha256 %9.2f us/msg   haproxy cpu %9s us/msg   "
              "picklewall cpu %9s us/msg" % (
                  name, r["us_per_msg"],
                  fmt(r["haproxy_cpu_us_per_msg"], ".2f"),
                  fmt(r["picklewall_cpu_us_per_msg"], ".2f")))
    else:
        w("SHA-256 per message: not measured (%s)" %
          meta.get("sha256_cost_error", "?"))
    w("")
    w("CPU budget of the target (picklewall >= %.1f x HAProxy's msgs/s), "
      "%d CPUs usable, us per message:" % (TARGET_RATIO, meta["cpus_usable"]))
    for line in (
            "target/s: %.1f x HAProxy's msgs/s in this run." % TARGET_RATIO,
            "all CPUs: CPUs / target, the CPU time the machine has per "
            "message at that rate.",
            "client, backend: their CPU time per message on the picklewall "
            "path (table above).",
            "proxy max: all CPUs - client - backend, the most the proxy can "
            "use per message at the",
            "  target if everything ran in parallel and no CPU were ever "
            "idle.",
            "1 thread: 1 / target, the most any one thread (an event loop) "
            "can use per message.",
            "pw cpu: picklewall's CPU time per message, measured (all its "
            "threads); pw loop:",
            "  that of its main thread, the event loop (the other hashes "
            "large messages)."):
        w("  " + line)
    bh = ("  %-7s %12s %9s %9s %9s %9s %9s %9s %9s" %
          ("run", "target/s", "all CPUs", "client", "backend", "proxy max",
           "1 thread", "pw cpu", "pw loop"))
    w(bh)
    w("  " + "-" * (len(bh) - 2))
    for key, label in [(name, name) for name, _ in SIZES] + \
            [("multi_200B", "200Bx%d" % meta["multi_procs"])]:
        b = S["cpu_budget"][key]
        w("  %-7s %12.0f %9.2f %9.2f %9.2f %9.2f %9.2f %9s %9s" % (
            label, b["target_msgs_per_s"], b["cpu_us_per_msg_at_target"],
            b["client_cpu_us_per_msg"], b["backend_cpu_us_per_msg"],
            b["proxy_cpu_us_per_msg_max"],
            b["one_thread_us_per_msg_at_target"],
            fmt(b["picklewall_cpu_us_per_msg"], ".2f"),
            fmt(b["picklewall_main_thread_cpu_us_per_msg"], ".2f")))
    w("")
    w("Full TLS handshakes (no resumption), %d client processes, %d "
      "handshakes per repeat:" % (meta["hs_procs"], meta["hs_count"]))
    for path in PROXIES:
        r = S["handshakes"][path]
        w("  %-10s %8.0f /s  /hap %.2f  proxy cpu %.0f us/handshake" % (
            path, r["per_s"], r["vs_haproxy"],
            r["proxy_cpu_us_per_handshake"]))
    w("")
    w("Idle memory per TLS connection (VmRSS delta / %d connections, "
      "fresh proxy each repeat):" % meta["idle_conns"])
    for path in PROXIES:
        r = S["idle"][path]
        w("  %-10s %8.0f B/conn  /hap %s" % (
            path, r["bytes_per_conn"], fmt(r["vs_haproxy"], ".2f")))
    w("")
    w("Targets (issue 5):")
    for t in S["targets"]:
        w("  %-4s %s (measured %s)" % ("MET" if t["met"] else "MISS",
                                       t["target"], fmt(t["value"], ".2f")))
    if "audit_log" in meta:
        w("  picklewall audit log (%s): %d message events, %d not allowed, "
          "%d events dropped" % (meta["audit_log"], meta["audit_message_events"],
                                   meta["audit_not_allowed"],
                                   meta["audit_dropped_total"]))
    w("  %s" % meta["uptime_after"])
    return "\n".join(out)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--backend":
        return backend_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build",
                                                     "picklewall"))
    ap.add_argument("--haproxy", default=shutil.which("haproxy") or
                    "/usr/sbin/haproxy")
    ap.add_argument("--haproxy-nbthread", type=int, default=0,
                    help="HAProxy nbthread (default: HAProxy's own)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench",
                                                  "proxy.json"))
    ap.add_argument("--workdir", default=None,
                    help="certificates, configurations, audit log "
                    "(default: a temporary directory)")
    ap.add_argument("--audit-log", default=None,
                    help="picklewall's audit_log (default: a file in the "
                    "work directory)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--message-hash", choices=("all", "denied", "none"),
                    default=None,
                    help="picklewall's message_hash (default: its own, all)")
    ap.add_argument("--workers", type=int, default=1,
                    help="picklewall's workers (default 1: one process); "
                    "its CPU, memory and descriptors are then summed over "
                    "the parent and the workers")
    ap.add_argument("--procs", type=int, default=4,
                    help="client processes for the multi-process run")
    ap.add_argument("--idle-conns", type=int, default=500)
    ap.add_argument("--handshakes", type=int, default=1000)
    ap.add_argument("--hs-procs", type=int, default=4)
    ap.add_argument("--sha256-cost", default=os.path.join(
        ROOT, "build", "bench", "sha256_cost"),
        help="the SHA-256 timer (bench/sha256_cost.c; make -f "
        "bench/proxy.mk proxy-bench-sha256); if it is missing the bench "
        "runs without that measurement")
    args = ap.parse_args()

    if not os.access(args.binary, os.X_OK):
        raise SystemExit("no %s: build picklewall first (make)" % args.binary)
    if not os.access(args.haproxy, os.X_OK):
        raise SystemExit("no haproxy (apt-get install -y haproxy)")
    tmp = None
    if args.workdir is None:
        tmp = tempfile.mkdtemp(prefix="picklewall-proxybench.")
        args.workdir = tmp
    procs = Procs()

    def on_signal(sig, _frame):
        raise KeyboardInterrupt("signal %d" % sig)
    signal.signal(signal.SIGTERM, on_signal)

    t_start = time.monotonic()
    meta = {
        "uptime_before": uptime_line(), "loadavg_before": loadavg(),
        "machine": platform.machine(), "cpus": os.cpu_count(),
        "cpus_usable": usable_cpus(),
        "kernel": platform.release(),
        "cpu_model": next((l.split(":", 1)[1].strip() for l in
                           open("/proc/cpuinfo") if
                           l.startswith("model name")), "?"),
        "python": platform.python_version(), "openssl": ssl.OPENSSL_VERSION,
        "haproxy_version": subprocess.run(
            [args.haproxy, "-v"], capture_output=True, text=True,
            timeout=10).stdout.splitlines()[0],
        "picklewall_version": subprocess.run(
            [args.binary, "--version"], capture_output=True, text=True,
            timeout=10).stdout.strip().replace("\n", "; "),
        "repeats": args.repeats, "multi_procs": args.procs,
        "hs_procs": args.hs_procs, "hs_count": args.handshakes,
        "idle_conns": args.idle_conns,
        "haproxy_nbthread": args.haproxy_nbthread or "default",
        "plan": PLAN, "multi_msgs_per_proc": MULTI_MSGS,
        "rules": "rules/logging.rules", "framing": "len32",
        "message_hash": args.message_hash or "all (default)",
        "workers": args.workers,
    }
    try:
        log("SHA-256 per message (%s)..." % args.sha256_cost)
        sha, sha_raw = run_sha256_cost(args.sha256_cost)
        meta["sha256_cost_program"] = args.sha256_cost
        if sha:
            meta["sha256_cost"] = sha_raw
        else:
            meta["sha256_cost_error"] = sha_raw
            log("  not measured: %s" % sha_raw)
        env = Env(args, procs)
        frames = {name: make_frame(size) for name, size in SIZES}
        env.small_frame = frames["200B"]
        env.start_backend()
        log("idle memory (%d connections, fresh proxies)..." %
            args.idle_conns)
        idle = bench_idle(env, args.idle_conns, args.repeats)
        p, env.ports["picklewall"] = env.start_picklewall()
        env.proc["picklewall"] = p
        h, env.ports["haproxy"] = env.start_haproxy()
        env.proc["haproxy"] = h
        meta["haproxy_threads"] = len(os.listdir("/proc/%d/task" % h.pid))
        meta["picklewall_threads"] = len(os.listdir("/proc/%d/task" % p.pid))
        meta["tls"] = check_paths(env, frames)
        log("messages (latency, then throughput)...")
        msgs = bench_messages(env, frames, args.repeats)
        log("200 B, %d client processes..." % args.procs)
        multi = bench_multi(env, frames["200B"], args.procs, args.repeats)
        log("handshakes...")
        hs = bench_handshakes(env, args.handshakes, args.hs_procs,
                              args.repeats)
        for name in PROXIES:
            if env.proc[name].poll() is not None:
                raise SystemExit("%s died during the run" % name)
        pw = env.proc["picklewall"]
        procs.stop(pw)
        audit_count(env, pw.audit)
        meta.update(env.audit_stats)
    finally:
        procs.stop_all()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    meta["uptime_after"] = uptime_line()
    meta["loadavg_after"] = loadavg()
    meta["seconds"] = time.monotonic() - t_start
    S = summarize(msgs, multi, hs, idle, meta["cpus_usable"], sha)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "summary": S,
                   "raw": {"messages": msgs, "multi_200B": multi,
                           "handshakes": hs, "idle": idle}},
                  f, indent=1, sort_keys=True)
        f.write("\n")
    print(table(S, meta))
    print("  (%.0f s; %s)" % (meta["seconds"], args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
