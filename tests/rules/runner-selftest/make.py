"""Runner selftest: a few pickles the runner must judge correctly.

plain   pure data, allowed, no rule reported
dt      a datetime.date: allowed by local.rules 1 and 2, alert 3 recorded
gadget  os.system('true') by __reduce__: denied by the built-in denylist
multi   plain, dt and gadget in one raw stream: 2 allowed, 1 denied
stray   a file no expectation matches
"""
import datetime
import os
import pickle
import sys

out = sys.argv[1]


class Gadget:
    def __reduce__(self):
        return (os.system, ('true',))


def write(name, *objs):
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        for o in objs:
            f.write(pickle.dumps(o, protocol=4))


write('plain', {'a': 1})
write('dt', datetime.date(2024, 2, 29))
write('gadget', Gadget())
write('multi', {'a': 1}, datetime.date(2024, 2, 29), Gadget())
write('stray', [1, 2, 3])
