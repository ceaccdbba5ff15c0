#!/usr/bin/python3
"""Generate the analyzer benchmark's messages under OUTDIR (build/bench).

Four classes of pure-data pickles, each at four target sizes:

  logging     what logging.handlers.SocketHandler.makePickle sends (its
              4-byte length prefix stripped): a protocol-1 pickle of the
              LogRecord __dict__, the message text padded to reach the size.
              A record is ~490 B with an empty message, so its "200 B"
              set is as small as a real record gets.
  containers  what multiprocessing sends: ForkingPickler at its default
              protocol (pickle.DEFAULT_PROTOCOL) of a Pool-style result
              tuple carrying lists, dicts and tuples of ints, floats, strs.
  bytes       mostly one or a few large bytes objects (default protocol).
  small       many small objects: a list of small dicts, tuples, ints,
              floats, bools and None (default protocol).

Every message is checked with pickle.loads (it must give back the object it
was made from) before it is written.  Output, all derived data:

  OUTDIR/<class>-<size>.msgs   b"PWBENCH1", u32 LE count, then per message
                               u32 LE length + the pickle bytes
  OUTDIR/<class>-<size>.strs   b"PWSTRS01", u32 LE count, then per message
                               u32 LE n and n pairs of u32 LE (offset,
                               length): where the UTF-8 payloads of its
                               str opcodes lie, for the str-check bound
  OUTDIR/manifest.tsv          one line per set, read by bench_pvm and
                               bench_python.py:  class size_label
                               target_bytes pure memcpy stream1 path
  OUTDIR/messages.json         the same, with counts, sizes and protocols

The content is seeded: the same script writes the same bytes every time.
"""

import argparse
import json
import logging
import logging.handlers
import os
import pickle
import pickletools
import random
import struct
import sys
from multiprocessing.reduction import ForkingPickler

MAGIC = b"PWBENCH1"

SIZES = [("200B", 200), ("4KiB", 4 << 10), ("64KiB", 64 << 10),
         ("1MiB", 1 << 20)]

# Sets at least this large are also fed to the analyzer one byte per call.
STREAM1_MIN_TARGET = 64 << 10

# Each set holds at least this many bytes (and at least 2 messages), so
# that small messages are timed over many different inputs rather than the
# same few bytes hot in the branch predictor.
MIN_SET_BYTES = 1 << 20
MIN_SET_MESSAGES = 2

# fit() settles for a message this close below its target.
FIT_SLACK = 0.005

WORDS = ("request served upstream worker cache miss hit retry timeout "
         "connection reset by peer user id session token expired queue "
         "depth latency ms bytes sent received shard replica leader "
         "elected snapshot written checkpoint résumé naïve café → ✓").split()


def words(rng, nchars):
    """Text of exactly ${nchars} characters from WORDS, seeded by rng."""
    out = []
    total = 0
    while total < nchars:
        w = rng.choice(WORDS)
        out.append(w)
        total += len(w) + 1
    return " ".join(out)[:nchars]


# ---- the four classes: make(n, seed) -> (object, pickle bytes) -----------
# n scales the message; fit() searches for the n that reaches the target.

LOG_SOCKET_HANDLER = logging.handlers.SocketHandler("localhost", 9020)
LOG_NAMES = ["app", "app.worker", "app.db.pool", "urllib3.connectionpool",
             "gunicorn.error", "celery.worker.strategy"]
LOG_FUNCS = ["handle", "run", "_make_request", "dispatch", "on_message"]


def make_logging(n, seed):
    rng = random.Random(seed)
    name = rng.choice(LOG_NAMES)
    level = rng.choice([logging.DEBUG, logging.INFO, logging.WARNING,
                        logging.ERROR])
    path = "/srv/%s/%s.py" % (name.split(".")[0],
                              name.split(".")[-1])
    head = "request %d from 10.%d.%d.%d took %.3f ms: " % (
        rng.randrange(1 << 31), rng.randrange(256), rng.randrange(256),
        rng.randrange(256), rng.random() * 1000)
    text = (head + words(rng, max(0, n - len(head))))[:n]
    record = logging.getLogger(name).makeRecord(
        name, level, path, rng.randrange(1, 3000), text, None, None,
        rng.choice(LOG_FUNCS))
    # Fields a real process would vary; makeRecord filled them from ours.
    record.created = 1.7e9 + rng.random() * 1e7
    record.msecs = float(int((record.created % 1) * 1000))
    record.relativeCreated = rng.random() * 1e8
    record.thread = rng.randrange(1 << 47)
    record.threadName = rng.choice(["MainThread", "Thread-%d (worker)"
                                    % rng.randrange(1, 64)])
    record.process = rng.randrange(1, 1 << 22)
    record.processName = rng.choice(["MainProcess", "SpawnPoolWorker-%d"
                                     % rng.randrange(1, 16)])
    framed = LOG_SOCKET_HANDLER.makePickle(record)
    (length,) = struct.unpack(">L", framed[:4])
    data = framed[4:]
    assert length == len(data)
    expect = dict(record.__dict__, args=None, exc_info=None)
    expect.pop("message", None)
    return expect, data


def mp_value(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randrange(-1 << 40, 1 << 40)
    if kind == 1:
        return rng.randrange(256)
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind == 3:
        return words(rng, rng.randrange(3, 24))
    if kind == 4:
        return (rng.randrange(1 << 20), rng.random(), words(rng, 6))
    return [rng.randrange(1 << 16) for _ in range(rng.randrange(1, 8))]


def make_containers(n, seed):
    rng = random.Random(seed)
    columns = {"ids": [], "scores": [], "labels": [], "rows": [],
               "extra": {}}
    for i in range(n):
        columns["ids"].append(rng.randrange(1 << 32))
        columns["scores"].append(rng.random())
        columns["labels"].append(words(rng, rng.randrange(4, 16)))
        columns["rows"].append((i, mp_value(rng), mp_value(rng)))
        if i % 8 == 0:
            columns["extra"]["k%d" % i] = mp_value(rng)
    # Pool workers answer (job, index, (success, value)).
    obj = (rng.randrange(1 << 20), rng.randrange(1 << 10), (True, columns))
    return obj, bytes(ForkingPickler.dumps(obj))


def make_bytes(n, seed):
    rng = random.Random(seed)
    if n < 1024:
        parts = [rng.randbytes(n)]
    else:
        k = rng.randrange(1, 4)
        sizes = [n // k] * (k - 1) + [n - (n // k) * (k - 1)]
        parts = [rng.randbytes(s) for s in sizes]
    obj = {"key": "blob/%08x" % rng.randrange(1 << 32),
           "seq": rng.randrange(1 << 30), "parts": parts}
    return obj, pickle.dumps(obj)


SMALL_KEYS = ["id", "x", "y", "ok", "tag"]


def small_value(rng, i):
    kind = rng.randrange(6)
    if kind == 0:
        return {"id": i, "x": rng.random(), "ok": rng.random() < 0.5}
    if kind == 1:
        return {k: rng.randrange(100) for k in
                rng.sample(SMALL_KEYS, rng.randrange(1, 4))}
    if kind == 2:
        return (i, rng.random())
    if kind == 3:
        return rng.randrange(-1000, 1000)
    if kind == 4:
        return rng.uniform(-1, 1)
    return rng.choice([None, True, False, ()])


def make_small(n, seed):
    rng = random.Random(seed)
    obj = [small_value(rng, i) for i in range(n)]
    return obj, pickle.dumps(obj)


# name -> (make, pure, memcpy): pure: no import or call may be found;
# memcpy: the C driver also times memcpy over the same bytes.
CLASSES = {
    "logging": (make_logging, True, False),
    "containers": (make_containers, True, False),
    "bytes": (make_bytes, True, True),
    "small": (make_small, True, False),
}


def fit(make, target, seed):
    """The largest message make(n, seed) of at most ${target} bytes, or one
    within FIT_SLACK of it (the smallest one if even n = 0 is larger)."""
    best_n, (obj, data) = 0, make(0, seed)
    base = len(data)
    if base > target:
        return obj, data
    best = (obj, data)
    over_n = None		# smallest n known to be too large
    n = 1
    while len(best[1]) < target * (1 - FIT_SLACK):
        obj, data = make(n, seed)
        if len(data) <= target:
            best_n, best = n, (obj, data)
        else:
            over_n = n
        if over_n is not None and over_n - best_n <= 1:
            break
        # Sizes grow about linearly in n: extrapolate, then keep the guess
        # strictly inside the bracket so that every step narrows it.
        per_unit = max((len(data) - base) / n, 1e-9)
        guess = int((target - base) / per_unit)
        hi = over_n if over_n is not None else max(2 * n, guess + 1) + 1
        n = min(max(guess, best_n + 1), hi - 1)
        if over_n is not None and n == best_n + 1 and hi - best_n > 8:
            n = (best_n + hi) // 2
    return best


def protocol_of(data):
    """The protocol a reader needs: PROTO's argument, or the newest opcode's
    (a protocol-1 pickle has no PROTO)."""
    proto = 0
    for op, arg, _pos in pickletools.genops(data):
        proto = max(proto, op.proto, arg if op.name == "PROTO" else 0)
    return proto


STRS_MAGIC = b"PWSTRS01"

# The str opcodes whose payload the analyzer checks as UTF-8, and the
# bytes of their length field.
STR_LENGTH_BYTES = {"SHORT_BINUNICODE": 1, "BINUNICODE": 4,
                    "BINUNICODE8": 8}


def str_spans(data):
    """(offset, length) of every UTF-8 str payload in the pickle ${data}."""
    spans = []
    for op, arg, pos in pickletools.genops(data):
        if op.name in STR_LENGTH_BYTES:
            raw = arg.encode("utf-8", "surrogatepass")
            start = pos + 1 + STR_LENGTH_BYTES[op.name]
            assert data[start:start + len(raw)] == raw
            spans.append((start, len(raw)))
        elif op.name == "UNICODE":
            sys.exit("gen_messages: protocol-0 str is not in the bound")
    return spans


def write_strs(path, messages):
    with open(path + ".tmp", "wb") as f:
        f.write(STRS_MAGIC + struct.pack("<I", len(messages)))
        for m in messages:
            spans = str_spans(m)
            f.write(struct.pack("<I", len(spans)))
            for start, length in spans:
                f.write(struct.pack("<II", start, length))
    os.replace(path + ".tmp", path)


def write_set(path, messages):
    with open(path + ".tmp", "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(messages)))
        for m in messages:
            f.write(struct.pack("<I", len(m)) + m)
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    sets = []
    tsv = []
    for cls, (make, pure, memcpy) in CLASSES.items():
        for label, target in SIZES:
            messages = []
            total = 0
            while (len(messages) < MIN_SET_MESSAGES
                   or total < MIN_SET_BYTES):
                i = len(messages)
                obj, data = fit(make, target, "%s-%d-%d" % (cls, target, i))
                if pickle.loads(data) != obj:
                    sys.exit("gen_messages: %s %s #%d does not load back"
                             % (cls, label, i))
                messages.append(data)
                total += len(data)
            count = len(messages)
            path = os.path.join(args.outdir, "%s-%s.msgs" % (cls, label))
            write_set(path, messages)
            write_strs(path[:-len(".msgs")] + ".strs", messages)
            sets.append({"class": cls, "size": label, "target_bytes": target,
                         "messages": count, "total_bytes": total,
                         "mean_bytes": total / count,
                         "min_bytes": min(map(len, messages)),
                         "max_bytes": max(map(len, messages)),
                         "protocol": protocol_of(messages[0]),
                         "pure": pure, "memcpy": memcpy,
                         "stream1": target >= STREAM1_MIN_TARGET,
                         "path": path})
            tsv.append("%s\t%s\t%d\t%d\t%d\t%d\t%s\n" % (
                cls, label, target, pure, memcpy,
                target >= STREAM1_MIN_TARGET, path))
            print("gen_messages: %-10s %-5s %5d msgs, mean %9.0f B, "
                  "protocol %d" % (cls, label, count, total / count,
                                   sets[-1]["protocol"]), file=sys.stderr)
    with open(os.path.join(args.outdir, "messages.json"), "w") as f:
        json.dump({"default_protocol": pickle.DEFAULT_PROTOCOL,
                   "sets": sets}, f, indent=1)
        f.write("\n")
    # Written last: the make stamp means "every set above is complete".
    with open(os.path.join(args.outdir, "manifest.tsv"), "w") as f:
        f.write("# class\tsize\ttarget_bytes\tpure\tmemcpy\tstream1\tpath\n")
        f.writelines(tsv)


if __name__ == "__main__":
    main()
