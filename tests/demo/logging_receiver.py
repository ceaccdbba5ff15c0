"""The demo backend of `make run`: the Python logging cookbook's socket
receiver, which really calls pickle.loads on what it receives, like the
legacy servers picklewall protects.  Never expose it to a network.

usage: python3 tests/demo/logging_receiver.py [PORT]   (default 9021)
"""

import logging
import pickle
import socketserver
import struct
import sys


class LogRecordStreamHandler(socketserver.StreamRequestHandler):
    """Reads length-prefixed pickled LogRecords, as the cookbook does."""

    def handle(self):
        while True:
            chunk = self.connection.recv(4)
            if len(chunk) < 4:
                break
            slen = struct.unpack(">L", chunk)[0]
            chunk = self.connection.recv(slen)
            while len(chunk) < slen:
                more = self.connection.recv(slen - len(chunk))
                if not more:
                    return
                chunk = chunk + more
            obj = pickle.loads(chunk)   # the unsafe call picklewall guards
            record = logging.makeLogRecord(obj)
            logging.getLogger(record.name).handle(record)


class LogRecordSocketReceiver(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9021
    logging.basicConfig(
        format="backend received: %(name)s %(levelname)s %(message)s")
    server = LogRecordSocketReceiver(("127.0.0.1", port),
                                     LogRecordStreamHandler)
    print("demo backend: logging receiver on 127.0.0.1:%d" % port,
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
