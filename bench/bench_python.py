#!/usr/bin/python3
"""Time CPython's pickle.loads and a pickletools.genops walk over the
benchmark's message sets (the very bytes bench_pvm times).

usage: bench_python.py [-t MIN_SECONDS] [-r REPEATS] [-s CLASS-SIZE] MANIFEST

Results go to stdout, one JSON object per line and set (only the set
CLASS-SIZE with -s), and a summary line per set to stderr.

Each measurement is the best of REPEATS samples, a sample being as many
whole passes over a set as fit in MIN_SECONDS (time.perf_counter), after
one untimed pass.  The garbage collector is off while timing, as timeit
does: pickle.loads gets its best case.  Every message must load; one that
does not aborts the run.  MB = 10^6 bytes.
"""

import argparse
import gc
import json
import os
import pickle
import pickletools
import struct
import sys
import time

MAGIC = b"PWBENCH1"


def read_manifest(path):
    """The manifest's sets: dicts of class, size, target_bytes, path."""
    sets = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 7:
                sys.exit("bench_python: %s:%d: %d fields, want 7"
                         % (path, lineno, len(fields)))
            sets.append({"class": fields[0], "size": fields[1],
                         "target_bytes": int(fields[2]), "path": fields[6]})
    return sets


def read_set(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC:
        sys.exit("bench_python: %s: not a message set" % path)
    (count,) = struct.unpack_from("<I", data, 8)
    pos = 12
    messages = []
    for _ in range(count):
        (length,) = struct.unpack_from("<I", data, pos)
        messages.append(data[pos + 4:pos + 4 + length])
        pos += 4 + length
        if len(messages[-1]) != length:
            sys.exit("bench_python: %s: truncated" % path)
    if pos != len(data):
        sys.exit("bench_python: %s: bytes after the last message" % path)
    return messages


def pass_loads(messages, loads=pickle.loads):
    for m in messages:
        loads(m)


def pass_genops(messages, genops=pickletools.genops):
    for m in messages:
        for _ in genops(m):
            pass


def best_pass_seconds(run, messages, min_seconds, repeats):
    """Best seconds per pass of run(messages) and that sample's passes."""
    clock = time.perf_counter
    run(messages)
    best, best_passes = None, 0
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            passes = 0
            start = clock()
            while True:
                run(messages)
                passes += 1
                elapsed = clock() - start
                if elapsed >= min_seconds:
                    break
            if best is None or elapsed / passes < best:
                best, best_passes = elapsed / passes, passes
    finally:
        if gc_was_enabled:
            gc.enable()
    return best, best_passes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-t", type=float, default=0.3, dest="min_seconds")
    ap.add_argument("-r", type=int, default=5, dest="repeats")
    ap.add_argument("-s", dest="only", metavar="CLASS-SIZE")
    ap.add_argument("manifest")
    args = ap.parse_args()
    n_sets = 0
    for s in read_manifest(args.manifest):
        if args.only is not None and args.only != "%s-%s" % (s["class"],
                                                            s["size"]):
            continue
        n_sets += 1
        load_average = os.getloadavg()[0]
        messages = read_set(s["path"])
        for i, m in enumerate(messages):
            try:
                pickle.loads(m)
            except Exception as e:
                sys.exit("bench_python: %s %s message %d does not load: %r"
                         % (s["class"], s["size"], i, e))
        total = sum(map(len, messages))
        mb = total / 1e6
        loads_s, loads_passes = best_pass_seconds(
            pass_loads, messages, args.min_seconds, args.repeats)
        genops_s, genops_passes = best_pass_seconds(
            pass_genops, messages, args.min_seconds, args.repeats)
        print(json.dumps({
            "class": s["class"], "size": s["size"],
            "target_bytes": s["target_bytes"], "messages": len(messages),
            "total_bytes": total, "python": sys.version.split()[0],
            "min_seconds": args.min_seconds, "repeats": args.repeats,
            "gc_during_timing": False, "load_average": load_average,
            "loads_passes": loads_passes, "loads_mb_s": mb / loads_s,
            "loads_msgs_s": len(messages) / loads_s,
            "genops_passes": genops_passes, "genops_mb_s": mb / genops_s,
            "genops_msgs_s": len(messages) / genops_s}), flush=True)
        print("bench_python: %-10s %-5s %5d msgs  loads %8.1f MB/s  "
              "genops %6.2f MB/s" % (s["class"], s["size"], len(messages),
                                     mb / loads_s, mb / genops_s),
              file=sys.stderr)
    if n_sets == 0:
        sys.exit("bench_python: %s: no message set%s" % (
            args.manifest, "" if args.only is None else " named " + args.only))


if __name__ == "__main__":
    main()
