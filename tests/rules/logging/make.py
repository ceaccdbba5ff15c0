"""logging: what logging.handlers.SocketHandler really sends is allowed.

Records go through a real Logger into a SocketHandler whose send() keeps
the bytes instead of writing them to a socket: what reaches the wire is
exactly SocketHandler.makePickle(record), a 4-byte big-endian length and
pickle.dumps(dict, 1). One file is one connection's byte stream.
"""
import logging
import logging.handlers
import os
import sys

out = sys.argv[1]
sys.setrecursionlimit(5000)


class Capture(logging.handlers.SocketHandler):
    def __init__(self):
        super().__init__('localhost', None)
        self.sent = []

    def send(self, s):
        self.sent.append(bytes(s))


def connection(name, emit):
    """Writes what one handler sends while emit(logger) logs."""
    h = Capture()
    logger = logging.getLogger('app.' + name)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(h)
    try:
        emit(logger)
    finally:
        logger.removeHandler(h)
    assert h.sent, name
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        f.write(b''.join(h.sent))
    return h.sent


def fail(depth):
    if depth:
        return fail(depth - 1)
    return {}['missing']


def with_exception(logger, depth=3, **kw):
    try:
        fail(depth)
    except KeyError:
        logger.exception('lookup failed for %r', 'missing', **kw)


def chained(n):
    try:
        if n == 0:
            raise ValueError('root cause')
        chained(n - 1)
    except Exception as e:
        raise RuntimeError('while handling level %d' % n) from e


def with_chain(logger):
    try:
        chained(150)
    except RuntimeError:
        logger.exception('a long chain of exceptions')


connection('plain', lambda lg: lg.info('service started'))
connection('levels', lambda lg: [lg.log(level, 'level %d', level) for level in
                                 (logging.DEBUG, logging.INFO, logging.WARNING,
                                  logging.ERROR, logging.CRITICAL, 5, 55)])
connection('args', lambda lg: lg.warning('%s took %.3f s (%d tries, %r)',
                                         'request', 1.25, 3, {'k': [1, 2]}))
connection('args-mapping', lambda lg: lg.info('%(user)s logged in from %(ip)s',
                                              {'user': 'bob', 'ip': '10.0.0.1'}))
connection('args-object', lambda lg: lg.info('object %s, bytes %r', object(), b'\x00'))
connection('exc-info', with_exception)
connection('exc-info-deep', lambda lg: with_exception(lg, depth=900))
connection('exc-info-chain', with_chain)
connection('stack-info', lambda lg: lg.info('where am I', stack_info=True))
connection('exc-and-stack', lambda lg: with_exception(lg, stack_info=True))
connection('extra', lambda lg: lg.info('with extras', extra={
    'request_id': 'a1b2', 'user_id': 42, 'elapsed': 0.125, 'ok': True,
    'nothing': None, 'tags': ['x', 'y'], 'pair': (1, 2),
    'ctx': {'path': '/api', 'q': {'page': 2, 'ids': [1, 2, 3]}}, 'big': 2**80}))
connection('nonascii', lambda lg: [lg.error(m) for m in (
    'Grüße aus Köln', 'Ошибка подключения', '接続に失敗しました', 'خطأ في الاتصال',
    'emoji \U0001F525\U0001F4A5', 'lone \udc80 surrogate', 'nul \x00 and \u2028')])
connection('nonascii-extra', lambda lg: lg.info('x', extra={'nom': 'Zoë', 'ключ': 'значение'}))
connection('large-msg', lambda lg: lg.info('payload: %s', 'abcdefghij' * 300000))
connection('many', lambda lg: [lg.info('record %d of %d', i, 2000) for i in range(2000)])


def mixed(lg):
    lg.debug('starting')
    with_exception(lg)
    lg.info('user %s', 'ñandú', extra={'n': 1})
    lg.critical('stopping', stack_info=True)


connection('mixed', mixed)
