#!/usr/bin/env python3
"""bench/proxy_profile.py: one pipelined throughput run through picklewall,
for profiling it (not part of `make bench`).

Starts the proxy bench's backend and a picklewall with the bench's
configuration (bench/PROXY.md), warms up, then runs one throughput loop of
SIZE-byte messages for SECONDS and prints messages/s, MB/s and the proxy's
CPU per message.  With --perf it records the proxy meanwhile:

    python3 bench/proxy_profile.py --perf 200 3
    perf report -i build/bench/proxy-profile.data --no-children
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy_bench as pb  # noqa: E402

NAMES = {200: "200B", 64 * 1024: "64KiB", 1024 * 1024: "1MiB"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("size", type=int, choices=sorted(NAMES))
    ap.add_argument("seconds", type=float, nargs="?", default=3.0)
    ap.add_argument("--binary", default=os.path.join(pb.ROOT, "build",
                                                     "picklewall"))
    ap.add_argument("--message-hash", choices=("all", "denied", "none"))
    ap.add_argument("--perf", action="store_true",
                    help="perf record the proxy during the timed loop")
    ap.add_argument("--call-graph", default="fp",
                    help="perf's --call-graph (fp, dwarf)")
    ap.add_argument("--perf-out", default=os.path.join(
        pb.ROOT, "build", "bench", "proxy-profile.data"))
    a = ap.parse_args()
    if not 0 < a.seconds <= 60:
        raise SystemExit("seconds: between 0 and 60")
    name = NAMES[a.size]
    plan = pb.PLAN[name]
    workdir = tempfile.mkdtemp(prefix="picklewall-profile.")
    args = types.SimpleNamespace(workdir=workdir, audit_log=None,
                                 binary=a.binary, haproxy_nbthread=0,
                                 message_hash=a.message_hash)
    procs = pb.Procs()
    perf = None
    try:
        env = pb.Env(args, procs)
        env.start_backend()
        p, port = env.start_picklewall()
        frame = pb.make_frame(a.size)
        s = env.connect("picklewall", port)
        pb.run_tput(s, frame, min(plan["window"] * 2, 1000), plan["batch"],
                    plan["window"], time.monotonic() + pb.RUN_DEADLINE)
        if a.perf:
            os.makedirs(os.path.dirname(a.perf_out), exist_ok=True)
            perf = subprocess.Popen(
                ["perf", "record", "--call-graph", a.call_graph, "-o",
                 a.perf_out, "-p", str(p.pid)], stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        c0 = pb.cpu_ns(p.pid)
        acked, secs = pb.run_tput(s, frame, plan["tput"] * 10, plan["batch"],
                                  plan["window"],
                                  time.monotonic() + a.seconds)
        c1 = pb.cpu_ns(p.pid)
        s.close()
        print("%s: %.0f msgs/s, %.1f MB/s, proxy CPU %.2f us/msg" %
              (name, acked / secs, acked * len(frame) / secs / 1e6,
               (c1 - c0) / 1000.0 / acked))
    finally:
        if perf is not None:
            perf.send_signal(2)
            try:
                perf.wait(timeout=30)
            except subprocess.TimeoutExpired:
                perf.kill()
        procs.stop_all()
        subprocess.run(["rm", "-rf", workdir], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
