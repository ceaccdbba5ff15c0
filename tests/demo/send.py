"""Send a log record, or a malicious pickle, to picklewall's demo listener
as `logging.handlers.SocketHandler` does, over TLS.

usage: python3 tests/demo/send.py benign|evil [HOST:PORT] [CA_FILE]
       (defaults: 127.0.0.1:9020 and certs/dev/ca.crt)

"evil" is a pickle that runs `echo pwned-by-pickle` when a server loads
it: picklewall must deny it, and the backend must never print "pwned".
"""

import logging
import logging.handlers
import os
import pickle
import socket
import ssl
import struct
import sys


class TLSSocketHandler(logging.handlers.SocketHandler):
    def __init__(self, host, port, context):
        super().__init__(host, port)
        self.context = context

    def makeSocket(self, timeout=5):
        raw = socket.create_connection((self.host, self.port), timeout)
        return self.context.wrap_socket(raw, server_hostname="localhost")


class RunsShellCommand:
    def __reduce__(self):
        return (os.system, ("echo pwned-by-pickle",))


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "benign"
    host, port = (sys.argv[2] if len(sys.argv) > 2
                  else "127.0.0.1:9020").rsplit(":", 1)
    ca = sys.argv[3] if len(sys.argv) > 3 else "certs/dev/ca.crt"
    context = ssl.create_default_context(cafile=ca)
    if what == "benign":
        handler = TLSSocketHandler(host, int(port), context)
        log = logging.getLogger("demo.client")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.info("hello through picklewall")
        handler.close()
        print("sent a log record")
    elif what == "evil":
        payload = pickle.dumps(RunsShellCommand(), 1)
        with socket.create_connection((host, int(port)), 5) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(struct.pack(">L", len(payload)) + payload)
                try:
                    rest = s.recv(1)
                except (ConnectionError, ssl.SSLError):
                    rest = b""
        print("sent a malicious pickle; picklewall closed the connection"
              if rest == b"" else "sent a malicious pickle")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
