"""The CPython oracle: what Debian's Python 3.11 C unpickler really does.

evaluate(data, framing) runs the bytes through `_pickle.Unpickler` (the C
one, as servers use it) under every way a server reads pickles, and records
each find_class(module, name) and persistent_load(pid) it makes.  Nothing
real is imported or called: the recording Unpickler's find_class returns a
fresh inert stub class instead of importing, and the stubs only record what
is done to them.  So a pickle that would run `os.system` here runs a stub.

Models of a server (raw framing: consecutive pickles in one stream):
  loads           pickle.loads(message) per message: the real bytes path of
                  `_pickle.loads`.  Its find_class is the base one, so an
                  audit hook on "pickle.find_class" records the names and
                  stops the load before anything is imported: this model
                  sees the first import only.  Messages start where the
                  peek-fresh model found them.
  <file>-fresh    a fresh Unpickler per message reading one shared file
                  object (memo per message).
  <file>-stream   one Unpickler calling .load() until EOF (the memo persists
                  across pickles, note 8).
  <file>-{fresh,stream}-resume
                  the same servers, but one that catches an unpickling
                  error and calls load() again (`except Exception:
                  continue`) instead of giving up.  Every opcode but INST
                  reads its whole argument before it can fail (INST looks
                  for its MARK first: its lines are then read as opcodes),
                  so an exact reader resumes right after the failing
                  opcode: the stream
                  Unpickler with an empty stack, no marks, protocol 0 (the
                  _compat_pickle mapping applies again) and the memo as it
                  stood (a failed PUT/MEMOIZE stored nothing, and a failed
                  MEMOIZE did not advance the count, so later MEMOIZEs land
                  one index lower); a fresh Unpickler per load with an
                  empty memo.  The stream Unpickler resumes so over every
                  file; a fresh one over a peeking file re-reads what the
                  file had not consumed: peek-fresh-resume re-reads the
                  failed pickle from its start (and fails again: retried
                  RESUME_STUCK_RETRIES times), buffered-fresh-resume
                  resumes where its last peek began, which can be inside
                  an opcode (INFO_MODELS: recorded, not checked by run.py).
                  At most len(input) + RESUME_SLACK errors per model.
with <file> one of
  peek            a file whose peek() returns all the rest, so the C
                  unpickler buffers the whole input as loads() does;
  bytesio         io.BytesIO: no peek, every read is exact, so a FRAME's
                  bytes are buffered and a read that straddles its end drops
                  the buffered rest (note 15);
  buffered        io.BufferedReader(io.BytesIO, 8): peek() returns a few
                  bytes, like a socket file between segments.
Each model that saw a persistent_load is run again with a server whose
persistent_load returns a str pid unchanged ("/pid-str"), so a persistent id
can be a STACK_GLOBAL operand (note 3).

Failing names: find_class of a name starting with `fail` (m.fail) returns a
stub that records each call and then raises StubRaised; find_class of a
module `nomod` records the import and raises StubModuleNotFound (a
ModuleNotFoundError).  The load records of these raises say "intentional":
run.py does not count them as unpickling errors (fail closed).  They make
the errors a resuming server carries on after.

Every find_class event of a name the _compat_pickle tables map carries
`mapped` (the names the server's find_class would import) when the
Unpickler's protocol was below 3 at that moment, found by asking the base
find_class with a patched __import__ (nothing is imported).

len32 framing (logging.handlers.SocketHandler: 4-byte big-endian length +
pickle) and mp framing (multiprocessing.connection); models loads / peek-fresh / bytesio-fresh per message (a failing
message does not end the connection) and kept-memo (one Unpickler reads
message after message, so the memo carries over, failed messages included).

Argument models ("args/..."): exact readers (bytesio per message and
stream; per-message bytesio and kept-memo for len32/mp) whose stubs also
describe, as JSON, every value a call receives (REDUCE, NEWOBJ, NEWOBJ_EX,
OBJ, INST args, BUILD state, persistent ids): type, small int and str
values, tuple items, and which find_class result or call of one the value
is.  Each such event carries `at`, the end of the opcode that made the call:
the FRAME headers of well-formed frames are replaced by no-op opcodes of
the same length (deframe), so that the exact reader does not buffer a
frame and its position stays the opcode's.  These models serve only the
argument check of run.py; their other events repeat the bytesio models'.

Every evaluation runs in a worker subprocess (`oracle.py --worker`) with an
address-space limit and a timeout, because mutated pickles ask for huge
allocations; MemoryError, a timeout or a dead worker count as "CPython
raised".
"""

import _compat_pickle
import _pickle
import builtins
import copyreg
import io
import json
import os
import pickletools
import select
import struct
import subprocess
import sys
import threading
import time

# copyreg extension codes registered in the oracle process, as a server that
# uses the extension registry would.  Stock servers register none (every
# EXT opcode is then an error); these make EXT1/EXT2/EXT4 reach find_class.
EXTENSIONS = {
    1: ('os', 'system'),                       # EXT1, smallest code
    0xff: ('__builtin__', 'eval'),             # EXT1, unsigned; mapped at proto < 3
    0x1234: ('subprocess', 'check_output'),    # EXT2
    0xffff: ('commands', 'getoutput'),         # EXT2, unsigned; mapped at proto < 3
    0x12345678: ('posix', 'system'),           # EXT4
    0x7fffffff: ('builtins', 'exec'),          # EXT4, largest positive code
}

ADDRESS_SPACE_BYTES = 2 << 30   # per worker: MemoryError instead of swapping
CASE_TIMEOUT_S = 20.0           # per case, all models together
MAX_EVENTS_PER_MODEL = 200      # mutants can make thousands of stub calls
MAX_LOADS_PER_MODEL = 10000

RAW_FILES = ('peek', 'bytesio', 'buffered')
# Servers that call load() again after an error (module docstring).
RESUME_MODELS = (('peek', False), ('bytesio', False), ('buffered', False),
                 ('bytesio', True), ('peek', True), ('buffered', True))
# Models recorded for information only: run.py does not check them.
INFO_MODELS = {'buffered-fresh-resume'}
RESUME_SLACK = 8            # errors allowed beyond one per input byte
RESUME_STUCK_RETRIES = 2    # a reader that makes no progress gives up
FAIL_PREFIX = 'fail'        # find_class of such a name: its calls raise
FAILING_MODULE = 'nomod'    # find_class of this module raises
FRAMINGS = ('raw', 'len32', 'mp')


# ---------------------------------------------------------------- recording

class Recorder:
    """Collects the events of one model run."""

    def __init__(self):
        self.events = []
        self.n_events = 0
        self.load_start = 0
        self.load_index = 0     # which load of the model (its 'loads' entry)
        self.file = None
        self.at_base = 0        # offset of the file's byte 0 in the input
        self.describe = False   # an argument model: describe call arguments
        # What find_class returned and what calling those returned, by id
        # (the objects are kept, so an id is never reused): (obj, [(module,
        # name), ...]) with the raw names find_class received.
        self.found = {}
        self.made = {}

    def has_room(self):
        return len(self.events) < MAX_EVENTS_PER_MODEL

    def add(self, **event):
        self.n_events += 1
        if len(self.events) < MAX_EVENTS_PER_MODEL:
            event['start'] = self.load_start
            event['load'] = self.load_index
            if self.file is not None and hasattr(self.file, 'tell'):
                try:
                    event['at'] = self.at_base + self.file.tell()
                except Exception:
                    pass
            self.events.append(event)

    def names_of(self, obj):
        entry = self.found.get(id(obj))
        return entry[1] if entry is not None and entry[0] is obj else []

    def note_found(self, obj, module, name):
        entry = self.found.setdefault(id(obj), (obj, []))
        if entry[0] is obj and [module, name] not in entry[1]:
            entry[1].append([module, name])

    def note_made(self, callee, result):
        names = self.names_of(callee)
        if names:
            self.made[id(result)] = (result, list(names))


_RECORDER = Recorder()     # the model run in progress


def _summary(value):
    """A short, safe description of an argument (never its repr)."""
    if isinstance(value, (str, bytes)) and len(value) <= 40:
        return value if isinstance(value, str) else value.decode('latin-1')
    return type(value).__name__


# ------------------------------------------------------- argument values

DESCRIBE_MAX_NODES = 4000   # per described value; more are left out ("cut")
DESCRIBE_MAX_DEPTH = 7      # the analyzer writes 5 levels (4 and then "?")
DESCRIBE_MAX_STR = 256      # a shape's str literal has at most 64 characters

PLAIN_TYPES = {type(None): 'None', bool: 'bool', int: 'int', float: 'float', str: 'str',
               bytes: 'bytes', bytearray: 'bytearray', memoryview: 'memoryview',
               tuple: 'tuple', list: 'list', dict: 'dict', set: 'set', frozenset: 'frozenset'}


def describe(value):
    """A JSON description of a value for the argument check, computed
    without running any of its code: {'t': exact type ('None', 'int', ...,
    or 'other:NAME'), 'v': the value of a bool, of an int that fits in 64
    bits, of a str of at most DESCRIBE_MAX_STR characters, 'n': the length
    of a str or tuple, 'i': a tuple's item descriptions (fewer than 'n' when
    cut), 'imp': the [module, name] pairs whose find_class returned this
    very object, 'made': those whose result, when called, returned it}.
    Breadth first, so that what a shape can show is described before what
    lies deeper."""
    budget = DESCRIBE_MAX_NODES
    root = {}
    queue = [(value, root, 1)]
    k = 0
    while k < len(queue):
        v, d, depth = queue[k]
        k += 1
        t = type(v)
        d['t'] = PLAIN_TYPES.get(t) or 'other:' + str(getattr(t, '__name__', '?'))
        if t is bool:
            d['v'] = v
        elif t is int:
            if -(1 << 63) <= v < (1 << 63):
                d['v'] = v
        elif t is str:
            d['n'] = len(v)
            if len(v) <= DESCRIBE_MAX_STR:
                d['v'] = v
        elif t is tuple:
            d['n'] = len(v)
            if depth < DESCRIBE_MAX_DEPTH:
                d['i'] = []
                for item in v:
                    if budget <= 0:
                        break
                    budget -= 1
                    child = {}
                    d['i'].append(child)
                    queue.append((item, child, depth + 1))
        imp = _RECORDER.names_of(v)
        if imp:
            d['imp'] = imp
        entry = _RECORDER.made.get(id(v))
        if entry is not None and entry[0] is v:
            d['made'] = entry[1]
    return root


class StubRaised(Exception):
    """Raised on purpose by a stub of a `fail*` name after its call was
    recorded: the error a resuming server carries on after."""


class StubModuleNotFound(ModuleNotFoundError):
    """Raised on purpose by find_class of the `nomod` module."""


INTENTIONAL = (StubRaised, StubModuleNotFound)


def _maybe_raise(target):
    if getattr(target, '_stub_fails', False):
        raise StubRaised(getattr(target, '_stub_label', '?'))


def _record_call(what, on, callee, args, kwargs=None, result=None, method=False):
    """A stub call; an argument model also describes what it received,
    names what was really called ('callee': the find_class names of the
    object called, or for a method the names of the class of the instance
    it is looked up on; none for a method of a class itself), and
    remembers what it returned."""
    event = dict(kind='stub_call', what=what, on=on, args=[_summary(a) for a in args[:4]])
    if _RECORDER.describe and _RECORDER.has_room():
        event['argv'] = describe(tuple(args))
        if kwargs:
            event['kw'] = describe(dict(kwargs))
        if not method:
            event['callee'] = _RECORDER.names_of(callee)
        elif isinstance(callee, type):
            event['callee'] = []
        else:
            event['callee'] = _RECORDER.names_of(type(callee))
    _RECORDER.add(**event)
    if _RECORDER.describe and result is not None:
        _RECORDER.note_made(callee, result)
    return result


class _StubMethod:
    """A method that works on a stub class and on its instances alike."""

    def __init__(self, method):
        self.method = method

    def __get__(self, obj, owner):
        target = owner if obj is None else obj
        method = self.method

        def call(*args, **kwargs):
            _record_call(method, getattr(target, '_stub_label', '?'), target, args, method=True)
            _maybe_raise(target)
            if method == '__setstate__' and args:
                _default_setstate(target, args[0])
            return None
        return call


def _default_setstate(target, state):
    """Apply state the way BUILD does without __setstate__ (note 11): a
    slot state that sets __setstate__ makes the next BUILD call it.  As in
    load_build, a dict state goes into the instance __dict__ (a class's is
    read-only), a slot state through setattr (which can set __class__)."""
    slotstate = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slotstate = state
    try:
        if isinstance(state, dict):
            inst_dict = target.__dict__
            for key, value in state.items():
                if isinstance(key, str):
                    inst_dict[key] = value
        if isinstance(slotstate, dict):
            for key, value in slotstate.items():
                if isinstance(key, str):
                    setattr(target, key, value)
    except Exception:
        pass


class StubMeta(type):
    """Metaclass of stubs: calling a stub class or item-assigning into it
    (SETITEMS into `os.environ`) is recorded, never executed."""

    def __call__(cls, *args, **kwargs):
        result = _record_call('__call__', cls._stub_label, cls, args, kwargs, object.__new__(cls))
        _maybe_raise(cls)
        return result

    def __setitem__(cls, key, value):
        _record_call('__setitem__', cls._stub_label, cls, (key, value), method=True)
        _maybe_raise(cls)


class Stub(metaclass=StubMeta):
    _stub_label = 'stub'
    _stub_fails = False

    def __new__(cls, *args, **kwargs):
        result = _record_call('__new__', cls._stub_label, cls, args, kwargs, object.__new__(cls))
        _maybe_raise(cls)
        return result

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        result = _record_call('__call__', self._stub_label, self, args, kwargs,
                              object.__new__(type(self)))
        _maybe_raise(self)
        return result

    def __setitem__(self, key, value):
        _record_call('__setitem__', self._stub_label, self, (key, value), method=True)
        _maybe_raise(self)

    __setstate__ = _StubMethod('__setstate__')
    extend = _StubMethod('extend')
    append = _StubMethod('append')
    add = _StubMethod('add')


def new_stub_class(label, fails=False):
    return StubMeta('Stub', (Stub,), {'_stub_label': label, '_stub_fails': fails})


class _ImportProbe(Exception):
    pass


def _probe_import(name, *args, **kwargs):
    raise _ImportProbe(name)


def _protocol_below_3(unpickler):
    """Does this Unpickler's find_class map names (protocol < 3, note 5)
    right now?  Asks the base find_class for a mapped name with __import__
    replaced by a probe, so nothing is imported."""
    real = builtins.__import__
    builtins.__import__ = _probe_import
    try:
        _pickle.Unpickler.find_class(unpickler, '__builtin__', 'xrange')
    except _ImportProbe as probe:
        return probe.args[0] == 'builtins'
    except Exception:
        return None
    finally:
        builtins.__import__ = real
    return None


def mapped_names(module, name):
    """find_class's _compat_pickle mapping, or None where it maps nothing."""
    try:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        if module in _compat_pickle.IMPORT_MAPPING:
            return _compat_pickle.IMPORT_MAPPING[module], name
    except TypeError:
        pass
    return None


class RecordingUnpickler(_pickle.Unpickler):
    """The C Unpickler with a server's find_class and persistent_load
    replaced by recorders.  find_class receives the raw names: the
    _compat_pickle mapping happens inside the base find_class, never
    called here."""

    pid_flavor = 'stub'

    def find_class(self, module, name):
        event = dict(kind='find_class', module=module, name=name)
        mapped = mapped_names(module, name)
        if mapped is not None and _protocol_below_3(self):
            event['mapped'] = list(mapped)
        _RECORDER.add(**event)
        if module == FAILING_MODULE:
            raise StubModuleNotFound('No module named %r (oracle)' % module)
        # A module attribute can be a str (`os.__name__` is 'os'), and
        # builtins.str returns its argument: both make STACK_GLOBAL operands
        # that only exist at run time (note 3).
        if name == '__name__' or name.endswith('.__name__'):
            found = module
        elif module in ('builtins', '__builtin__') and name == 'str':
            found = str
        else:
            found = new_stub_class(module + '.' + name, name.startswith(FAIL_PREFIX))
        if _RECORDER.describe:
            _RECORDER.note_found(found, module, name)
        return found

    def persistent_load(self, pid):
        event = dict(kind='persistent_load', pid=_summary(pid))
        if _RECORDER.describe and _RECORDER.has_room():
            event['argv'] = describe((pid,))
        _RECORDER.add(**event)
        if self.pid_flavor == 'str' and type(pid) is str:
            return pid
        # Made without a call: a stub call here would not be CPython's.
        return object.__new__(new_stub_class('persistent'))


class StrPidUnpickler(RecordingUnpickler):
    pid_flavor = 'str'


class MemoPrimedUnpickler(RecordingUnpickler):
    """A recording Unpickler that can start with a given memo."""

    _priming = None

    def prime(self, entries):
        """Fill the memo with {index: object} the way loading does, so
        that the count of entries is right too."""
        ops = b''.join(b'P%d\nr%s0' % (k, struct.pack('<I', index))
                       for k, index in enumerate(sorted(entries)))
        self._priming = [entries[index] for index in sorted(entries)]
        source = self._source
        try:
            source.start(ops + b'N.')
            self.load()
        finally:
            self._priming = None
            source.start(self._payload)

    def __init__(self, source):
        super().__init__(source)
        self._source = source
        self._payload = source.data

    def persistent_load(self, pid):
        if self._priming is not None:
            return self._priming[int(pid)]
        return super().persistent_load(pid)


class PeekAllFile:
    """A file whose peek() returns all that is left: the C unpickler then
    buffers the whole input at once and reads it as loads(bytes) does."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read(self, n=-1):
        if n is None or n < 0:
            n = len(self.data) - self.pos
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk

    def readinto(self, buf):
        chunk = self.read(len(buf))
        buf[:len(chunk)] = chunk
        return len(chunk)

    def readline(self, limit=-1):
        end = self.data.find(b'\n', self.pos)
        end = len(self.data) if end < 0 else end + 1
        return self.read(end - self.pos)

    def peek(self, n=0):
        return self.data[self.pos:]

    def tell(self):
        return self.pos


class MessageFile:
    """Exact reads from one message; start() switches to another."""

    def __init__(self, payload=b''):
        self.start(payload)

    def start(self, payload):
        self.data = payload
        self.pos = 0

    def read(self, n=-1):
        if n is None or n < 0:
            n = len(self.data) - self.pos
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk

    def readline(self, limit=-1):
        end = self.data.find(b'\n', self.pos)
        end = len(self.data) if end < 0 else end + 1
        return self.read(end - self.pos)

    def tell(self):
        return self.pos


def _open(kind, data):
    if kind == 'peek':
        return PeekAllFile(data)
    if kind == 'bytesio':
        return io.BytesIO(data)
    return io.BufferedReader(io.BytesIO(data), 8)


def _at_eof(f, size):
    if isinstance(f, io.BufferedReader):
        return f.peek(1) == b''
    return f.tell() >= size


def _error_name(exc):
    return '%s: %s' % (type(exc).__name__, str(exc)[:120])


def _reset_process_state():
    copyreg._extension_cache.clear()


class _AuditStop(Exception):
    """Raised by the audit hook: the oracle, not CPython, stopped the load."""


_AUDIT_ACTIVE = False


def _audit_hook(event, args):
    if _AUDIT_ACTIVE and event == 'pickle.find_class':
        _RECORDER.add(kind='find_class', module=args[0], name=args[1])
        raise _AuditStop()


def _run(label, body, describe=False):
    """Run one model; returns its result dict."""
    global _RECORDER
    _reset_process_state()
    _RECORDER = Recorder()
    _RECORDER.describe = describe
    result = {'model': label, 'loads': [], 'raised': False}
    if describe:
        result['args_only'] = True
    try:
        body(result)
    except MemoryError:
        result['raised'] = True
        result['error'] = 'MemoryError'
    result['events'] = _RECORDER.events
    result['n_events'] = _RECORDER.n_events
    return result


def _load_record(result, start, end, error=None, stopped=False, intentional=False):
    entry = {'start': start, 'end': end}
    if error is not None:
        entry['error'] = error
        if stopped:
            entry['stopped'] = True
        elif intentional:
            # A fail* stub or nomod raised on purpose: not an unpickling
            # error of CPython's.
            entry['intentional'] = True
            result['intentional'] = True
        else:
            result['raised'] = True
            result.setdefault('error', error)
    result['loads'].append(entry)


def _raw_model(data, kind, fresh, cls, resume=False):
    def body(result):
        f = _open(kind, data)
        # Only an exact reader's position tells where an opcode ended: the
        # peeking readers run ahead of the C unpickler's own buffer.
        _RECORDER.file = f if kind == 'bytesio' else None
        unpickler = None
        errors = stuck = 0
        for _ in range(MAX_LOADS_PER_MODEL):
            start = f.tell()
            if fresh:
                if _at_eof(f, len(data)):
                    return
                unpickler = cls(f)
            elif unpickler is None:
                unpickler = cls(f)
            _RECORDER.load_start = start
            _RECORDER.load_index = len(result['loads'])
            if errors and kind != 'bytesio' and not fresh:
                # A peeking reader's position lags behind the Unpickler's
                # buffer after an error: where this load begins is not known.
                result['inexact_from'] = min(result.get('inexact_from', 1 << 62), len(result['loads']))
            before = _RECORDER.n_events
            try:
                unpickler.load()
            except EOFError as exc:
                if not fresh and f.tell() == start and _RECORDER.n_events == before:
                    return          # the stream ended between pickles
                _load_record(result, start, _error_end(f, kind, data), _error_name(exc))
                return
            except RecursionError as exc:
                _load_record(result, start, len(data), _error_name(exc))
                return
            except Exception as exc:
                _load_record(result, start, _error_end(f, kind, data), _error_name(exc),
                             intentional=isinstance(exc, INTENTIONAL))
                if not resume:
                    return
                # The server catches the error and calls load() again.
                errors += 1
                if errors > len(data) + RESUME_SLACK:
                    result['truncated_model'] = True
                    return
                if fresh and f.tell() == start:
                    # A peeking reader consumed nothing: the fresh
                    # Unpickler reads the same failed pickle again.
                    stuck += 1
                    if stuck >= RESUME_STUCK_RETRIES:
                        result['stuck'] = True
                        return
                continue
            _load_record(result, start, f.tell())
        result['truncated_model'] = True
    return body


def _borrow_positions(model, exact):
    """A peeking reader's stream Unpickler resumes exactly as the exact
    reader's does (they differ on lying frames only, note 15), but its
    file position does not say where a load after an error began.  Where
    both read the same loads with the same errors, take the exact
    reader's positions; otherwise mark the loads whose start is not known
    `inexact` (run.py then places their events anywhere in the load)."""
    first = model.pop('inexact_from', None)
    if first is None:
        return
    same = len(model['loads']) == len(exact['loads']) and all(
        a.get('error') == b.get('error') for a, b in zip(model['loads'], exact['loads']))
    if same:
        for load, twin in zip(model['loads'], exact['loads']):
            load['start'], load['end'] = twin['start'], twin['end']
        for ev in model['events']:
            ev['start'] = model['loads'][ev['load']]['start'] if ev['load'] < len(model['loads']) else ev['start']
        model['positions'] = 'borrowed from ' + exact['model']
        return
    for load in model['loads'][first:]:
        load['inexact'] = True
    for ev in model['events']:
        if ev['load'] >= first:
            ev['inexact'] = True


def _error_end(f, kind, data):
    # An exact reader's position is where the error was found; the others
    # may have read ahead or not synced, so blame the rest of the input.
    if kind == 'bytesio':
        return max(f.tell(), 1)
    return len(data)


def _loads_model(data, starts):
    def body(result):
        global _AUDIT_ACTIVE
        for start in starts:
            _RECORDER.load_start = start
            _AUDIT_ACTIVE = True
            try:
                _pickle.loads(data[start:])
            except _AuditStop:
                _load_record(result, start, len(data), 'find_class (stopped by the oracle)', stopped=True)
            except Exception as exc:
                _load_record(result, start, len(data), _error_name(exc))
            else:
                _load_record(result, start, len(data))
            finally:
                _AUDIT_ACTIVE = False
    return body


def split_messages(data, framing):
    """Messages of a len32 or mp stream: (header offset, header bytes,
    payload) triples, and whether the stream ends in a broken or
    incomplete message.  mp is multiprocessing.connection's framing: a
    signed 4-byte length, or -1 and an unsigned 8-byte length; another
    negative length makes recv_bytes() read nothing, and loads(b'') fails."""
    messages, pos = [], 0
    while pos < len(data):
        if len(data) - pos < 4:
            return messages, True
        header = 4
        (size,) = struct.unpack('>I' if framing == 'len32' else '>i', data[pos:pos + 4])
        if size == -1:
            if len(data) - pos < 12:
                return messages, True
            (size,) = struct.unpack('>Q', data[pos + 4:pos + 12])
            header = 12
        if size < 0:
            return messages, True
        if len(data) - pos - header < size:
            return messages, True
        messages.append((pos, header, data[pos + header:pos + header + size]))
        pos += header + size
    return messages, False


def _framed_models(data, framing, args_only=False):
    messages, incomplete = split_messages(data, framing)
    if args_only:
        # Exact readers over deframed payloads, positions in the input.
        trusted = []
        for k, (offset, header, payload) in enumerate(messages):
            payload, trusted_end = deframe(payload)
            messages[k] = (offset, header, payload)
            trusted.append((offset + header, offset + header + trusted_end))

    def per_message(kind):
        def body(result):
            global _AUDIT_ACTIVE
            for offset, header, payload in messages:
                _RECORDER.load_start = offset
                end = offset + header + len(payload)
                try:
                    if kind == 'loads':
                        _AUDIT_ACTIVE = True
                        try:
                            _pickle.loads(payload)
                        finally:
                            _AUDIT_ACTIVE = False
                    else:
                        f = _open(kind, payload)
                        if args_only:
                            _RECORDER.file, _RECORDER.at_base = f, offset + header
                        RecordingUnpickler(f).load()
                except _AuditStop:
                    _load_record(result, offset, end, 'find_class (stopped by the oracle)', stopped=True)
                except Exception as exc:
                    _load_record(result, offset, end, _error_name(exc))
                else:
                    _load_record(result, offset, end)
            if incomplete:
                _load_record(result, len(data), len(data), 'incomplete message')
        return body

    def kept_memo(result):
        # A server that keeps its memo from message to message: a fresh
        # Unpickler per message (stack, marks, protocol and read buffer
        # start empty) whose memo, and the count of memo entries that
        # MEMOIZE uses, are those the previous message left, failed or not.
        # Assigning Unpickler.memo copies the entries but leaves the count
        # at 0, so a priming pickle PUTs each entry back, fetching the
        # objects through persistent_load.
        global _RECORDER
        entries = {}
        for offset, header, payload in messages:
            unpickler = MemoPrimedUnpickler(MessageFile(payload))
            if entries:
                recorder, _RECORDER = _RECORDER, Recorder()
                try:
                    unpickler.prime(entries)
                finally:
                    _RECORDER = recorder
            _RECORDER.load_start = offset
            if args_only:
                _RECORDER.file, _RECORDER.at_base = unpickler._source, offset + header
            end = offset + header + len(payload)
            try:
                unpickler.load()
            except Exception as exc:
                _load_record(result, offset, end, _error_name(exc))
            else:
                _load_record(result, offset, end)
            entries = unpickler.memo.copy()

    if args_only:
        models = [_run('args/bytesio-fresh', per_message('bytesio'), describe=True),
                  _run('args/kept-memo', kept_memo, describe=True)]
        for model in models:
            _untrust_positions(model, trusted)
        return models
    return [_run('loads', per_message('loads')),
            _run('peek-fresh', per_message('peek')),
            _run('bytesio-fresh', per_message('bytesio')),
            _run('kept-memo', kept_memo)]


# ---------------------------------------------------------------- deframing

def _arg_layouts():
    """Opcode byte -> how its argument is read: ('fixed', n), ('lines', n)
    or ('counted', width of the length, signed)."""
    fixed = {'uint1': 1, 'uint2': 2, 'uint4': 4, 'int4': 4, 'uint8': 8, 'float8': 8}
    counted = {'string1': (1, False), 'bytes1': (1, False), 'unicodestring1': (1, False),
               'long1': (1, False), 'long4': (4, True), 'string4': (4, True),
               'bytes4': (4, False), 'unicodestring4': (4, False), 'bytes8': (8, False),
               'bytearray8': (8, False), 'unicodestring8': (8, False)}
    layouts = {}
    for op in pickletools.opcodes:
        arg = op.arg.name if op.arg else None
        if arg is None:
            layout = ('fixed', 0)
        elif arg in fixed:
            layout = ('fixed', fixed[arg])
        elif arg in counted:
            layout = ('counted',) + counted[arg]
        elif arg == 'stringnl_noescape_pair':
            layout = ('lines', 2)
        else:
            layout = ('lines', 1)
        layouts[op.code.encode('latin-1')[0]] = layout
    return layouts


ARG_LAYOUTS = _arg_layouts()
FRAME_CODE = pickletools.code2op['\x95'].code.encode('latin-1')[0]
STOP_CODE = ord('.')
NOOP9 = b'(N1(N1(N1'    # MARK NONE POP_MARK, three times: a FRAME header's length


def opcode_end(data, pos):
    """Where the opcode at ${pos} ends, as CPython reads it, or None when
    it does not (unknown opcode, truncated, negative length)."""
    layout = ARG_LAYOUTS.get(data[pos])
    if layout is None:
        return None
    end = pos + 1
    if layout[0] == 'fixed':
        end += layout[1]
    elif layout[0] == 'lines':
        for _ in range(layout[1]):
            nl = data.find(b'\n', end)
            if nl < 0:
                return None
            end = nl + 1
    else:
        width, signed = layout[1], layout[2]
        size = int.from_bytes(data[end:end + width], 'little', signed=signed)
        if len(data) < end + width or size < 0:
            return None
        end += width + size
    return end if end <= len(data) else None


def deframe(data):
    """(data with the header of each well-formed FRAME replaced by no-op
    opcodes, trusted_end).  A well-formed frame ends on an opcode boundary,
    holds no FRAME and no STOP but at its end; then an exact reader runs
    the same opcodes with and without it, and the position after each
    opcode is the opcode's own.  From the first frame that is not well
    formed on (note 15: readers differ there) positions are not trusted:
    trusted_end is where it starts."""
    out = bytearray(data)
    pos, n = 0, len(data)
    frame_start = frame_end = None
    while pos < n:
        if frame_end is not None and pos >= frame_end:
            if pos != frame_end:
                return bytes(out), frame_start
            out[frame_start:frame_start + 9] = NOOP9
            frame_start = frame_end = None
            continue
        code = data[pos]
        if code == FRAME_CODE:
            if frame_end is not None or pos + 9 > n:
                return bytes(out), frame_start if frame_end is not None else pos
            size = int.from_bytes(data[pos + 1:pos + 9], 'little')
            if pos + 9 + size > n:
                return bytes(out), pos
            frame_start, frame_end = pos, pos + 9 + size
            pos += 9
            continue
        end = opcode_end(data, pos)
        if end is None:
            break               # CPython stops here too
        if code == STOP_CODE and frame_end is not None and end != frame_end:
            return bytes(out), frame_start
        pos = end
    if frame_end is not None:
        # Stopped inside a complete frame at an opcode CPython fails on.
        out[frame_start:frame_start + 9] = NOOP9
    return bytes(out), n


def _untrust_positions(model, trusted):
    """Drop `at` from events outside the trusted [start, end) ranges."""
    for ev in model['events']:
        if 'at' in ev and not any(lo <= ev['at'] <= hi for lo, hi in trusted):
            del ev['at']


def _args_models(data, framing, saw_pid, resumes=False):
    """The argument models (module docstring); with ${resumes} (a model
    raised), also of the servers that resume after an error: the stream
    Unpickler, and a fresh one where the input has no FRAME (a fresh
    Unpickler after an error inside a frame resumes after the frame,
    a deframed input would not)."""
    if framing in ('len32', 'mp'):
        return _framed_models(data, framing, args_only=True)
    deframed, trusted_end = deframe(data)
    models = []
    variants = [(True, False), (False, False)]
    if resumes:
        variants.append((False, True))
        if deframed == data and trusted_end == len(data):
            variants.append((True, True))
    for cls, suffix in ((RecordingUnpickler, ''), (StrPidUnpickler, '/pid-str')):
        if suffix and not saw_pid:
            continue
        for fresh, resume in variants:
            label = 'args/bytesio-%s%s%s' % ('fresh' if fresh else 'stream', '-resume' if resume else '', suffix)
            model = _run(label, _raw_model(deframed, 'bytesio', fresh, cls, resume=resume), describe=True)
            _untrust_positions(model, [(0, trusted_end)])
            models.append(model)
    return models


def _fix_resume_positions(models, suffix=''):
    by_label = {m['model']: m for m in models}
    exact = by_label.get('bytesio-stream-resume' + suffix)
    for m in models:
        if m['model'].endswith('-resume' + suffix) and 'inexact_from' in m:
            if m['model'].split('-')[1] == 'stream' and exact is not None:
                _borrow_positions(m, exact)
            else:
                _borrow_positions(m, {'loads': [], 'model': '-'})


def evaluate(data, framing='raw'):
    """All models of one input.  Returns {'models': [result, ...]}, each
    result with 'model', 'events' (find_class / persistent_load /
    stub_call dicts with the 'start' offset of their load), 'loads'
    ([{'start', 'end', 'error'?}]) and 'raised'.  Models with 'args_only'
    serve the argument check alone."""
    if framing in ('len32', 'mp'):
        models = _framed_models(data, framing)
        saw_pid = any(e['kind'] == 'persistent_load' for m in models for e in m['events'])
        return {'models': models + _args_models(data, framing, saw_pid)}
    models = []
    for fresh in (True, False):
        for kind in RAW_FILES:
            label = '%s-%s' % (kind, 'fresh' if fresh else 'stream')
            models.append(_run(label, _raw_model(data, kind, fresh, RecordingUnpickler)))
    starts = [load['start'] for load in models[0]['loads']]
    models.insert(0, _run('loads', _loads_model(data, starts)))
    # The resuming servers differ from the others only after an error.
    resumes = any(m.get('raised') or m.get('intentional') for m in models)
    if resumes:
        for kind, fresh in RESUME_MODELS:
            label = '%s-%s-resume' % (kind, 'fresh' if fresh else 'stream')
            models.append(_run(label, _raw_model(data, kind, fresh, RecordingUnpickler, resume=True)))
            models[-1]['info_only'] = label in INFO_MODELS
        _fix_resume_positions(models)
    if any(e['kind'] == 'persistent_load' for m in models for e in m['events']):
        for fresh in (True, False):
            for kind in RAW_FILES:
                label = '%s-%s/pid-str' % (kind, 'fresh' if fresh else 'stream')
                models.append(_run(label, _raw_model(data, kind, fresh, StrPidUnpickler)))
        if resumes:
            for kind, fresh in RESUME_MODELS:
                label = '%s-%s-resume/pid-str' % (kind, 'fresh' if fresh else 'stream')
                models.append(_run(label, _raw_model(data, kind, fresh, StrPidUnpickler, resume=True)))
                models[-1]['info_only'] = label.split('/')[0] in INFO_MODELS
            _fix_resume_positions(models, '/pid-str')
    saw_pid = any(e['kind'] == 'persistent_load' for m in models for e in m['events'])
    return {'models': models + _args_models(data, framing, saw_pid, resumes)}


# ------------------------------------------------------------------ worker

def _read_exact(stream, n):
    buf = b''
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def worker_main():
    """Read length-prefixed requests on stdin, answer each with a
    length-prefixed JSON result on stdout."""
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))
    sys.setrecursionlimit(10000)
    for code, (module, name) in EXTENSIONS.items():
        copyreg.add_extension(module, name, code)
    sys.addaudithook(_audit_hook)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = _read_exact(stdin, 5)
        if header is None:
            return
        size, framing = struct.unpack('>IB', header)
        data = _read_exact(stdin, size)
        try:
            reply = evaluate(data, FRAMINGS[framing])
        except MemoryError:
            reply = {'crash': 'MemoryError'}
        out = json.dumps(reply).encode('ascii')
        stdout.write(struct.pack('>I', len(out)) + out)
        stdout.flush()


class OraclePool:
    """Evaluates many inputs on `jobs` worker processes.  A worker that dies
    or overruns the timeout is replaced; its case is reported as a crash."""

    def __init__(self, jobs=2, timeout=CASE_TIMEOUT_S):
        self.jobs = jobs
        self.timeout = timeout

    def _spawn(self):
        env = dict(os.environ, PYTHONHASHSEED='0')
        # The worker's stderr is dropped: CPython prints unraisable
        # exceptions there when a mutant's huge allocation fails.
        return subprocess.Popen([sys.executable, os.path.abspath(__file__), '--worker'],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env)

    def _ask(self, proc, data, framing):
        proc.stdin.write(struct.pack('>IB', len(data), FRAMINGS.index(framing)) + data)
        proc.stdin.flush()
        deadline = time.monotonic() + self.timeout
        fd = proc.stdout.fileno()
        buf = b''
        want = 4
        size = None
        while len(buf) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, max(want - len(buf), 1 << 16))
            if not chunk:
                return None
            buf += chunk
            if size is None and len(buf) >= 4:
                size = struct.unpack('>I', buf[:4])[0]
                want = 4 + size
        return json.loads(buf[4:])

    def run(self, items):
        """items: list of (data, framing).  Returns a list of replies in the
        same order; a crashed or timed-out case gets {'crash': why}."""
        results = [None] * len(items)
        lock = threading.Lock()
        next_index = [0]

        def work():
            proc = self._spawn()
            try:
                while True:
                    with lock:
                        i = next_index[0]
                        next_index[0] += 1
                    if i >= len(items):
                        return
                    data, framing = items[i]
                    try:
                        reply = self._ask(proc, data, framing)
                    except (BrokenPipeError, OSError):
                        reply = None
                    if reply is None:
                        why = 'timeout' if proc.poll() is None else 'worker died (%s)' % proc.returncode
                        proc.kill()
                        proc.wait()
                        results[i] = {'crash': why}
                        proc = self._spawn()
                    else:
                        results[i] = reply
            finally:
                proc.stdin.close()
                proc.kill()
                proc.wait()

        threads = [threading.Thread(target=work) for _ in range(self.jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results


if __name__ == '__main__':
    if sys.argv[1:] == ['--worker']:
        worker_main()
    else:
        # Ad-hoc use: oracle.py FILE... prints what CPython did with each.
        for path in sys.argv[1:]:
            with open(path, 'rb') as f:
                data = f.read()
            reply = OraclePool(jobs=1).run([(data, 'raw')])[0]
            print(path)
            print(json.dumps(reply, indent=1))
