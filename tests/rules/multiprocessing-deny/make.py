"""multiprocessing-deny: what multiprocessing.rules must deny, as real
Connection.send() streams (classes with __reduce__ are how an attacker's
pickler writes a gadget; nothing here is ever unpickled).

gadget-*       os.system, eval, exec, subprocess.Popen, getattr(module, ..)
class-*        the application's own classes: a plain object, a dataclass,
               an exception, a namedtuple, an enum member
factory-*      defaultdict with a default factory that is not a plain
               type: os.abort, breakpoint, datetime.datetime.now (a
               getattr), and allowed classes (OrderedDict, datetime.date)
               that the factory shape does not accept
subclass-*     OrderedDict and deque subclasses from another module, an
               OrderedDict carrying instance attributes (a BUILD)
shape-*        allowed callables with arguments outside their args shape
forking-*      what ForkingPickler adds: a bound method, functools.partial
tz-*           tzinfo other than datetime.timezone
proto[01]      plain data at protocol 0 and 1 (Connection.send never)
toobig         a 64 MiB + 1 payload
toodeep        nesting 1500 levels deep
"""
import collections
import dataclasses
import datetime
import decimal
import enum
import functools
import multiprocessing.connection as mpc
import os
import pickle
import subprocess
import sys
import types
import uuid
import zoneinfo
from multiprocessing.reduction import ForkingPickler

out = sys.argv[1]
sys.setrecursionlimit(20000)


class Recorder(mpc.Connection):
    """A client Connection that records what it would write."""

    def __init__(self):
        super().__init__(os.open(os.devnull, os.O_RDWR))
        self.sent = bytearray()

    def _send(self, buf, write=None):
        self.sent += bytes(buf)


def send(name, value, protocol=None, raw=None):
    conn = Recorder()
    if raw is not None:
        conn.send_bytes(raw)
    elif protocol is None:
        conn.send(value)
    else:
        conn.send_bytes(ForkingPickler.dumps(value, protocol))
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        f.write(conn.sent)
    conn.close()


def each_protocol(name, value):
    send(name + '_pd', value)
    for p in range(2, 6):
        send('%s_p%d' % (name, p), value, p)


class Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


class Task:
    def __init__(self):
        self.name = 'x'

    def run(self):
        return self.name


@dataclasses.dataclass
class Point:
    x: int
    y: int


class AppError(Exception):
    pass


Pair = collections.namedtuple('Pair', 'a b')


class Color(enum.Enum):
    RED = 1


each_protocol('gadget-system', Reduce(os.system, ('id',)))
each_protocol('gadget-eval', [1, Reduce(eval, ('1+1',))])
each_protocol('gadget-exec', {'k': Reduce(exec, ('import os',))})
each_protocol('gadget-popen', Reduce(subprocess.Popen, (['true'],)))
each_protocol('gadget-getattr', Reduce(getattr, (Reduce(__import__, ('os',)), 'system')))
each_protocol('class-object', Task())
each_protocol('class-dataclass', Point(1, 2))
each_protocol('class-exception', AppError('boom'))
each_protocol('class-namedtuple', Pair(1, 2))
each_protocol('class-enum', Color.RED)
each_protocol('class-decimal-context', decimal.Context(prec=5))

each_protocol('factory-abort', collections.defaultdict(os.abort))
each_protocol('factory-breakpoint', collections.defaultdict(breakpoint))
each_protocol('factory-now', collections.defaultdict(datetime.datetime.now))
each_protocol('factory-ordereddict', collections.defaultdict(collections.OrderedDict))
each_protocol('factory-date', collections.defaultdict(datetime.date))

# A module other than collections that defines its own OrderedDict.
mylib = types.ModuleType('mylib')
sys.modules['mylib'] = mylib
exec('import collections\nclass OrderedDict(collections.OrderedDict): pass\n'
     'class deque(collections.deque): pass\n', mylib.__dict__)
each_protocol('subclass-foreign-ordereddict', mylib.OrderedDict(a=1))
each_protocol('subclass-foreign-deque', mylib.deque([1]))
od = collections.OrderedDict(a=1)
od.note = 'instance attribute'
each_protocol('subclass-ordereddict-attrs', od)

each_protocol('shape-bytearray-int', Reduce(bytearray, (10**9,)))
each_protocol('shape-slice-str', slice('a', 'b'))
each_protocol('shape-range-str', Reduce(range, ('10',)))
each_protocol('shape-complex-str', Reduce(complex, ('1+2j',)))
each_protocol('shape-counter-str', Reduce(collections.Counter, ('abc',)))
each_protocol('shape-deque-list', Reduce(collections.deque, ([1, 2], 10)))
each_protocol('shape-ordereddict-list', Reduce(collections.OrderedDict, ([('a', 1)],)))
each_protocol('shape-uuid-str', Reduce(uuid.UUID, ('12345678123456781234567812345678',)))
each_protocol('shape-date-ints', Reduce(datetime.date, (2024, 1, 2)))
each_protocol('shape-timezone-float', Reduce(datetime.timezone, (1.5,)))
each_protocol('shape-decimal-tuple', Reduce(decimal.Decimal, ((0, (1, 4), -1),)))

each_protocol('forking-method', Task().run)
each_protocol('forking-partial', functools.partial(print, 'x'))
each_protocol('tz-zoneinfo', datetime.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo('UTC')))


class FixedTZ(datetime.tzinfo):
    def utcoffset(self, dt):
        return datetime.timedelta(0)


each_protocol('tz-custom', datetime.datetime(2024, 1, 1, tzinfo=FixedTZ()))

for p in (0, 1):
    send('proto%d' % p, None, raw=pickle.dumps({'a': [1, 2]}, p))
send('toobig_pd', b'x' * (64 * 2**20 + 1))
v = 'bottom'
for i in range(1500):
    v = [v]
send('toodeep_pd', v)
