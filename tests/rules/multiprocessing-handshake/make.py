"""multiprocessing-handshake: a Client with an authkey, as Listener(authkey=)
requires: the three handshake messages the client sends (its digest, its
#CHALLENGE#, #WELCOME#), then its objects. Recorded from a real socket
pair: the server side runs deliver_challenge/answer_challenge in a thread
and never reads the objects."""
import collections
import datetime
import decimal
import multiprocessing.connection as mpc
import os
import socket
import sys
import threading
import uuid

out = sys.argv[1]


class RecordingConnection(mpc.Connection):
    def __init__(self, handle):
        super().__init__(handle)
        self.sent = bytearray()

    def _send(self, buf, write=os.write):
        self.sent += bytes(buf)
        return super()._send(buf, write)


def session(name, objects, authkey=b'secret key'):
    client_sock, server_sock = socket.socketpair()
    client = RecordingConnection(client_sock.detach())
    server = mpc.Connection(server_sock.detach())
    errors = []

    def serve():
        try:
            mpc.deliver_challenge(server, authkey)
            mpc.answer_challenge(server, authkey)
        except Exception as e:
            errors.append(e)

    t = threading.Thread(target=serve)
    t.start()
    mpc.answer_challenge(client, authkey)
    mpc.deliver_challenge(client, authkey)
    t.join()
    assert not errors, errors
    for o in objects:
        client.send(o)
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        f.write(client.sent)
    client.close()
    server.close()


session('hello', ['hello', {'n': 1}])
session('work', [{'id': uuid.UUID(int=7), 'at': datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
                  'amount': decimal.Decimal('2.50'), 'q': collections.deque([1, 2])},
                 ('result', [1.5, 2.5], collections.OrderedDict(ok=True))])
