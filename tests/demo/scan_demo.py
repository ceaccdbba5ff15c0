"""`make run`: a first look at picklewall scan.

usage: /usr/bin/python3 tests/demo/scan_demo.py build/picklewall

Writes, in a temporary directory, one raw stream of consecutive pickles as
a client would send them to a server that reads pickles from a socket:
some benign, some that would run code when unpickled.  Then runs
`picklewall scan --format text` and `--format json` over it and sums up.
The malicious pickles are only built (pickle.dumps or by hand), never
loaded: nothing here runs them.
"""

import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile


class RunsShellCommand:
    """pickle.dumps(RunsShellCommand()) is what an attacker sends: loading
    it calls os.system('echo pwned')."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def demo_messages():
    record = logging.LogRecord("billing", logging.WARNING, "/srv/billing.py",
                               42, "invoice %s overdue", ("A-17",), None)
    record_dict = dict(record.__dict__)
    record_dict["msg"] = record.getMessage()
    record_dict["args"] = None
    return [
        ("logging record (dict), protocol 1", pickle.dumps(record_dict, 1)),
        ("nested containers, protocol 4",
         pickle.dumps({"ids": [1, 2, 3], "tags": {"a", "b"},
                       "pair": (1.5, b"raw"), "none": None}, protocol=4)),
        ("os.system via __reduce__, protocol 4",
         pickle.dumps(RunsShellCommand(), protocol=4)),
        ("protocol 0 GLOBAL __builtin__ eval (mapped to builtins.eval)",
         b"c__builtin__\neval\n(S'__import__(\"os\").getcwd()'\ntR."),
        ("STACK_GLOBAL builtins exec, written by hand",
         b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93"
         b"\x8c\x0bprint('hi')\x85R."),
        ("a list of strings, protocol 2", pickle.dumps(["ok", "fine"], 2)),
    ]


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 64
    binary = os.path.abspath(sys.argv[1])
    messages = demo_messages()
    with tempfile.TemporaryDirectory(prefix="picklewall-demo-") as d:
        name = "client-stream.bin"
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            for _, data in messages:
                f.write(data)

        print("=" * 72)
        print("The stream: %d pickles back to back (raw framing), %s" %
              (len(messages), path))
        offset = 0
        for what, data in messages:
            print("  offset %5d  %4d bytes  %s" % (offset, len(data), what))
            offset += len(data)

        print("=" * 72)
        print("$ picklewall scan --format text client-stream.bin\n")
        text = subprocess.run([binary, "scan", "--format", "text", name],
                              capture_output=True, cwd=d)
        sys.stdout.write(text.stdout.decode(errors="replace"))
        sys.stdout.write(text.stderr.decode(errors="replace"))
        print("(exit status %d)" % text.returncode)

        print("=" * 72)
        print("$ picklewall scan --format json client-stream.bin\n")
        js = subprocess.run([binary, "scan", "--format", "json", name],
                            capture_output=True, cwd=d)
        sys.stdout.write(js.stdout.decode(errors="replace"))
        sys.stdout.write(js.stderr.decode(errors="replace"))
        print("(exit status %d)" % js.returncode)

    print("=" * 72)
    print("Verdicts:")
    lines = [json.loads(line) for line in js.stdout.decode().splitlines()]
    for (what, _), m in zip(messages, lines):
        found = ", ".join(
            ["import " + i["module"] + "." + i["name"] for i in m["imports"]] +
            ["call " + (c["callable"] or "?") for c in m["calls"]])
        line = "  %-5s %-62s %s" % (m["verdict"].upper(), what,
                                     found and "(" + found + ")")
        print(line.rstrip())
    print("""
What happened: picklewall read the stream the way CPython's unpickler
would, opcode by opcode, but without executing anything.  Loading a pickle
can import any module and call any function it names (that is how
os.system ends up running), so the built-in policy allows a pickle only if
it imports nothing and calls nothing: plain data such as dicts, lists,
strings and numbers passes, and every import and call is listed as a reason
with its offset and the opcodes around it.  Names are reported as CPython
would resolve them (the protocol 0 `__builtin__ eval` is really
builtins.eval), and the exit status is 1 because something was denied.
Rules that allow chosen classes come next; this is the offline `scan`
command, the same analysis the proxy runs inline.""")
    expected = ["allow", "allow", "deny", "deny", "deny", "allow"]
    ok = js.returncode == 1 and text.returncode == 1 and \
        [m["verdict"] for m in lines] == expected
    if not ok:
        print("\nunexpected verdicts: %s" % [m["verdict"] for m in lines])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
