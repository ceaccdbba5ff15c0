"""multiprocessing-large: big but legitimate Connection.send messages pass
multiprocessing.rules' limits (64 MiB; the counted limits scale with it).

tuples   300,000 distinct (int, str) tuples: 600,000 memo entries
dates    300,000 (int, str, datetime.date) tuples: 300,000 allowed calls
         of datetime.date (600,000 at protocol 2, each date's bytes being
         a _codecs.encode call), every one decided by the rules
bytes    one 40 MiB bytes payload (default protocol)
"""
import datetime
import multiprocessing.connection as mpc
import os
import sys
from multiprocessing.reduction import ForkingPickler

out = sys.argv[1]


class Recorder(mpc.Connection):
    """A client Connection that records what it would write."""

    def __init__(self):
        super().__init__(os.open(os.devnull, os.O_RDWR))
        self.sent = bytearray()

    def _send(self, buf, write=None):
        self.sent += bytes(buf)


def connection(name, value, protocol=None):
    conn = Recorder()
    if protocol is None:
        conn.send(value)
    else:
        conn.send_bytes(ForkingPickler.dumps(value, protocol))
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        f.write(conn.sent)
    conn.close()


tuples = [(i, str(i)) for i in range(300000)]
dates = [(i, str(i), datetime.date(2000, 1, 1 + i % 28)) for i in range(300000)]
for p in (None, 2, 3, 4, 5):
    suffix = 'd' if p is None else str(p)
    connection('tuples_p' + suffix, tuples, p)
    connection('dates_p' + suffix, dates, p)
connection('bytes_pd', os.urandom(40 * 2**20))
