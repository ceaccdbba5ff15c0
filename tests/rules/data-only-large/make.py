"""data-only-large: big but legitimate pure-data messages pass the default
limits that scale with message_bytes (16 MiB in data-only.rules).

tuples300k  a list of 300,000 distinct small tuples (i, str(i)): each tuple
            and str memoized, so 600,000 memo entries (900,000 at protocol
            0) and 1.5 to 2.1 million opcodes, 4.5 to 10 MiB
bigstr      a 10 MiB mostly-ASCII str
bigbytes    5 MiB of every byte value (protocol 1-2: 2 UTF-8 bytes per
            high byte; protocol 0: raw-unicode-escape)
bigdict     a dict of 200,000 str keys
stream      one raw stream of 5,000 small messages
"""
import os
import pickle
import sys

out = sys.argv[1]


def write(name, *chunks):
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        for c in chunks:
            f.write(c)


tuples = [(i, str(i)) for i in range(300000)]
text = ('The quick brown fox jumps over the lazy dog. ' * 20 + 'é€\n') * 11000
data = bytes(range(256)) * (5 * 4096)
big = {'key%07d' % i: i for i in range(200000)}
for p in range(6):
    write('tuples300k_p%d' % p, pickle.dumps(tuples, p))
    write('bigstr_p%d' % p, pickle.dumps(text, p))
    write('bigbytes_p%d' % p, pickle.dumps(data, p))
    write('bigdict_p%d' % p, pickle.dumps(big, p))
    write('stream_p%d' % p, *(pickle.dumps({'seq': i, 'v': [i, str(i)]}, p)
                              for i in range(5000)))
