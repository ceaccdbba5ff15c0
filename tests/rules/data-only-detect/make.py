"""data-only-detect: data-only.rules included under `mode detect`: pure data
is allowed, the rest gets would_deny instead of deny."""
import os
import pickle
import sys

out = sys.argv[1]


class Gadget:
    def __reduce__(self):
        return (os.system, ('id',))


for p in range(6):
    for name, value in (('data', {'b': b'\x00', 's': {1}, 'ba': bytearray(b'x')}),
                        ('gadget', [1, Gadget()]),
                        ('complex', 1j)):
        with open(os.path.join(out, '%s_p%d.pkl' % (name, p)), 'wb') as f:
            f.write(pickle.dumps(value, p))
with open(os.path.join(out, 'toobig_p4.pkl'), 'wb') as f:
    f.write(pickle.dumps('x' * (16 * 2**20), 4))
