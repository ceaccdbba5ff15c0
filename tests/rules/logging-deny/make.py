"""logging-deny: what logging.rules must deny.

record-*   real SocketHandler records whose `extra=` fields are not plain
           values: a datetime, a Decimal, bytes and a set (builtin calls
           at protocol 1), an object of the application's own class, and
           an object whose __reduce__ is a gadget
proto*     a record dict framed like SocketHandler's but pickled at
           protocol 2-5 by another producer (a PROTO opcode)
gadget-*   a len32 message holding a gadget instead of a record, at
           protocol 0 and 1 (so only the imports and calls deny it)
toobig     a real record whose pickle is one byte over the 16 MiB limit
toodeep    a real record whose extra field nests 150 levels deep
"""
import datetime
import decimal
import logging
import logging.handlers
import os
import pickle
import struct
import subprocess
import sys

out = sys.argv[1]
sys.setrecursionlimit(5000)


class Capture(logging.handlers.SocketHandler):
    def __init__(self):
        super().__init__('localhost', None)
        self.sent = []

    def send(self, s):
        self.sent.append(bytes(s))


def write(name, data):
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        f.write(data)


def record(name, msg='event', **extra):
    h = Capture()
    logger = logging.getLogger('deny.' + name)
    logger.propagate = False
    logger.addHandler(h)
    logger.warning(msg, extra=extra)
    logger.removeHandler(h)
    write(name, b''.join(h.sent))
    return h.sent[0]


class Order:
    def __init__(self):
        self.id, self.total = 7, 9.5


class Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


record('record-datetime', when=datetime.datetime(2024, 5, 1, 12, 0))
record('record-decimal', amount=decimal.Decimal('9.99'))
record('record-bytes', raw=b'\x00\x01')
record('record-set', ids={1, 2})
record('record-object', order=Order())
record('record-gadget', note=Reduce(os.system, ('id',)))
record('record-gadget-eval', note=Reduce(eval, ('1+1',)))

# The dict SocketHandler.makePickle builds, pickled at a higher protocol.
class Keep(logging.Handler):
    def emit(self, record):
        self.record = record


keep = Keep()
logger = logging.getLogger('deny.proto')
logger.propagate = False
logger.addHandler(keep)
logger.warning('user %s', 'bob', extra={'n': 1})
d = dict(keep.record.__dict__, msg=keep.record.getMessage(), args=None, exc_info=None)
d.pop('message', None)
for p in range(2, 6):
    s = pickle.dumps(d, p)
    write('proto%d' % p, struct.pack('>L', len(s)) + s)

for p in (0, 1):
    for name, g in (('system', Reduce(os.system, ('id',))),
                    ('eval', Reduce(eval, ('__import__("os")',))),
                    ('popen', Reduce(subprocess.Popen, (['true'],))),
                    ('getattr', Reduce(getattr, (Reduce(__import__, ('os',)), 'system')))):
        s = pickle.dumps({'name': 'x', 'msg': g}, p)
        write('gadget-%s_p%d' % (name, p), struct.pack('>L', len(s)) + s)

# A record whose pickle alone (without the 4-byte header) is one byte over
# 16 MiB: over the limit however the header is counted (logging-boundary
# tests the header).
LIMIT = 16 * 2**20
pad = 1000
for _ in range(5):
    sent = record('toobig', 'x' * pad)
    if len(sent) == 4 + LIMIT + 1:
        break
    pad += 4 + LIMIT + 1 - len(sent)
assert len(sent) == 4 + LIMIT + 1, len(sent)

v = 'bottom'
for i in range(150):
    v = [v]
record('toodeep', deep=v)
