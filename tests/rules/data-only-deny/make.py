"""data-only-deny: what data-only.rules must deny, written by real CPython
(classes with __reduce__ are how an attacker's pickler writes a gadget;
nothing here is ever unpickled).

object-*      instances of classes (a plain class, a dict subclass, a
              slotted class): an import of __main__.*
stdlib-*      standard-library values that are not pure data (complex,
              datetime, Decimal, OrderedDict, range)
gadget-*      os.system, eval, exec, subprocess.Popen, getattr chains
shape-*       an allowed callable with arguments outside its args shape:
              bytearray(int), bytes(int), set(str), _codecs.encode with
              another codec
persid, oob   a persistent id, an out-of-band buffer (protocol 5)
toobig        one message over the 16 MiB message_bytes limit
toodeep       nesting over the 1000 nesting limit
tuplekey      the documented gap: a tuple dict key holding bytes made by a
              call (protocol 0-2) is denied as an unknown __hash__; from
              protocol 3 on the same value is plain data and allowed
"""
import collections
import datetime
import decimal
import io
import os
import pickle
import subprocess
import sys

out = sys.argv[1]
sys.setrecursionlimit(20000)


def write(name, data):
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        f.write(data)


def each_protocol(name, value, protocols=range(6)):
    for p in protocols:
        write('%s_p%d' % (name, p), pickle.dumps(value, protocol=p))


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


class Record(dict):
    pass


class Slotted:
    __slots__ = ('a',)

    def __init__(self):
        self.a = 1


class Reduce:
    """Pickles as func(*args): what any attacker-written pickle can say."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


each_protocol('object-point', {'p': Point(1, 2)})
each_protocol('object-dictsub', Record(a=1))
each_protocol('object-slotted', [Slotted()], range(2, 6))   # needs protocol 2
each_protocol('stdlib-complex', 1 + 2j)
each_protocol('stdlib-datetime', datetime.datetime(2024, 1, 2, 3, 4, 5))
each_protocol('stdlib-decimal', decimal.Decimal('1.1'))
each_protocol('stdlib-ordereddict', collections.OrderedDict(a=1))
each_protocol('stdlib-range', range(10))

each_protocol('gadget-system', Reduce(os.system, ('id',)))
each_protocol('gadget-eval', Reduce(eval, ('__import__("os").getcwd()',)))
each_protocol('gadget-exec', {'x': Reduce(exec, ('import os',))})
each_protocol('gadget-popen', Reduce(subprocess.Popen, (['true'],)))
each_protocol('gadget-getattr', Reduce(getattr, (Reduce(__import__, ('os',)), 'getcwd')))
each_protocol('gadget-in-set', [{1, 2}, Reduce(os.system, ('id',))])

each_protocol('shape-bytearray-int', Reduce(bytearray, (10**9,)))
each_protocol('shape-bytes-int', Reduce(bytes, (10**9,)))
each_protocol('shape-set-str', Reduce(set, ('abc',)))
each_protocol('shape-frozenset-tuple', Reduce(frozenset, ((1, 2),)))
each_protocol('shape-encode-codec', Reduce(__import__('_codecs').encode, ('abc', 'utf-8')))


class PersidPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return 'ref:%d' % obj.x if isinstance(obj, Point) else None


for p in range(6):
    buf = io.BytesIO()
    PersidPickler(buf, p).dump({'a': Point(7, 8)})
    write('persid_p%d' % p, buf.getvalue())
write('oob_p5', pickle.dumps(pickle.PickleBuffer(b'payload'), protocol=5,
                             buffer_callback=lambda b: False))
write('toobig_p4', pickle.dumps(b'x' * (16 * 2**20 + 1), protocol=4))
v = 'bottom'
for i in range(1500):
    v = [v]
write('toodeep_p4', pickle.dumps(v, protocol=4))
each_protocol('tuplekey', {(b'k', 1): 'v'})
