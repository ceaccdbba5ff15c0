"""numpy 2.x pickles of the arrays, dtypes and scalars rules/numpy.rules
allows, RECONSTRUCTED: numpy 2 cannot be installed here (Debian 12 has
numpy 1.24, and there is no PyPI), so this producer emits what numpy 2's
__reduce__/__reduce_ex__ return, from numpy 2's source (README.md lists
the lines), through CPython's own C pickle.Pickler:

  - every value (dtype states, array data, scalar bytes, shapes) is what
    numpy 1.24 computes: numpy 2's array_reduce, arraydescr_reduce and
    gentype_reduce are the same code but for the module they import from;
  - the callables are pickled under numpy 2's names, numpy._core.multiarray
    ._reconstruct / .scalar, numpy._core.numeric._frombuffer and
    numpy._core._internal._convert_to_stringdtype_kwargs: stand-in
    functions registered under those names in sys.modules (never called);
  - the protocol-5 decision (in-band PickleBuffer or _reconstruct) follows
    numpy 2's array_reduce_ex / array_reduce_ex_picklebuffer, including
    order 'K' with axis_order from numpy 2.3 on;
  - numpy >= 2.4 writes None, not {}, as the metadata of a datetime64
    dtype without metadata;
  - StringDType (numpy >= 2.0) arrays and dtypes are built by hand from
    stringdtype__reduce__ and array_reduce (a list of str, as _getlist_pkl
    writes for a NPY_LIST_PICKLE dtype).

    python3 make.py OUTDIR

writes OUTDIR/<form>-p<PROTOCOL>-<what>.pkl, form np2.0 (numpy 2.0-2.2),
np2.3 (2.3: adds order 'K'; only the objects that differ from np2.0) and
np2.4 (2.4 and main: also None datetime metadata).  Nothing is ever
unpickled.
"""

import io
import os
import pickle
import sys
import types

import numpy as np


def standin(module, name):
    """A function pickle writes as `module name`; never called."""
    def f(*args, **kwargs):
        raise AssertionError('stand-in for %s.%s, never called' % (module, name))
    f.__module__ = module
    f.__qualname__ = f.__name__ = name
    mod = sys.modules.setdefault(module, types.ModuleType(module))
    setattr(mod, name, f)
    return f


assert 'numpy._core' not in sys.modules, 'this is numpy 2: use real pickles instead'
RECONSTRUCT = standin('numpy._core.multiarray', '_reconstruct')
SCALAR = standin('numpy._core.multiarray', 'scalar')
FROMBUFFER = standin('numpy._core.numeric', '_frombuffer')
STRINGDTYPE = standin('numpy._core._internal', '_convert_to_stringdtype_kwargs')

FORMS = {  # form: (order 'K' for transposed arrays, None datetime metadata)
    'np2.0': (False, False),
    'np2.3': (True, False),
    'np2.4': (True, True),
}


class StringDType:
    """numpy 2 StringDType(coerce=..., na_object=...), as it pickles."""
    NOVALUE = object()

    def __init__(self, coerce=True, na_object=NOVALUE):
        self.coerce, self.na_object = coerce, na_object


class StringArray:
    """numpy 2 ndarray of StringDType: shape and the items in C order."""
    def __init__(self, shape, items, dtype):
        self.shape, self.items, self.dtype = shape, items, dtype


def sorted_stride_perm(a):
    """PyArray_CreateSortedStridePerm: axes by |stride|, largest first,
    ties keep their order (a stable sort)."""
    return sorted(range(a.ndim), key=lambda i: -abs(a.strides[i]))


class Numpy2Pickler(pickle.Pickler):
    def __init__(self, f, protocol, form):
        super().__init__(f, protocol=protocol)
        self.protocol = protocol
        self.k_order, self.none_metadata = FORMS[form]

    def regular(self, a):
        # array_reduce: (_reconstruct, (type, (0,), b'b'), state)
        func, args, state = a.__reduce__()
        return (RECONSTRUCT, args, state)

    def array(self, a):
        # array_reduce_ex
        d = a.dtype
        if self.protocol < 5 or d.hasobject or type(a) is not np.ndarray or d.itemsize == 0:
            return self.regular(a)
        # array_reduce_ex_picklebuffer
        if a.flags.c_contiguous:
            order, t, shape, axes = 'C', a, a.shape, None
        elif a.flags.f_contiguous:
            order, t, shape, axes = 'F', a.T, a.shape, None
        else:
            if not self.k_order:   # numpy < 2.3: array_reduce_ex sent these to regular
                return self.regular(a)
            perm = sorted_stride_perm(a)
            t = a.transpose(perm)
            if not t.flags.c_contiguous:
                return self.regular(a)
            rev = [0] * a.ndim
            for i, p in enumerate(perm):
                rev[p] = i
            order, shape, axes = 'K', t.shape, tuple(rev)
        try:
            buf = pickle.PickleBuffer(t)
        except (BufferError, ValueError, TypeError):
            return self.regular(a)   # e.g. datetime64 refuses a buffer (gh-12745)
        if order == 'K':
            return (FROMBUFFER, (buf, d, shape, 'K', axes))
        return (FROMBUFFER, (buf, d, shape, order))

    def reducer_override(self, obj):
        if type(obj) is np.ndarray:
            return self.array(obj)
        if isinstance(obj, np.dtype):
            rv = obj.__reduce__()
            state = rv[2]
            if (self.none_metadata and obj.kind in 'Mm' and len(state) == 9
                    and state[8][0] == {}):
                rv = rv[:2] + (state[:8] + ((None, state[8][1]),),)
            return rv
        if isinstance(obj, np.generic):
            func, args = obj.__reduce__()
            return (SCALAR, args)
        if isinstance(obj, StringDType):
            if obj.na_object is StringDType.NOVALUE:
                return (STRINGDTYPE, (int(obj.coerce),))
            return (STRINGDTYPE, (int(obj.coerce), obj.na_object))
        if isinstance(obj, StringArray):
            return (RECONSTRUCT, (np.ndarray, (0,), b'b'),
                    (1, obj.shape, obj.dtype, False, list(obj.items)))
        return NotImplemented


def objects():
    o = {}
    o['arr-i4-2x3'] = np.arange(6, dtype='<i4').reshape(2, 3)
    o['arr-f8-big-endian'] = np.arange(4, dtype='>f8')
    o['arr-f8-fortran'] = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    o['arr-f8-0d'] = np.array(3.5)
    o['arr-f8-empty-0x3'] = np.zeros((0, 3))
    o['arr-i8-strided'] = np.arange(10)[::2]
    o['arr-u2-permuted-3d'] = np.arange(24, dtype='u2').reshape(2, 3, 4).transpose(1, 0, 2)
    o['arr-f4-transposed-3d'] = np.zeros((2, 3, 4), dtype='f4').transpose(2, 0, 1)
    o['arr-bool'] = np.array([True, False, True])
    o['arr-c16'] = np.array([1 + 2j, 3 - 4j])
    o['arr-longdouble'] = np.array([0.5], dtype=np.longdouble)
    o['arr-M8-ns'] = np.array(['2024-01-02T03:04:05', 'NaT'], dtype='M8[ns]')
    o['arr-m8-s'] = np.array([5, -3], dtype='m8[s]')
    o['arr-M8-metadata'] = np.zeros(1, dtype=np.dtype('M8[D]', metadata={'tz': 'UTC'}))
    o['arr-f8-metadata'] = np.zeros(2, dtype=np.dtype('f8', metadata={'unit': 'm'}))
    ro = np.arange(3.0)
    ro.flags.writeable = False
    o['arr-f8-readonly'] = ro
    o['dtype-f8'] = np.dtype('f8')
    o['dtype-i2-big-endian'] = np.dtype('>i2')
    o['dtype-M8-us'] = np.dtype('M8[us]')
    o['scalar-float64'] = np.float64(1.5)
    o['scalar-int32'] = np.int32(7)
    o['scalar-bool'] = np.bool_(True)
    o['scalar-complex128'] = np.complex128(1 - 2j)
    o['scalar-datetime64'] = np.datetime64('2024-01-02T03:04:05')
    o['scalar-timedelta64'] = np.timedelta64(5, 's')
    sd = StringDType()
    o['stringdtype'] = sd
    o['stringdtype-na-nan'] = StringDType(na_object=float('nan'))
    o['stringdtype-na-none'] = StringDType(na_object=None)
    o['stringdtype-na-str'] = StringDType(coerce=False, na_object='<NA>')
    o['arr-stringdtype'] = StringArray((3,), ['a', 'bc', 'd\u00e9f'], sd)
    o['arr-stringdtype-2d-na'] = StringArray((2, 2), ['a', None, '', 'x' * 100], StringDType(na_object=None))
    a = np.arange(3.0)
    o['mixed-container'] = {'x': a, 'y': a * 2, 'n': np.int64(3), 's': StringArray((1,), ['z'], sd)}
    return o


# np2.3 differs from np2.0 only where order 'K' applies; np2.4 from np2.3
# only in datetime metadata.  np2.0 and np2.4 get everything.
NP23 = ('arr-u2-permuted-3d', 'arr-f4-transposed-3d', 'arr-i8-strided', 'arr-M8-ns')


def main():
    out = sys.argv[1]
    for form in FORMS:
        for name, obj in objects().items():
            if form == 'np2.3' and name not in NP23:
                continue
            for proto in (2, 3, 4, 5):
                f = io.BytesIO()
                Numpy2Pickler(f, proto, form).dump(obj)
                with open(os.path.join(out, '%s-p%d-%s.pkl' % (form, proto, name)), 'wb') as g:
                    g.write(f.getvalue())


if __name__ == '__main__':
    main()
