"""numpy 1.x arrays, dtypes and scalars of the dtypes rules/numpy.rules
allows, as real numpy (1.24 on Debian 12) pickles them at protocols 2-5.

    python3 make.py OUTDIR

writes OUTDIR/np1-p<PROTOCOL>-<what>.pkl, one pickle per file.  Nothing is
ever unpickled.  Protocol 5 keeps the array data in-band (no
buffer_callback); the out-of-band form is in ../numpy-unsupported.
"""

import os
import pickle
import sys

import numpy as np


def objects():
    """name -> object; every one made by numpy itself."""
    o = {}
    # arrays: dtypes, byte orders, memory orders, shapes
    o['arr-i4-2x3'] = np.arange(6, dtype='<i4').reshape(2, 3)
    o['arr-f8-big-endian'] = np.arange(4, dtype='>f8')
    o['arr-i2-big-endian-2d'] = np.arange(6, dtype='>i2').reshape(3, 2)
    o['arr-f8-fortran'] = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    o['arr-f8-0d'] = np.array(3.5)
    o['arr-f8-empty-0x3'] = np.zeros((0, 3))
    o['arr-i8-empty'] = np.array([], dtype='i8')
    o['arr-i8-strided'] = np.arange(10)[::2]
    o['arr-u2-permuted-3d'] = np.zeros((2, 3, 4), dtype='u2').transpose(1, 0, 2)
    o['arr-u2-3d'] = np.arange(24, dtype='u2').reshape(2, 3, 4)
    o['arr-bool'] = np.array([True, False, True])
    o['arr-i1'] = np.array([-1, 2], dtype='i1')
    o['arr-u1'] = np.array([1, 255], dtype='u1')
    o['arr-u4'] = np.array([1, 2], dtype='u4')
    o['arr-u8'] = np.array([1, 2], dtype='u8')
    o['arr-f2'] = np.array([0.5, 1.5], dtype='f2')
    o['arr-f4'] = np.array([0.5, 1.5], dtype='f4')
    o['arr-longdouble'] = np.array([0.5], dtype=np.longdouble)
    o['arr-c8'] = np.array([1 + 2j], dtype='c8')
    o['arr-c16'] = np.array([1 + 2j, 3 - 4j])
    o['arr-clongdouble'] = np.array([1 + 2j], dtype=np.clongdouble)
    o['arr-M8-ns'] = np.array(['2024-01-02T03:04:05', 'NaT'], dtype='M8[ns]')
    o['arr-M8-D'] = np.array(['2024-01-02'], dtype='M8[D]')
    o['arr-M8-5m'] = np.array(['2024-01-02T03:05'], dtype='M8[5m]')
    o['arr-M8-generic'] = np.array(['NaT'], dtype='M8')
    o['arr-m8-s'] = np.array([5, -3], dtype='m8[s]')
    # a unit multiple beyond the analyzer's small ints: num is shown as `int`
    o['arr-M8-5000s'] = np.array(['2024-01-02T03:05'], dtype='M8[5000s]')
    o['arr-m8-100000us'] = np.array([3], dtype='m8[100000us]')
    o['arr-f8-metadata'] = np.zeros(2, dtype=np.dtype('f8', metadata={'unit': 'm'}))
    o['arr-f8-readonly'] = np.arange(3.0)
    o['arr-f8-readonly'].flags.writeable = False
    o['arr-f8-1x1'] = np.ones((1, 1))
    # dtypes on their own
    o['dtype-f8'] = np.dtype('f8')
    o['dtype-i2-big-endian'] = np.dtype('>i2')
    o['dtype-bool'] = np.dtype('?')
    o['dtype-M8-us'] = np.dtype('M8[us]')
    o['dtype-m8-generic'] = np.dtype('m8')
    o['dtype-i1-metadata'] = np.dtype('i1', metadata={'enum': {'RED': 0, 'GREEN': 1}})
    # scalars
    o['scalar-float64'] = np.float64(1.5)
    o['scalar-float32'] = np.float32(-0.25)
    o['scalar-float16'] = np.float16(2.0)
    o['scalar-longdouble'] = np.longdouble(1.25)
    o['scalar-int32'] = np.int32(7)
    o['scalar-int64'] = np.int64(-7)
    o['scalar-uint8'] = np.uint8(200)
    o['scalar-bool'] = np.bool_(True)
    o['scalar-complex128'] = np.complex128(1 - 2j)
    o['scalar-complex64'] = np.complex64(0.5j)
    o['scalar-datetime64'] = np.datetime64('2024-01-02T03:04:05')
    o['scalar-datetime64-nat'] = np.datetime64('NaT')
    o['scalar-timedelta64'] = np.timedelta64(5, 's')
    # several in one message: the dtype is memoized and fetched again
    a = np.arange(3.0)
    o['mixed-container'] = {'x': a, 'y': a * 2, 'n': np.int64(3),
                            'list': [np.float32(1), np.arange(2, dtype='i4')],
                            't': np.array(['2024-01-01'], dtype='M8[D]')}
    return o


def main():
    out = sys.argv[1]
    for name, obj in objects().items():
        for proto in (2, 3, 4, 5):
            path = os.path.join(out, 'np1-p%d-%s.pkl' % (proto, name))
            with open(path, 'wb') as f:
                f.write(pickle.dumps(obj, protocol=proto))


if __name__ == '__main__':
    main()
