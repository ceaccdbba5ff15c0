"""data-only: every pure-data value at protocols 0-5 is allowed.

Writes <name>_p<protocol>.pkl, one pickle.dumps(value, protocol) each (the
C pickler), plus a few raw streams of several messages and pickles by the
pure-Python pickler (pickle._dumps). Nothing is ever unpickled.
"""
import os
import pickle
import sys

out = sys.argv[1]
sys.setrecursionlimit(10000)


def write(name, *chunks):
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        for c in chunks:
            f.write(c)


def each_protocol(name, value):
    for p in range(6):
        write('%s_p%d' % (name, p), pickle.dumps(value, protocol=p))


def recursive_list():
    x = []
    x.append(x)
    x.append([x, (x,)])
    return x


def recursive_dict():
    d = {'name': 'root', 'children': []}
    d['self'] = d
    d['children'].append({'parent': d})
    return d


def deep(n):
    v = 'bottom'
    for i in range(n):
        v = [v] if i % 3 else ({'k': v} if i % 2 else (v,))
    return v


shared = [1, 'two']
PLAIN = {
    'none': None,
    'bools': [True, False],
    'ints': [0, 1, -1, 127, 128, 255, 256, -256, 65535, 65536, 2**31 - 1,
             -2**31, 2**31, -2**31 - 1, 2**63 - 1, 2**63, -2**63 - 1, 2**64],
    'bigints': [2**1000, -(3**2000), 10**4299],    # text at protocol 0-1: < 4300 digits
    'floats': [0.0, -0.0, 0.1, 1.5, -2.75, 1e308, 5e-324, 2.0**-1074 * 3,
               float('inf'), float('-inf'), float('nan'), 1e16, 123456789.123456789],
    'strs': ['', 'ascii', 'héllo wörld', 'Ελληνικά', '日本語のテキスト', '\U0001F600 emoji',
             'lone \udc80 and \ud800 surrogates', 'a\nb\\c\r\t"\'', '\x00\x7f\x80\xff',
             '\u2028\u2029', 'x' * 255, 'y' * 256, 'z' * 70000, '\\u0041 not an escape'],
    'tuples': [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), ((),), (((1,),),)],
    'lists': [[], [1], list(range(1001)), [[]], [[], [[]]]],
    'dicts': [{}, {'a': 1}, {i: str(i) for i in range(2500)},
              {1.5: None, -3: 'x', None: 1, True: 2, (1, 'a'): [], (): (), '': {}}],
    'nested': {'users': [{'id': i, 'name': 'user%d' % i, 'tags': ('a', 'b'),
                          'score': i / 7, 'active': i % 2 == 0, 'parent': None}
                         for i in range(50)],
               'matrix': [[float(i * j) for j in range(10)] for i in range(10)]},
    'shared': [shared, shared, {'k': shared}, (shared, shared)],
    'reclist': recursive_list(),
    'recdict': recursive_dict(),
    'deep600': deep(600),
    'intkeys': {(i, -i): {i: [i]} for i in range(300)},
}
for name, value in PLAIN.items():
    each_protocol('plain-' + name, value)
# Beyond 4300 digits an int has no text form (protocols 0-1 refuse it).
for p in range(2, 6):
    write('plain-hugeint_p%d' % p, pickle.dumps([2**100000, -(7**50000)], p))

# Values CPython writes as builtin calls at low protocols.
each_protocol('bytes', [b'\x00\xff', bytes(range(256)), b'x' * 300, b'\\\n'])
each_protocol('emptybytes', b'')
each_protocol('bytearray', bytearray(b'\x00\x01\xfe\xff' * 100))
each_protocol('emptybytearray', bytearray())
each_protocol('set', {1, 'a', (1, 2), None, 2.5})
each_protocol('set-empty', set())
each_protocol('set-large', set(range(2500)))
each_protocol('set-nested', [{1}, {2, 3}, {'x': {4}}])
each_protocol('frozenset', frozenset({1, 'a', (1, 2)}))
each_protocol('frozenset-empty', frozenset())
each_protocol('frozenset-large', frozenset(range(2500)))
each_protocol('byteskey', {b'key': 1, b'': 2, 'str': b'value'})
each_protocol('fskey', {frozenset({1, 2}): 'a', frozenset(): 'b'})
each_protocol('bytesset', [{b'a', b'b'}, frozenset({b'c'})])
each_protocol('fsset', {frozenset({1}), frozenset({2, 3})})
everything = {
    'n': None, 'b': True, 'i': -12345678901234567890, 'f': 0.5, 's': 'ñ\udc80',
    'by': b'\x00\xff', 'ba': bytearray(b'ab'), 't': (1, (2,)), 'l': [1, [2]],
    'st': {1, 2}, 'fs': frozenset({3}), 'd': {'x': {'y': [b'z']}},
}
everything['self'] = everything
each_protocol('mixed', everything)

# Raw streams: several messages back to back, as a client writes them to a
# socket read by pickle.load() in a loop.
for p in range(6):
    msgs = [pickle.dumps(v, p) for v in
            (None, {'seq': 1, 'body': 'ok'}, [1.5, 'x' * 300, (1, 2)],
             {'seq': 2, 'items': list(range(100))}, 'last')]
    write('plain-stream_p%d' % p, *msgs)

# The pure-Python pickler frames and memoizes a little differently.
for p in range(6):
    write('plain-pypickler_p%d' % p, pickle._dumps(PLAIN['nested'], p))
    write('mixed-pypickler_p%d' % p, pickle._dumps(everything, p))
