"""dtype states with a flags word numpy never writes for the dtype kinds
rules/numpy.rules allows: every one must be DENIED (rule 4202 pins the
flags to 0).  numpy's dtype.__setstate__ takes the flags from the pickle
unchecked, and some of these make numpy 1.24 crash or read memory it must
not (README.md).

    python3 make.py OUTDIR

writes, at protocols 2 and 4 (GLOBAL + _codecs.encode bytes, and
STACK_GLOBAL + BINBYTES):

  crash-<what>-p<P>.pkl        the reproducers README.md describes (checked
                               by hand to crash or leak with numpy 1.24);
  sweep-<kind>-<flag>-p<P>.pkl scalar(dtype(<kind>) with that flags word,
                               item-size bytes) for every dtype string rule
                               4201 allows and every flag bit numpy defines
                               (0x01 - 0x80, and 0x100 from numpy 2.x);
  array-<form>-<flag>-p<P>.pkl the same flags on the other ways a dtype
                               reaches numpy: _reconstruct + BUILD (numpy 1
                               and 2 names), _frombuffer (protocol-5 form,
                               written at 2 and 4 here), a version-4 state
                               with a metadata dict, a datetime state;
  value-<what>-p<P>.pkl        other flags values: the object dtype's own
                               (0x3f), all bits, -1 (numpy adds 128 to
                               -128..-1), True (read as 1), False, 4095,
                               4096 and 2**40 (beyond the values the
                               analyzer shows: `int`, never a literal).

Written by CPython's pickle.Pickler with reducer_override; nothing is ever
unpickled here.
"""

import io
import os
import pickle
import sys
import types

import numpy as np
from numpy.core.multiarray import _reconstruct, scalar
from numpy.core.numeric import _frombuffer

# numpy's dtype flags (ndarraytypes.h)
FLAGS = {
    'refcount': 0x01,        # NPY_ITEM_REFCOUNT / NPY_ITEM_HASOBJECT
    'listpickle': 0x02,      # NPY_LIST_PICKLE
    'ispointer': 0x04,       # NPY_ITEM_IS_POINTER
    'needsinit': 0x08,       # NPY_NEEDS_INIT
    'needspyapi': 0x10,      # NPY_NEEDS_PYAPI
    'usegetitem': 0x20,      # NPY_USE_GETITEM
    'usesetitem': 0x40,      # NPY_USE_SETITEM
    'alignedstruct': 0x80,   # NPY_ALIGNED_STRUCT
    'nottriviallycopyable': 0x100,  # NPY_NOT_TRIVIALLY_COPYABLE (numpy 2.x)
}
NPY_ITEM_REFCOUNT = FLAGS['refcount']
NPY_ITEM_IS_POINTER = FLAGS['ispointer']
NPY_USE_GETITEM = FLAGS['usegetitem']

# every dtype string rule 4201 allows, with its item size
KINDS = {'b1': 1, 'i1': 1, 'i2': 2, 'i4': 4, 'i8': 8, 'u1': 1, 'u2': 2,
         'u4': 4, 'u8': 8, 'f2': 2, 'f4': 4, 'f8': 8, 'f12': 12, 'f16': 16,
         'c8': 8, 'c16': 16, 'c24': 24, 'c32': 32, 'M8': 8, 'm8': 8}


class R:
    def __init__(self, *rv):
        self.rv = rv


class Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        return obj.rv if isinstance(obj, R) else NotImplemented


def standin(module, name):
    """numpy 2's name for a callable, pickled as `module name`; never called."""
    assert 'numpy._core' not in sys.modules, 'this is numpy 2'
    def f(*args, **kwargs):
        raise AssertionError('stand-in, never called')
    f.__module__ = module
    f.__qualname__ = f.__name__ = name
    mod = sys.modules.setdefault(module, types.ModuleType(module))
    setattr(mod, name, f)
    return f


RECONSTRUCT2 = standin('numpy._core.multiarray', '_reconstruct')
SCALAR2 = standin('numpy._core.multiarray', 'scalar')


def dtype(s, flags, endian=None, metadata=None):
    """dtype(s, False, True) with numpy's own state for s but these flags."""
    if endian is None:
        endian = '|' if KINDS[s] == 1 else '<'
    if s in ('M8', 'm8'):
        state = (4, endian, None, None, None, -1, -1, flags, ({}, (b'ns', 1, 1, 1)))
    elif metadata is not None:
        state = (4, endian, None, None, None, -1, -1, flags, metadata)
    else:
        state = (3, endian, None, None, None, -1, -1, flags)
    return R(np.dtype, (s, False, True), state)


def array(d, n, itemsize, rec=_reconstruct):
    return R(rec, (np.ndarray, (0,), b'b'), (1, (n,), d, False, b'\x41' * (n * itemsize)))


def cases():
    c = {}
    # ---- the reproducers of README.md
    # scalar() of a dtype flagged USE_GETITEM: numpy calls the type's getitem
    # with no array; segmentation fault inside pickle.loads
    c['crash-usegetitem-scalar-f16'] = R(scalar, (dtype('f16', NPY_USE_GETITEM), b'\0' * 16))
    c['crash-usegetitem-scalar-M8'] = R(scalar, (dtype('M8', NPY_USE_GETITEM), b'\0' * 8))
    # scalar() of a dtype flagged IS_POINTER reads the item from the address
    # of a C local: a heap address (f8), and 24 bytes of the C stack beyond
    # it (c32)
    c['crash-ispointer-scalar-f8'] = R(scalar, (dtype('f8', NPY_ITEM_IS_POINTER), b'\0' * 8))
    c['crash-ispointer-scalar-c32'] = R(scalar, (dtype('c32', NPY_ITEM_IS_POINTER), b'\0' * 32))
    # a float64 array flagged REFCOUNT: numpy treats its 8-byte items,
    # chosen by the pickle, as object pointers (np.sort(a) crashes)
    c['crash-refcount-array-f8'] = array(dtype('f8', NPY_ITEM_REFCOUNT), 4, 8)
    # ---- every allowed kind, every flag bit, through scalar()
    for kind, size in KINDS.items():
        for fname, bit in FLAGS.items():
            c['sweep-%s-%s' % (kind, fname)] = R(scalar, (dtype(kind, bit), b'\0' * size))
    # ---- the other forms a dtype state reaches numpy in
    for fname, bit in FLAGS.items():
        c['array-reconstruct-f8-%s' % fname] = array(dtype('f8', bit), 2, 8)
        c['array-reconstruct-i4-big-endian-%s' % fname] = array(dtype('i4', bit, endian='>'), 2, 4)
        c['array-reconstruct-M8-%s' % fname] = array(dtype('M8', bit), 2, 8)
        c['array-reconstruct2-f8-%s' % fname] = array(dtype('f8', bit), 2, 8, rec=RECONSTRUCT2)
        c['array-frombuffer-c16-%s' % fname] = R(_frombuffer, (b'\0' * 32, dtype('c16', bit), (2,), 'C'))
        c['array-metadata-f8-%s' % fname] = array(dtype('f8', bit, metadata={'unit': 'm'}), 2, 8)
        c['array-scalar2-m8-%s' % fname] = R(SCALAR2, (dtype('m8', bit), b'\0' * 8))
    # ---- other flags values
    for vname, v in (('object-flags-0x3f', 0x3f), ('all-bits-0xff', 0xff),
                     ('minus-1', -1), ('minus-128', -128), ('true', True), ('false', False),
                     ('4095', 4095), ('4096', 4096), ('2-pow-40', 1 << 40)):
        c['value-f8-%s' % vname] = R(scalar, (dtype('f8', v), b'\0' * 8))
        c['value-M8-%s' % vname] = R(scalar, (dtype('M8', v), b'\0' * 8))
        c['value-b1-%s' % vname] = array(dtype('b1', v), 1, 1)
    return c


def main():
    out = sys.argv[1]
    for name, obj in cases().items():
        for proto in (2, 4):
            f = io.BytesIO()
            Pickler(f, protocol=proto).dump(obj)
            with open(os.path.join(out, '%s-p%d.pkl' % (name, proto)), 'wb') as g:
                g.write(f.getvalue())


if __name__ == '__main__':
    main()
