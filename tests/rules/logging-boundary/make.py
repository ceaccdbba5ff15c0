"""logging-boundary: message_bytes counts the pickle, not the 4-byte frame
header (REFERENCE.md, Limits: "bytes of one pickle (the payload ...)").

exact       a real SocketHandler record whose pickle is exactly 16 MiB
            (16 MiB + 4 bytes with its length header): allowed
over-by-1   one byte more in the pickle: denied
"""
import logging
import logging.handlers
import os
import sys

out = sys.argv[1]
LIMIT = 16 * 2**20


class Capture(logging.handlers.SocketHandler):
    def __init__(self):
        super().__init__('localhost', None)
        self.sent = []

    def send(self, s):
        self.sent.append(bytes(s))


def sized(name, total):
    """Writes a one-record connection of exactly total bytes."""
    h = Capture()
    logger = logging.getLogger('boundary')
    logger.propagate = False
    logger.addHandler(h)
    pad = 1000
    for _ in range(5):
        h.sent.clear()
        logger.warning('x' * pad)
        if len(h.sent[0]) == total:
            break
        pad += total - len(h.sent[0])
    logger.removeHandler(h)
    assert len(h.sent[0]) == total, len(h.sent[0])
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        f.write(h.sent[0])


HEADER = 4
sized('exact', LIMIT + HEADER)
sized('over-by-1', LIMIT + HEADER + 1)
