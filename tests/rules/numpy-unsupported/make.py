"""Real numpy 1.24 output that rules/numpy.rules denies by design (see the
header of rules/numpy.rules and ../numpy-deny/README.md):

  dtypes whose unpickling numpy does not check (object, str, bytes, void,
  structured, subarray, record), ndarray subclasses (matrix, masked array,
  recarray), and protocol-5 out-of-band buffers (NEXT_BUFFER, and
  READONLY_BUFFER for a read-only array).

    python3 make.py OUTDIR

writes OUTDIR/unsup-p<PROTOCOL>-<what>.pkl (protocols 2-5, in-band) and
OUTDIR/oob-p5-<what>.pkl (protocol 5 with a buffer_callback that keeps the
buffers out of band).  Nothing is ever unpickled.
"""

import os
import pickle
import sys

import numpy as np


def objects():
    o = {}
    o['arr-object'] = np.array([1, 'two', None, 3.5], dtype=object)
    o['arr-str-U5'] = np.array(['ab', 'cdefg'])
    o['arr-bytes-S3'] = np.array([b'ab', b'cde'])
    o['arr-void-V4'] = np.zeros(2, dtype='V4')
    o['arr-structured'] = np.array([(1.5, 2, 'x')], dtype=[('a', '<f8'), ('b', '>i4'), ('c', 'U3')])
    o['arr-structured-aligned'] = np.zeros(2, dtype=np.dtype([('a', 'u1'), ('b', 'f8')], align=True))
    o['arr-structured-titles'] = np.zeros(1, dtype=np.dtype({'names': ['a'], 'formats': ['i4'], 'titles': ['A title']}))
    o['arr-subarray-field'] = np.zeros(2, dtype=[('pos', 'f8', (3,)), ('id', 'i4')])
    o['arr-nested-structured'] = np.zeros(1, dtype=[('inner', [('x', 'i2'), ('y', 'i2')]), ('z', 'f4')])
    o['arr-structured-object-field'] = np.array([(1, 'x')], dtype=[('a', 'i4'), ('b', 'O')])
    o['dtype-subarray'] = np.dtype(('i4', (2, 2)))
    o['dtype-structured'] = np.dtype('i4,f8')
    o['scalar-str'] = np.str_('hello')
    o['scalar-bytes'] = np.bytes_(b'hi')
    o['scalar-void'] = np.array([(1, 2.0)], dtype='i4,f8')[0]
    o['scalar-void-object-field'] = np.array([(1, 'x')], dtype=[('a', 'i4'), ('b', 'O')])[0]
    o['recarray'] = np.rec.array([(1, 2.0)], dtype=[('a', 'i4'), ('b', 'f8')])
    o['record-dtype-array'] = np.rec.array([(1, 2.0)], dtype=[('a', 'i4'), ('b', 'f8')]).view(np.ndarray)
    o['matrix'] = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    o['masked-array'] = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    return o


def main():
    out = sys.argv[1]
    for name, obj in objects().items():
        for proto in (2, 3, 4, 5):
            with open(os.path.join(out, 'unsup-p%d-%s.pkl' % (proto, name)), 'wb') as f:
                f.write(pickle.dumps(obj, protocol=proto))
    ro = np.arange(4.0)
    ro.flags.writeable = False
    oob = {'f8': np.arange(4.0), 'f8-fortran': np.asfortranarray(np.ones((2, 3))),
           'f8-readonly': ro, 'i4-in-dict': {'a': np.arange(3, dtype='i4')}}
    for name, obj in oob.items():
        buffers = []
        data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        assert buffers, name                    # the data really went out of band
        with open(os.path.join(out, 'oob-p5-%s.pkl' % name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
