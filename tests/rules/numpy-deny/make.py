"""Pickles rules/numpy.rules must deny: numpy entry points that are never
allowed, numpy's own reduce callables called with other argument shapes,
the dtype states that corrupt memory (README.md), and gadgets inside
numpy structures.

    python3 make.py OUTDIR

writes OUTDIR/<what>-p<PROTOCOL>.pkl at protocols 2 and 4 (GLOBAL and
STACK_GLOBAL names, _codecs.encode bytes and BINBYTES).  They are written
by CPython's own pickle.Pickler: reducer_override returns the reduce tuple
an attacker chooses, so every opcode is what CPython writes for it.
Nothing is ever unpickled.
"""

import codecs
import io
import os
import pickle
import sys
import types

import numpy as np
import numpy.ctypeslib
import numpy.f2py
import numpy.lib.format
import numpy.testing._private.utils
from numpy.core.multiarray import _reconstruct, scalar
from numpy.core.numeric import _frombuffer

OUT = sys.argv[1]


class R:
    """Pickled as the reduce tuple rv."""
    def __init__(self, *rv):
        self.rv = rv


class Gadget:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


_standins = {}


def fake(module, qualname):
    """A stand-in for a name this numpy does not have (numpy 2 names,
    numpy.distutils), pickled as `module qualname`.  Never called."""
    if (module, qualname) not in _standins:
        assert module not in sys.modules or module.startswith('numpy._core'), module
        def standin(*args, **kwargs):
            raise AssertionError('stand-in, never called')
        standin.__module__ = module
        standin.__qualname__ = standin.__name__ = qualname
        mod = sys.modules.setdefault(module, types.ModuleType(module))
        setattr(mod, qualname, standin)
        _standins[module, qualname] = standin
    return _standins[module, qualname]


class Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, R):
            return obj.rv
        return NotImplemented


def dumps(obj, proto):
    f = io.BytesIO()
    Pickler(f, protocol=proto).dump(obj)
    return f.getvalue()


def dt(s, state, copy=True):
    """numpy.dtype(s, False, copy) with BUILD state."""
    return R(np.dtype, (s, False, copy), state)


def plain(s, endian='<'):
    return dt(s, (3, endian, None, None, None, -1, -1, 0))


def arr(shape, dtype, data, cls=np.ndarray, dummy=b'b', version=1):
    """_reconstruct(cls, (0,), dummy) with BUILD (1, shape, dtype, False, data)."""
    return R(_reconstruct, (cls, (0,), dummy), (version, shape, dtype, False, data))


def cases():
    c = {}
    # ---- never-allowed numpy entry points (explicit deny rules)
    c['load'] = R(np.load, ('/tmp/x.npy', None, True))
    c['lib-format-read-array'] = R(numpy.lib.format.read_array, ('/tmp/x.npy', True))
    c['testing-runstring'] = R(numpy.testing._private.utils.runstring,
                               ("__import__('os').system('id')", {}))
    c['ctypeslib-load-library'] = R(numpy.ctypeslib.load_library, ('libc.so.6', '/lib'))
    c['f2py-compile'] = R(numpy.f2py.compile, ('subroutine f\nend\n',))
    c['distutils-exec-command'] = R(fake('numpy.distutils.exec_command', 'exec_command'), ('id',))
    c['frombuffer-object'] = R(np.frombuffer, (b'A' * 8, np.dtype('O')))
    c['fromfile'] = R(np.fromfile, ('/etc/passwd', np.dtype('u1')))
    c['memmap'] = R(np.memmap, ('/etc/passwd',))
    # ---- _reconstruct with other shapes
    c['reconstruct-matrix'] = arr((1, 1), plain('f8'), b'\0' * 8, cls=np.matrix)
    c['reconstruct-maskedarray'] = arr((1,), plain('f8'), b'\0' * 8, cls=np.ma.MaskedArray)
    c['reconstruct-dtype-class'] = R(_reconstruct, (np.dtype, (0,), b'b'))
    c['reconstruct-dummy-dtype-object'] = R(_reconstruct, (np.ndarray, (0,), plain('f8')))
    c['reconstruct-dummy-str'] = R(_reconstruct, (np.ndarray, (0,), 'b'))
    c['reconstruct-gadget-dummy'] = R(_reconstruct, (np.ndarray, (0,), Gadget()))
    c['reconstruct-two-args'] = R(_reconstruct, (np.ndarray, (0,)))
    c['ndarray-state-list-f8'] = arr((1,), plain('f8'), [1.0])
    c['ndarray-state-dtype-str'] = arr((1,), 'f8', b'\0' * 8)
    c['ndarray-state-short'] = R(_reconstruct, (np.ndarray, (0,), b'b'), (1, (1,), plain('f8'), False))
    # ---- numpy.dtype with an object, or a str this policy does not allow
    c['dtype-arg-class'] = R(np.dtype, (np.ndarray, False, True))
    c['dtype-arg-dict'] = R(np.dtype, ({'names': ['a'], 'formats': ['f8']}, False, True))
    c['dtype-arg-array'] = R(np.dtype, (arr((1,), plain('f8'), b'\0' * 8), False, True))
    c['dtype-arg-gadget'] = R(np.dtype, (Gadget(), False, True))
    c['dtype-one-arg'] = R(np.dtype, ('f8',))
    c['dtype-object'] = np.dtype('O')               # numpy's own pickle of dtype('O')
    c['dtype-str-U'] = np.dtype('U5')
    c['dtype-bytes-S'] = np.dtype('S3')
    c['dtype-void'] = np.dtype('V4')
    c['dtype-structured'] = np.dtype([('x', '<f4'), ('y', '<i8')])
    # ---- the memory-corrupting dtype states of README.md
    # scalar(dtype('O8') with flags 0, b'AAAAAAAA'): segfault inside pickle.loads
    c['crash-object-scalar'] = R(scalar, (dt('O8', (3, '|', None, None, None, -1, -1, 0)), b'A' * 8))
    # object array whose data is raw bytes: fake PyObject* on use
    c['crash-object-array'] = arr((1,), dt('O8', (3, '|', None, None, None, -1, -1, 0)), b'A' * 8)
    # field offset 1 MiB past an 8-byte item: out-of-bounds read/write
    c['crash-field-offset'] = arr((1,), dt('V8', (3, '|', None, ('a',), {'a': (plain('f8'), 1 << 20)}, 8, 1, 16)), b'\0' * 8)
    # the same fields on an allowed dtype string: the BUILD state denies it
    c['crash-field-offset-f8'] = arr((1,), dt('f8', (3, '|', None, ('a',), {'a': (plain('f8'), 1 << 20)}, 8, 1, 16)), b'\0' * 8)
    # a subarray of 100000 float64 in an 8-byte item
    c['crash-subarray'] = arr((1,), dt('V8', (3, '|', (plain('f8'), (100000,)), None, None, 8, 1, 0)), b'\0' * 8)
    c['crash-subarray-f8'] = arr((1,), dt('f8', (3, '<', (plain('f8'), (100000,)), None, None, 8, 1, 0)), b'\0' * 8)
    # a field entry that is not a dtype
    c['crash-field-not-dtype'] = arr((1,), dt('V8', (3, '|', None, ('a',), {'a': ('not a dtype', 0)}, 8, 1, 16)), b'\0' * 8)
    # ---- dtype states of other shapes
    c['dtype-state-endian-bytes'] = dt('f8', (3, b'<', None, None, None, -1, -1, 0))
    c['dtype-state-old-5-tuple'] = dt('f8', ('<', None, None, -1, -1))
    c['dtype-state-datetime-str-unit'] = dt('M8', (4, '<', None, None, None, -1, -1, 0, ({}, ('ns', 1, 1, 1))))
    c['dtype-state-metadata-gadget'] = dt('f8', (4, '<', None, None, None, -1, -1, 0, Gadget()))
    # ---- values numpy never writes where it writes a constant (literals in
    # rules 4201, 4202, 4211-4214, 4241; the flags are in ../numpy-flags)
    c['dtype-state-version-2'] = dt('f8', (2, '<', None, None, None, -1, -1, 0))
    c['dtype-state-version-5'] = dt('f8', (5, '<', None, None, None, -1, -1, 0))
    c['dtype-state-version-true'] = dt('f8', (True, '<', None, None, None, -1, -1, 0))
    c['dtype-state-version-4-8-items'] = dt('f8', (4, '<', None, None, None, -1, -1, 0))
    c['dtype-state-version-3-9-items'] = dt('f8', (3, '<', None, None, None, -1, -1, 0, {'a': 1}))
    c['dtype-state-elsize-8'] = dt('f8', (3, '<', None, None, None, 8, 8, 0))
    c['dtype-state-alignment-1'] = dt('f8', (3, '<', None, None, None, -1, 1, 0))
    c['dtype-state-datetime-den-2'] = dt('M8', (4, '<', None, None, None, -1, -1, 0, ({}, (b'ns', 1, 2, 1))))
    c['dtype-state-datetime-event-0'] = dt('M8', (4, '<', None, None, None, -1, -1, 0, ({}, (b'ns', 1, 1, 0))))
    c['dtype-state-datetime-3-tuple'] = dt('M8', (4, '<', None, None, None, -1, -1, 0, ({}, (b'ns', 1, 1))))
    c['dtype-args-align-true'] = R(np.dtype, ('f8', True, True), (3, '<', None, None, None, -1, -1, 0))
    c['dtype-args-copy-false'] = dt('f8', (3, '<', None, None, None, -1, -1, 0), copy=False)
    c['dtype-args-ints'] = R(np.dtype, ('f8', 0, 1), (3, '<', None, None, None, -1, -1, 0))
    c['reconstruct-shape-1'] = R(_reconstruct, (np.ndarray, (1,), b'b'), (1, (1,), plain('f8'), False, b'\0' * 8))
    c['reconstruct-shape-empty'] = R(_reconstruct, (np.ndarray, (), b'b'), (1, (1,), plain('f8'), False, b'\0' * 8))
    c['reconstruct-shape-false'] = R(_reconstruct, (np.ndarray, (False,), b'b'), (1, (1,), plain('f8'), False, b'\0' * 8))
    c['reconstruct-shape-huge'] = R(_reconstruct, (np.ndarray, (10 ** 9,), b'b'), (1, (1,), plain('f8'), False, b'\0' * 8))
    c['ndarray-state-version-2'] = arr((1,), plain('f8'), b'\0' * 8, version=2)
    c['ndarray-state-version-true'] = arr((1,), plain('f8'), b'\0' * 8, version=True)
    # ---- scalar with other shapes
    c['scalar-one-arg'] = R(scalar, (plain('f8'),))              # numpy issue #28316
    c['scalar-list'] = R(scalar, (plain('f8'), [1.0]))
    c['scalar-array'] = R(scalar, (plain('f8'), arr((1,), plain('f8'), b'\0' * 8)))
    c['scalar-dtype-str'] = R(scalar, ('f8', b'\0' * 8))
    c['scalar-gadget'] = R(scalar, (plain('f8'), Gadget()))
    # ---- _frombuffer with other shapes
    c['frombuffer-dtype-str'] = R(_frombuffer, (b'\0' * 8, 'f8', (1,), 'C'))
    c['frombuffer-dtype-class'] = R(_frombuffer, (b'\0' * 8, np.dtype, (1,), 'C'))
    c['frombuffer-object-dtype'] = R(_frombuffer, (b'\0' * 8, np.dtype('O'), (1,), 'C'))
    c['frombuffer-order-x'] = R(_frombuffer, (b'\0' * 8, plain('f8'), (1,), 'X'))
    c['frombuffer-order-k-numpy1'] = R(_frombuffer, (b'\0' * 8, plain('f8'), (1,), 'K', (0,)))
    c['frombuffer-three-args'] = R(_frombuffer, (b'\0' * 8, plain('f8'), (1,)))
    c['frombuffer-list'] = R(_frombuffer, ([0.0], plain('f8'), (1,), 'C'))
    c['frombuffer-shape-gadget'] = R(_frombuffer, (b'\0' * 8, plain('f8'), Gadget(), 'C'))
    # ---- numpy 2 names with other shapes
    conv = fake('numpy._core._internal', '_convert_to_stringdtype_kwargs')
    rec2 = fake('numpy._core.multiarray', '_reconstruct')
    fb2 = fake('numpy._core.numeric', '_frombuffer')
    c['frombuffer2-axis-order-gadget'] = R(fb2, (b'\0' * 8, plain('f8'), (1,), 'K', Gadget()))
    c['frombuffer2-order-k-no-axes'] = R(fb2, (b'\0' * 8, plain('f8'), (1,), 'K', None))
    c['reconstruct2-matrix'] = R(rec2, (np.matrix, (0,), b'b'), (1, (1, 1), plain('f8'), False, b'\0' * 8))
    c['stringdtype-na-gadget'] = R(conv, (1, Gadget()))
    c['stringdtype-na-array'] = R(conv, (1, arr((1,), plain('f8'), b'\0' * 8)))
    c['stringdtype-coerce-2'] = R(conv, (2,))
    c['stringdtype-coerce-true'] = R(conv, (True, None))
    c['stringdtype-coerce-huge'] = R(conv, (1 << 40,))
    c['reconstruct2-state-version-2'] = R(rec2, (np.ndarray, (0,), b'b'), (2, (1,), plain('f8'), False, b'\0' * 8))
    c['reconstruct2-shape-1'] = R(rec2, (np.ndarray, (1,), b'b'), (1, (1,), plain('f8'), False, b'\0' * 8))
    c['stringdtype-array-bytes'] = R(rec2, (np.ndarray, (0,), b'b'), (1, (1,), R(conv, (1,)), False, b'\0' * 16))
    # ---- _codecs.encode / bytes beyond protocol 2's use
    c['codecs-other-encoding'] = R(codecs.encode, ('x', 'uu_codec'))
    c['bytes-huge'] = R(bytes, (10 ** 10,))
    # ---- gadgets inside numpy structures: numpy's part is allowed, the gadget is not
    c['gadget-in-object-array'] = np.array([Gadget(), 1], dtype=object)
    c['gadget-in-dtype-metadata'] = np.zeros(2, dtype=np.dtype('f8', metadata={'g': Gadget()}))
    c['gadget-in-stringdtype-list'] = R(rec2, (np.ndarray, (0,), b'b'), (1, (2,), R(conv, (1,)), False, ['ok', Gadget()]))
    return c


def main():
    for name, obj in cases().items():
        for proto in (2, 4):
            with open(os.path.join(OUT, '%s-p%d.pkl' % (name, proto)), 'wb') as f:
                f.write(dumps(obj, proto))


if __name__ == '__main__':
    main()
