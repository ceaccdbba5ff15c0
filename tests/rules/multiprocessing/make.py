"""multiprocessing: what multiprocessing.connection applications send.

Each file is one connection's byte stream as Connection.send() writes it:
a Connection whose _send() keeps the bytes instead of writing them to the
socket, so the framing (a signed 4-byte big-endian length, header and
payload written separately above 16 KiB) and the pickling
(ForkingPickler.dumps at the default protocol) are the real ones.

<value>_pd.pkl    conn.send(value): the default protocol
<value>_p2..p5    conn.send_bytes(ForkingPickler.dumps(value, p)), which is
                  what send() does, at an explicit protocol
"""
import collections
import datetime
import decimal
import fractions
import multiprocessing.connection as mpc
import os
import sys
import uuid
from multiprocessing.reduction import ForkingPickler

out = sys.argv[1]


class Recorder(mpc.Connection):
    """A client Connection that records what it would write."""

    def __init__(self):
        super().__init__(os.open(os.devnull, os.O_RDWR))
        self.sent = bytearray()

    def _send(self, buf, write=None):
        self.sent += bytes(buf)


def connection(name, messages, protocol=None):
    conn = Recorder()
    for m in messages:
        if protocol is None:
            conn.send(m)
        else:
            conn.send_bytes(ForkingPickler.dumps(m, protocol))
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        f.write(conn.sent)
    conn.close()


def each_protocol(name, *messages):
    connection(name + '_pd', messages)
    for p in range(2, 6):
        connection('%s_p%d' % (name, p), messages, p)


UTC = datetime.timezone.utc
CET = datetime.timezone(datetime.timedelta(hours=1), 'CET')
WEST = datetime.timezone(datetime.timedelta(hours=-3, minutes=-30))

# Plain data (nothing imported at protocol 4-5).
each_protocol('scalars', None, True, False, 0, -1, 2**100, 1.5, float('nan'),
              'text', 'ünïcödé \U0001F600', 'lone \udc80')
each_protocol('containers', (), (1, 'a'), [1, [2, [3]]], {'k': {'n': None}},
              {1, 2, 3}, frozenset({'x'}), {'deep': [({'a': (1,)},)]})
each_protocol('bytes', b'\x00\xff' * 10, [b'a', b'b'])
each_protocol('emptybytes', b'')
each_protocol('bytearray', bytearray(b'\x00\x01\x02'), bytearray())
each_protocol('sets', {1, 'a'}, set(), frozenset({(1, 2)}), frozenset())
# Other builtins.
each_protocol('complex', 1 + 2j, -0.5j, complex(float('inf'), 0))
each_protocol('range', range(10), range(-5, 100, 7), range(0))
each_protocol('slice', slice(1, 10, 2), slice(None), slice(None, -1),
              (slice(0, 5), Ellipsis, 3))
each_protocol('ellipsis', Ellipsis)
# datetime.
each_protocol('date', datetime.date(2024, 2, 29), datetime.date.min, datetime.date.max)
each_protocol('time', datetime.time(13, 37, 0, 123456), datetime.time(1, 2, tzinfo=UTC),
              datetime.time(23, 59, 59, tzinfo=CET), datetime.time(0, 0, fold=1))
each_protocol('datetime', datetime.datetime(2024, 5, 1, 12, 30, 15, 999),
              datetime.datetime(2024, 5, 1, 12, tzinfo=UTC),
              datetime.datetime(1999, 12, 31, 23, 59, tzinfo=CET),
              datetime.datetime(2021, 11, 7, 1, 30, fold=1, tzinfo=WEST),
              datetime.datetime.min, datetime.datetime.max)
each_protocol('timedelta', datetime.timedelta(days=-1, seconds=5, microseconds=7),
              datetime.timedelta(0), datetime.timedelta.max)
each_protocol('timezone', UTC, CET, WEST,
              datetime.timezone(datetime.timedelta(hours=23, minutes=59)))
# Numbers.
each_protocol('decimal', decimal.Decimal('1.5'), decimal.Decimal('-0.00'),
              decimal.Decimal('NaN'), decimal.Decimal('-Infinity'),
              decimal.Decimal('1E+999999'), decimal.Decimal(2**200))
each_protocol('fraction', fractions.Fraction(1, 3), fractions.Fraction(-7, 2),
              fractions.Fraction(2**100, 3**50))
# uuid.
each_protocol('uuid', uuid.UUID(int=0), uuid.UUID('12345678-1234-5678-1234-567812345678'),
              uuid.uuid4(), uuid.uuid1(), uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org'))
# collections.
each_protocol('ordereddict', collections.OrderedDict(),
              collections.OrderedDict([('b', 1), ('a', [2]), (3, None)]))
each_protocol('deque', collections.deque(), collections.deque([1, 'x', (2,)]),
              collections.deque(range(2000), maxlen=5000), collections.deque([1], maxlen=0))
each_protocol('counter', collections.Counter(), collections.Counter('mississippi'))
factories = [None, list, dict, set, int, float, str]
each_protocol('defaultdict', *[collections.defaultdict(f, {'k': f() if f else 0})
                               for f in factories])
# Allowed values as dict keys (hashed by the unpickler).
KEYS = {
    datetime.date(2024, 1, 1): 'date', datetime.time(12): 'time',
    datetime.datetime(2024, 1, 1, tzinfo=UTC): 'datetime',
    datetime.timedelta(1): 'timedelta', CET: 'timezone',
    decimal.Decimal('1.5'): 'decimal', fractions.Fraction(1, 3): 'fraction',
    uuid.UUID(int=1): 'uuid', 3 + 4j: 'complex', range(3): 'range',
    frozenset({1}): 'frozenset', b'raw': 'bytes', b'': 'emptybytes',
}
each_protocol('keys', KEYS, set(KEYS) - {b'', b'raw'} | {(1, 2)})
# A realistic work item and its result, and a whole session.
job = {
    'id': uuid.uuid4(), 'submitted': datetime.datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
    'deadline': datetime.timedelta(hours=2), 'amount': decimal.Decimal('1234.50'),
    'ratio': fractions.Fraction(3, 8), 'queue': collections.deque(['a', 'b']),
    'params': collections.OrderedDict(alpha=0.5, beta=[1, 2]),
    'index': (slice(0, 10), Ellipsis), 'window': range(0, 100, 10),
    'tags': {'urgent', 'batch'}, 'payload': b'\x00' * 64, 'seen': collections.Counter('aab'),
    'groups': collections.defaultdict(list, {'x': [1]}),
}
each_protocol('job', job, {'job': job['id'], 'status': 'done', 'result': [1.5, 2 + 0j]})
connection('session', [('hello', 1)] + [dict(job, n=i) for i in range(200)] + ['bye'])
