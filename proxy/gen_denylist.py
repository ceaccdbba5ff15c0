"""Embed rules/gadgets.rules in the binary as the denylist layer.

usage: python3 proxy/gen_denylist.py rules/gadgets.rules OUT.c

The denylist applies to every policy, so it must not depend on a file
being found at run time.
"""

import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    data = open(src, "rb").read()
    lines = []
    for i in range(0, len(data), 16):
        lines.append("\t" + "".join("%d," % b for b in data[i:i + 16]))
    with open(out, "w") as f:
        f.write("/* Generated from %s by proxy/gen_denylist.py. */\n" % src)
        f.write("#include <stddef.h>\n\n")
        f.write("extern const char policy_denylist_text[];\n")
        f.write("extern const size_t policy_denylist_len;\n\n")
        f.write("const char policy_denylist_text[] = {\n")
        f.write("\n".join(lines) + ("\n" if lines else ""))
        f.write("\t0\n};\n")
        f.write("const size_t policy_denylist_len = %d;\n" % len(data))


if __name__ == "__main__":
    main()
