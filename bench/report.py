#!/usr/bin/python3
"""Merge the benchmarks' measurements into tables and one JSON.

usage: report.py --cc CC --cflags FLAGS --outdir DIR

Reads DIR/messages.json (gen_messages.py), DIR/pvm.jsonl (bench_pvm),
DIR/python.jsonl (bench_python.py) and, if it is there, DIR/rules.jsonl
(bench_rules), one JSON object per line and set; prints the tables to
stdout and writes DIR/results.json.  The targets come from the issue:
faster than pickle.loads on every set, at least 50x a pickletools.genops
walk, large binary payloads skipped at memory speed, and 1-byte feeds
linear in the message size; for the rules, a decision by exact name that
costs the same at 100,000 rules as at 10, and loading time linear in the
number of rules.  Misses are reported, not fatal (a benchmark measures,
the tests decide).
"""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys

TARGET_VS_LOADS = 1.0
TARGET_VS_GENOPS = 50.0
# "At memory speed": at least half of memcpy over the same bytes, for the
# payloads that are large enough for the claim to mean anything.
TARGET_VS_MEMCPY = 0.5
MEMCPY_TARGET_MIN_BYTES = 64 << 10
# Feeding one byte per call must cost the same per byte at 1 MiB as at
# 64 KiB (linear); this much drift is still noise on a shared machine.
LINEARITY_SLACK = 1.5


# An exact-name decision looks the name up in a hash table: at 100,000
# rules the table and the rules no longer fit in cache, which may cost a
# few cache misses per lookup, but no more than this over the 10-rule set.
EXACT_GROWTH_SLACK = 2.0
# Load time per rule at the largest set over the next largest (1.0 =
# linear); only judged when the next largest has at least this many rules.
LOAD_LINEARITY_SLACK = 3.0
LOAD_LINEARITY_MIN_RULES = 1000

# A 1-minute load average this far above our own single busy process means
# something else ran too, and the C and Python timings may not compare.
BUSY_LOAD_ABOVE = 1.5


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("report: %s: %s" % (path, e))


def load_lines(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        sys.exit("report: %s: %s" % (path, e))


def compiler_line(cc):
    try:
        out = subprocess.run(shlex.split(cc) + ["--version"],
                             capture_output=True, text=True, check=True)
        return out.stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "%s (version unknown)" % cc


def fmt_rate(x):
    if x is None:
        return "-"
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.2f" % x


def fmt_ratio(x):
    return "-" if x is None else ("%.0fx" % x if x >= 100 else "%.1fx" % x)


def rules_table(rule_sets, w):
    """The rule evaluation table, written with ${w}: one row per set, the
    cost per decision next to that of the smallest set of its kind and
    style.  Returns the rows and the missed targets."""
    if not rule_sets:
        return [], []
    groups = {}
    for r in rule_sets:
        groups.setdefault((r["kind"], r["style"]), []).append(r)
    rows, misses = [], []
    for (kind, style), rs in groups.items():
        rs.sort(key=lambda r: r["n_rules"])
        base = rs[0]
        for r in rs:
            row = dict(r)
            row["vs_smallest"] = r["ns_per_decision"] / base["ns_per_decision"]
            row["smallest_n_rules"] = base["n_rules"]
            row["load_us_per_rule"] = r["load_seconds"] * 1e6 / r["user_rules"]
            rows.append(row)
        last = rows[-1]
        if style == "exact" and len(rs) >= 2 and \
                last["vs_smallest"] > EXACT_GROWTH_SLACK:
            misses.append("%s: %.2fx the cost per decision of %s-%s-%d "
                          "(target <= %gx)" % (
                              last["set"], last["vs_smallest"], kind, style,
                              base["n_rules"], EXACT_GROWTH_SLACK))
        if len(rs) >= 2 and rs[-2]["user_rules"] >= LOAD_LINEARITY_MIN_RULES:
            prev = rows[-2]
            growth = last["load_us_per_rule"] / prev["load_us_per_rule"]
            last["load_per_rule_vs_previous"] = growth
            if growth > LOAD_LINEARITY_SLACK:
                misses.append("%s: loading took %.1f s, %.1fx the time per "
                              "rule of %s (not linear)" % (
                                  last["set"], last["load_seconds"], growth,
                                  prev["set"]))
    r0 = rule_sets[0]
    w("")
    w("rules: policy_decide per import or call; %d messages of %d names "
      "each, all allowed; the built-in denylist (%d rules) comes first in "
      "every set" % (r0["messages"], r0["items_per_message"],
                     r0["all_rules"] - r0["user_rules"]))
    w("%-22s %8s %9s %10s %12s %9s" % (
        "set", "rules", "load s", "load us/r", "ns/decision", "vs first"))
    for r in rows:
        w("%-22s %8d %9.3f %10.2f %12.0f %8.2fx" % (
            r["set"], r["user_rules"], r["load_seconds"],
            r["load_us_per_rule"], r["ns_per_decision"], r["vs_smallest"]))
    return rows, misses


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cc", required=True)
    ap.add_argument("--cflags", required=True)
    ap.add_argument("--outdir", required=True)
    args = ap.parse_args()

    gen = load(os.path.join(args.outdir, "messages.json"))
    pvm = load_lines(os.path.join(args.outdir, "pvm.jsonl"))
    py = load_lines(os.path.join(args.outdir, "python.jsonl"))
    rules_path = os.path.join(args.outdir, "rules.jsonl")
    rule_sets = load_lines(rules_path) if os.path.exists(rules_path) else []
    if not pvm or not py:
        sys.exit("report: no measurements")
    key = lambda s: (s["class"], s["size"])
    gen_sets = {key(s): s for s in gen["sets"]}
    py_sets = {key(s): s for s in py}

    rows = []
    for p in pvm:
        g, q = gen_sets.get(key(p)), py_sets.get(key(p))
        if g is None or q is None:
            sys.exit("report: %s %s missing from messages.json or "
                     "python.json" % key(p))
        if not (p["total_bytes"] == g["total_bytes"] == q["total_bytes"]):
            sys.exit("report: %s %s: the C and Python runs did not read the "
                     "same bytes" % key(p))
        row = {"class": p["class"], "size": p["size"],
               "target_bytes": p["target_bytes"],
               "messages": p["messages"], "total_bytes": p["total_bytes"],
               "mean_bytes": g["mean_bytes"], "protocol": g["protocol"],
               "opcodes": p["opcodes"], "imports": p["imports"],
               "calls": p["calls"],
               "pvm_mb_s": p["pvm_mb_s"], "pvm_msgs_s": p["pvm_msgs_s"],
               "pvm_ns_per_opcode": 1e9 / p["pvm_opcodes_s"]
               if p["pvm_opcodes_s"] else None,
               "loads_mb_s": q["loads_mb_s"],
               "loads_msgs_s": q["loads_msgs_s"],
               "genops_mb_s": q["genops_mb_s"],
               "genops_msgs_s": q["genops_msgs_s"]}
        row["vs_loads"] = row["pvm_mb_s"] / row["loads_mb_s"]
        row["vs_genops"] = row["pvm_mb_s"] / row["genops_mb_s"]
        if "memcpy_mb_s" in p:
            row["memcpy_mb_s"] = p["memcpy_mb_s"]
            row["vs_memcpy"] = row["pvm_mb_s"] / p["memcpy_mb_s"]
        if "strcheck_mb_s" in p:
            # The analyzer cannot be faster than checking its strs alone,
            # so neither can its ratio to genops.
            row["strcheck_mb_s"] = p["strcheck_mb_s"]
            row["strcheck_share"] = p["pvm_mb_s"] / p["strcheck_mb_s"]
            row["genops_bound"] = p["strcheck_mb_s"] / row["genops_mb_s"]
        if "stream1_mb_s" in p:
            row["stream1_mb_s"] = p["stream1_mb_s"]
            row["whole_ns_per_byte"] = p["whole_ns_per_byte"]
            row["stream1_ns_per_byte"] = p["stream1_ns_per_byte"]
            row["stream1_vs_whole_time_per_byte"] = (
                p["stream1_ns_per_byte"] / p["whole_ns_per_byte"])
        rows.append(row)

    loads = [x["load_average"] for x in pvm + py + rule_sets
             if x["load_average"] >= 0]
    machine = {"machine": platform.machine(), "cpus": os.cpu_count(),
               "compiler": compiler_line(args.cc), "cflags": args.cflags,
               "python": py[0]["python"],
               "load_average_min": min(loads, default=None),
               "load_average_max": max(loads, default=None),
               "min_seconds": pvm[0]["min_seconds"],
               "repeats": pvm[0]["repeats"]}

    out = []
    w = out.append
    w("picklewall analyzer throughput: %s, %d CPUs; %s; CFLAGS %s; "
      "Python %s" % (machine["machine"], machine["cpus"], machine["compiler"],
                     machine["cflags"], machine["python"]))
    w("best of %d samples >= %gs each, C then Python per set; MB = 10^6 B; "
      "loads (gc off) and genops read the same bytes; load avg %s" % (
          machine["repeats"], machine["min_seconds"],
          "%.2f-%.2f" % (min(loads), max(loads)) if loads else "unknown"))
    if loads and max(loads) > BUSY_LOAD_ABOVE:
        w("WARNING: the machine was busy (load average up to %.2f on %d "
          "CPUs): other jobs skew these numbers; rerun when it is idle"
          % (max(loads), machine["cpus"]))
    w("%-10s %5s %7s %5s %8s %9s %10s %11s %8s %9s %8s" % (
        "class", "size", "avg B", "msgs", "pw MB/s", "pw msg/s",
        "loads MB/s", "genops MB/s", "pw/loads", "pw/genops", "imp/call"))
    for r in rows:
        w("%-10s %5s %7.0f %5d %8s %9.0f %10s %11s %8s %9s %8s" % (
            r["class"], r["size"], r["mean_bytes"], r["messages"],
            fmt_rate(r["pvm_mb_s"]), r["pvm_msgs_s"],
            fmt_rate(r["loads_mb_s"]), fmt_rate(r["genops_mb_s"]),
            fmt_ratio(r["vs_loads"]), fmt_ratio(r["vs_genops"]),
            "%d/%d" % (r["imports"], r["calls"])))

    base = [r for r in rows if "memcpy_mb_s" in r]
    if base:
        w("")
        w("baseline: memcpy of the same bytes in bench_pvm")
        w("%-10s %5s %11s %8s %10s" % ("class", "size", "memcpy MB/s",
                                       "pw MB/s", "pw/memcpy"))
        for r in base:
            w("%-10s %5s %11s %8s %10s" % (
                r["class"], r["size"], fmt_rate(r["memcpy_mb_s"]),
                fmt_rate(r["pvm_mb_s"]), "%.2fx" % r["vs_memcpy"]))

    bound = [r for r in rows if "strcheck_mb_s" in r]
    if bound:
        w("")
        w("bound: the UTF-8 check of the str payloads alone "
          "(pvm_text_is_utf8 in place; MB/s of whole messages)")
        w("%-10s %5s %13s %8s %13s %11s" % (
            "class", "size", "str chk MB/s", "pw MB/s", "share of pw",
            "genops max"))
        for r in bound:
            w("%-10s %5s %13s %8s %12.0f%% %10s" % (
                r["class"], r["size"], fmt_rate(r["strcheck_mb_s"]),
                fmt_rate(r["pvm_mb_s"]), 100 * r["strcheck_share"],
                fmt_ratio(r["genops_bound"])))
        w("genops max: str chk MB/s / genops MB/s, the highest pw/genops "
          "an analyzer that checks its strs can reach")

    stream = [r for r in rows if "stream1_mb_s" in r]
    linear = {}
    if stream:
        w("")
        w("streaming: the same messages fed to pvm_feed 1 byte per call vs "
          "whole (time per byte)")
        w("%-10s %5s %12s %12s %13s" % ("class", "size", "whole ns/B",
                                        "1-byte ns/B", "1-byte/whole"))
        for r in stream:
            w("%-10s %5s %12.3f %12.3f %12.1fx" % (
                r["class"], r["size"], r["whole_ns_per_byte"],
                r["stream1_ns_per_byte"],
                r["stream1_vs_whole_time_per_byte"]))
        by_class = {}
        for r in stream:
            by_class.setdefault(r["class"], []).append(r)
        for cls, rs in by_class.items():
            rs.sort(key=lambda r: r["target_bytes"])
            if len(rs) >= 2:
                linear[cls] = (rs[-1]["stream1_ns_per_byte"]
                               / rs[0]["stream1_ns_per_byte"])
        w("1-byte ns/B, largest / smallest size (1.0 = linear): " +
          ", ".join("%s %.2f" % kv for kv in linear.items()))

    rule_rows, rule_misses = rules_table(rule_sets, w)

    misses = []
    for r in rows:
        name = "%s %s" % (r["class"], r["size"])
        if r["vs_loads"] <= TARGET_VS_LOADS:
            misses.append("%s: %.2fx loads (target > 1x)"
                          % (name, r["vs_loads"]))
        if r["vs_genops"] < TARGET_VS_GENOPS:
            bounded = r.get("genops_bound", TARGET_VS_GENOPS)
            misses.append("%s: %.1fx genops (target >= %gx, short by %.1fx)%s"
                          % (name, r["vs_genops"], TARGET_VS_GENOPS,
                             TARGET_VS_GENOPS / r["vs_genops"],
                             "; the str check alone allows %.1fx" % bounded
                             if bounded < TARGET_VS_GENOPS else ""))
        if ("vs_memcpy" in r and r["target_bytes"] >= MEMCPY_TARGET_MIN_BYTES
                and r["vs_memcpy"] < TARGET_VS_MEMCPY):
            misses.append("%s: %.2fx memcpy (target >= %gx)"
                          % (name, r["vs_memcpy"], TARGET_VS_MEMCPY))
    for cls, ratio in linear.items():
        if ratio > LINEARITY_SLACK:
            misses.append("%s: 1-byte feeds %.2fx slower per byte at the "
                          "largest size (not linear)" % (cls, ratio))
    misses += rule_misses
    w("")
    w("targets: > 1x loads, >= %gx genops, >= %gx memcpy for bytes >= "
      "64KiB, linear 1-byte feeds%s: %s" % (
          TARGET_VS_GENOPS, TARGET_VS_MEMCPY,
          ", exact-name decisions <= %gx the 10-rule cost, linear rule "
          "loading" % EXACT_GROWTH_SLACK if rule_rows else "",
          "all met" if not misses else "%d missed" % len(misses)))
    for m in misses:
        w("  MISS " + m)
    print("\n".join(out))

    results = {"machine": machine,
               "targets": {"vs_loads_above": TARGET_VS_LOADS,
                           "vs_genops_at_least": TARGET_VS_GENOPS,
                           "vs_memcpy_at_least": TARGET_VS_MEMCPY,
                           "vs_memcpy_min_target_bytes":
                               MEMCPY_TARGET_MIN_BYTES,
                           "linearity_slack": LINEARITY_SLACK},
               "sets": rows, "stream1_linearity": linear,
               "rules": rule_rows, "misses": misses}
    if rule_rows:
        results["targets"]["exact_growth_at_most"] = EXACT_GROWTH_SLACK
        results["targets"]["load_linearity_slack"] = LOAD_LINEARITY_SLACK
    path = os.path.join(args.outdir, "results.json")
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
