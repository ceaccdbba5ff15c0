#!/usr/bin/python3
"""Soundness suite: picklewall's analyzer against real CPython.

    /usr/bin/python3 tests/soundness/run.py --binary build/asan/picklewall \
        [--mutations N] [--args-programs N] [--seed S] [--jobs J] [--oracle-only]

For every case (gen.py) the CPython oracle (oracle.py) records what the C
unpickler does under each server model, `picklewall scan` reports what it
found, and these must hold:

  soundness    every find_class CPython made is covered by a reported import
               (raw names where remapped, and the mapped names where CPython
               mapped them; "*" matches anything), and every persistent_load
               by a PERSID/BINPERSID call; servers that resume after an error
               (oracle "-resume" models) included;
  fail closed  if CPython raised in any model, picklewall denies (raises of
               the oracle's fail* stubs and nomod are on purpose, not errors);
  precision    (curated cases) if CPython loaded it without any find_class,
               persistent_load or stub call, picklewall allows, except for
               the deliberate exceptions below; for mutants a statistic;
  reports      (crafted cases) the names after mapping are exactly the ones
               written in the case;
  args         every call CPython made (REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, INST
               args, BUILD state, persistent ids), as the argument models of
               oracle.py saw it, is reported at the same opcode with an
               `args` shape consistent with the values CPython passed (see
               shape_consistent; with --memo both, one of the calls reported
               at that opcode); crafted cases may also name exact shapes;
  cpython      (crafted cases) CPython does what the case and the notes say,
               so a wrong note or a broken oracle fails here first;
  coverage     every opcode of pickletools and every numbered point of
               shared/PICKLE-NOTES.md has a case.

Matching is per message: an event of a load that CPython began at offset s
must be reported by a message of the scan that overlaps the bytes that load
read.  A load that begins after the scan stopped on a denied message needs
nothing: the proxy has cut the stream by then.

The last line is `N passed, M failed`; the exit status is 0 iff M == 0.
"""

import _compat_pickle
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import gen      # noqa: E402
import oracle   # noqa: E402

DEFAULT_SEED = 20240611
DEFAULT_MUTATIONS = 3000
DEFAULT_ARGS_PROGRAMS = 600
FAILURE_DIR = os.path.join(ROOT, 'build', 'soundness-failures')
FILES_PER_SCAN = 250
SCAN_TIMEOUT_S_PER_FILE = 2
MAX_DETAILED_FAILURES = 40

# Cases CPython loads without any import or call that picklewall may deny
# all the same, each by a deliberate decision.
PRECISION_EXCEPTIONS = {
    # A frame that ends inside an opcode is read differently by loads(bytes)
    # and load(file) (note 15); picklewall denies such "lying" frames rather
    # than model every reader.
    'frames/FRAME_splits_BINBYTES_readinto': 'lying frame, denied by design',
    # Data opcodes on builtins that are not exact list/dict/set call methods
    # (note 10); the policy denies every call.
    'calls/SETITEM_on_list': 'SETITEM on a list is a call to list.__setitem__',
    'calls/SETITEM_on_bytearray': 'SETITEM on a bytearray is a call to bytearray.__setitem__',
    'calls/APPENDS_on_bytearray': 'APPENDS on a bytearray is a call to bytearray.extend',
    # CPython accepts a FRAME inside a FRAME; pickle.py does not, and
    # picklewall denies nesting as a lying frame (tests/unit/test_pvm.c).
    'frames/FRAME_nested': 'nested frame, denied by design',
    # pickle.loads() ignores bytes after STOP inside one framed message;
    # picklewall denies them so that no second pickle is smuggled past it.
    'len32/trailing_bytes_in_message': 'bytes after STOP in a len32 message, denied by design',
    # picklewall bounds its own work (README: limits); CPython has no such
    # bounds, so a benign pickle beyond them is denied.
    'limits/nesting_2000': 'limit_nesting: nesting bounded at 1000 by default',
    'limits/memo_index_5M': 'limit_memo: memo index bounded at 4 Mi by default',
}

# Reason codes with which picklewall stops a message on purpose although
# CPython would go on; imports CPython makes after such a stop are not
# expected in the report (the message is denied and the stream cut).
BY_DESIGN_STOP = re.compile(r'^(lying_frame|limit_.*)$')

NON_FATAL_REASONS = {'import', 'call'}

SANITIZER_MARKS = (b'ERROR: AddressSanitizer', b'ERROR: LeakSanitizer', b'runtime error:',
                   b'SUMMARY: UndefinedBehaviorSanitizer')


# ------------------------------------------------------------------ results

class Results:
    def __init__(self):
        self.passed = defaultdict(int)
        self.failed = defaultdict(list)     # category -> [(name, lines, case)]
        self.stats = defaultdict(int)
        self.exemptions = []                # (case name, what was exempted)

    def record(self, category, name, problems, case=None):
        if problems:
            self.failed[category].append((name, problems, case))
        else:
            self.passed[category] += 1

    def totals(self):
        return sum(self.passed.values()), sum(len(v) for v in self.failed.values())


def hexdump(data, limit=200):
    out = []
    for i in range(0, min(len(data), limit), 16):
        chunk = data[i:min(i + 16, limit)]
        text = ''.join(chr(b) if 32 <= b < 127 else '.' for b in chunk)
        out.append('    %04x  %-48s %s' % (i, chunk.hex(' '), text))
    if len(data) > limit:
        out.append('    ... %d bytes in all' % len(data))
    return out


# ----------------------------------------------------------- meta checks

def check_coverage(cases, results):
    used = set()
    for c in cases:
        used |= gen.opcodes_used(c.data)
    missing = sorted(op.name for op in gen.pickletools.opcodes if op.name not in used)
    results.record('suite', 'every pickletools opcode appears in a case',
                   ['opcodes with no case: ' + ', '.join(missing)] if missing else [])
    numbered = set(range(1, 20))    # the notes as this suite was written against them
    notes_path = os.path.join(ROOT, '..', 'shared', 'PICKLE-NOTES.md')
    if os.path.exists(notes_path):
        with open(notes_path) as f:
            numbered |= {int(m.group(1)) for m in re.finditer(r'^(\d+)\. ', f.read(), re.M)}
    unknown = sorted(set(PRECISION_EXCEPTIONS) - {c.name for c in cases})
    results.record('suite', 'every precision exception names a curated case',
                   ['no such case: %s' % ', '.join(unknown)] if unknown else [])
    covered = {n for c in cases for n in c.notes}
    missing_notes = sorted(numbered - covered)
    results.record('suite', 'every numbered point of PICKLE-NOTES.md has a case',
                   ['notes with no case: %s' % missing_notes] if missing_notes else [])


# -------------------------------------------------------- CPython summaries

def is_resume_model(label):
    """'peek-stream-resume', 'peek-stream-resume/pid-str',
    'args/bytesio-fresh-resume', ..."""
    return any(part.endswith('-resume') for part in label.split('/'))


def cpython_summary(reply, size, resume=True):
    """Flatten one oracle reply: events with the [start, end) of the load
    they happened in, and failed loads.  Without ${resume}, only the
    servers that give up at the first error; models for information
    (oracle.INFO_MODELS) never.  A raise of a fail* stub or of nomod is
    not an unpickling error of CPython's."""
    events, failures, stub_calls = [], [], 0
    if 'crash' in reply:
        failures.append(('oracle', 0, size, reply['crash']))
        return events, failures, stub_calls
    for model in reply['models']:
        if model.get('args_only') or model.get('info_only'):
            continue
        if not resume and is_resume_model(model['model']):
            continue
        ends = {}
        for load in model['loads']:
            ends.setdefault(load['start'], load['end'])
            if 'error' in load and not load.get('stopped') and not load.get('intentional'):
                failures.append((model['model'], load['start'], max(load['end'], load['start'] + 1),
                                 ' '.join(load['error'].split())))
        if model.get('error') == 'MemoryError' and not any(f[0] == model['model'] for f in failures):
            failures.append((model['model'], 0, size, 'MemoryError'))
        for ev in model['events']:
            start = ev['start']
            end = max(ends.get(start, size), start + 1)
            if ev['kind'] == 'stub_call':
                stub_calls += 1
            else:
                events.append((model['model'], start, end, ev))
        if model['n_events'] > len(model['events']):
            stub_calls += 1     # events were cut; some were calls or imports
    return events, failures, stub_calls


def check_cpython_expectations(case, reply):
    problems = []
    if 'crash' in reply:
        return ['oracle crashed: %s' % reply['crash']]
    events, failures, _ = cpython_summary(reply, len(case.data))
    if case.imports is not None:
        # `imports`: servers that give up at the first error; `resume_imports`
        # (by default the same): all servers, those that resume included.
        base, _, _ = cpython_summary(reply, len(case.data), resume=False)
        got = {(e['module'], e['name']) for _, _, _, e in base if e['kind'] == 'find_class'}
        if got != set(case.imports):
            problems.append('find_class received %s, the case says %s'
                            % (sorted(got), sorted(case.imports)))
        want = case.imports if case.resume_imports is None else case.resume_imports
        got_all = {(e['module'], e['name']) for _, _, _, e in events if e['kind'] == 'find_class'}
        if got_all != set(want):
            problems.append('with servers that resume after an error, find_class received %s, '
                            'the case says %s' % (sorted(got_all), sorted(want)))
    if case.raises is not None:
        raised = bool(failures)
        if raised != case.raises:
            why = '; '.join('%s: %s' % (f[0], f[3]) for f in failures[:3])
            problems.append('CPython %s, the case says it %s %s'
                            % ('raised' if raised else 'did not raise',
                               'raises' if case.raises else 'does not raise', why))
    return problems


def check_bytes_path_emulation(cases, replies, results):
    """The peek models stand for loads(bytes) on every message; the loads
    model is the real bytes path up to its first find_class.  They must
    agree on every raw case, or the oracle itself is wrong."""
    problems = []
    for c, reply in zip(cases, replies):
        if c.framing != 'raw' or 'crash' in reply:
            continue
        models = {m['model']: m for m in reply['models']}
        real, emulated = models['loads'], models['peek-fresh']
        if not real['loads'] or not emulated['loads']:
            continue
        first_real = real['loads'][0]
        first_emulated = emulated['loads'][0]
        real_events = [e for e in real['events'] if e['start'] == 0]
        emulated_events = [e for e in emulated['events'] if e['start'] == 0]
        if first_real.get('stopped'):
            ok = bool(emulated_events) and emulated_events[0]['kind'] == 'find_class' and \
                (emulated_events[0]['module'], emulated_events[0]['name']) == \
                (real_events[0]['module'], real_events[0]['name'])
        elif 'persistent id' in first_real.get('error', ''):
            # Without persistent_load, CPython fails before reading the id.
            ok = (bool(emulated_events) and emulated_events[0]['kind'] == 'persistent_load') or \
                (not emulated_events and 'error' in first_emulated)
        elif 'error' in first_real:
            # Both fail; the message may differ: loads() fails a zero-length
            # read at the very end ("truncated") where a file reader fails on
            # the next opcode ("Ran out of input").
            ok = not emulated_events and 'error' in first_emulated
        else:
            ok = not emulated_events and 'error' not in first_emulated
        if not ok:
            problems.append('%s: loads %s, peek-fresh %s' % (
                c.name, first_real.get('error', 'ok'), first_emulated.get('error', 'ok')))
    results.record('suite', 'the peek-file oracle reads as _pickle.loads does', problems[:20])


# -------------------------------------------------------------- scanning

def _sanitizer_output(stderr):
    return any(mark in stderr for mark in SANITIZER_MARKS)


def _scan_env():
    env = dict(os.environ)
    for var in ('ASAN_OPTIONS', 'UBSAN_OPTIONS'):
        opts = env.get(var, '')
        if 'exitcode=' not in opts:
            env[var] = (opts + ':' if opts else '') + 'exitcode=86'
    return env


SCAN_EXTRA_ARGS = []    # --scan-arg: e.g. --resume-after-error=no, to see what the resume cases catch


# The exact names and shapes crafted cases expect (`reports=`, `shapes=`) are
# what picklewall finds for a server that stops at its first error: a raw
# scan for one that may read on marks memo entries written after an import
# or call unknown (`?`).  Such cases are scanned that way a second time,
# but for the `resume` group, whose expectations are about servers that
# read on.
EXACT_SCAN_ARGS = ['--resume-after-error=no']


def _run_scan(binary, framing, paths, more=()):
    extra = [a for a in SCAN_EXTRA_ARGS + list(more)
             if framing == 'raw' or not a.startswith('--resume')]
    cmd = [binary, 'scan', '--framing', framing, '--memo', 'both', '--format', 'json'] + extra + paths
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_scan_env(),
                              timeout=SCAN_TIMEOUT_S_PER_FILE * len(paths) + 10)
    except subprocess.TimeoutExpired as exc:
        return -1, exc.stdout or b'', (exc.stderr or b'') + b'\n(timed out)'
    return proc.returncode, proc.stdout, proc.stderr


def _parse_lines(stdout):
    by_file, bad = defaultdict(list), []
    for raw in stdout.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw.decode('utf-8', 'surrogatepass'))
            by_file[line['file']].append(line)
        except Exception as exc:
            bad.append('unparsable output line (%s): %r' % (exc, raw[:200]))
    return by_file, bad


def scan_all(binary, cases, workdir, jobs):
    """Write each case to a file and scan them in batches.  Returns
    {index: {'lines': [...], 'problems': [...]}}."""
    paths = {}
    for i, c in enumerate(cases):
        path = os.path.join(workdir, 'c%05d.pkl' % i)
        with open(path, 'wb') as f:
            f.write(c.data)
        paths[i] = path
    batches = []
    for framing in oracle.FRAMINGS:
        idx = [i for i, c in enumerate(cases) if c.framing == framing]
        for k in range(0, len(idx), FILES_PER_SCAN):
            batches.append((framing, idx[k:k + FILES_PER_SCAN]))
    out = {}
    lock = threading.Lock()

    def scan_batch(framing, idx, exact=False):
        rc, stdout, stderr = _run_scan(binary, framing, [paths[i] for i in idx],
                                       EXACT_SCAN_ARGS if exact else ())
        by_file, bad = _parse_lines(stdout)
        if exact:
            with lock:
                for i in idx:
                    out.setdefault(i, {'lines': [], 'problems': []})['exact_lines'] = \
                        by_file.get(paths[i], [])
                    if rc not in (0, 1) or _sanitizer_output(stderr) or bad:
                        out[i]['problems'].append('the exact scan failed (%d): %s'
                                                  % (rc, (bad or [stderr[-300:]])[0]))
            return
        if rc not in (0, 1) or _sanitizer_output(stderr) or bad:
            if len(idx) > 1:
                for i in idx:       # find the culprit one file at a time
                    scan_batch(framing, [i])
                return
            problems = []
            if rc == -1:
                problems.append('picklewall timed out')
            elif rc not in (0, 1):
                problems.append('picklewall exited %d' % rc)
            if _sanitizer_output(stderr):
                problems.append('sanitizer report: ' + stderr.decode('utf-8', 'replace')[-1500:])
            problems += bad
            with lock:
                out.setdefault(idx[0], {}).update(lines=by_file.get(paths[idx[0]], []),
                                                   problems=problems)
            return
        with lock:
            for i in idx:
                entry = out.setdefault(i, {'problems': []})
                entry['lines'] = by_file.get(paths[i], [])

    exact = [i for i, c in enumerate(cases)
             if c.framing == 'raw' and (c.shapes or c.reports) and c.group != 'resume']
    pending = [(f, idx, False) for f, idx in batches] + \
        [('raw', exact[k:k + FILES_PER_SCAN], True) for k in range(0, len(exact), FILES_PER_SCAN)]

    def work():
        while True:
            with lock:
                if not pending:
                    return
                framing, idx, exact_scan = pending.pop(0)
            scan_batch(framing, idx, exact_scan)

    threads = [threading.Thread(target=work) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, paths


def probe_binary(binary):
    """Fail early and clearly if the binary cannot scan at all."""
    with tempfile.NamedTemporaryFile(suffix='.pkl') as f:
        f.write(b'N.')
        f.flush()
        rc, stdout, stderr = _run_scan(binary, 'raw', [f.name])
    by_file, bad = _parse_lines(stdout)
    if rc != 0 or not by_file.get(f.name) or bad:
        return 'picklewall scan of N. exited %d: %s %s' % (
            rc, stdout[:300].decode('utf-8', 'replace'), stderr[-600:].decode('utf-8', 'replace'))
    return None


# ------------------------------------------------------------ arg shapes

class ShapeError(Exception):
    pass


SHAPE_TYPES = {'None', 'bool', 'int', 'float', 'str', 'bytes', 'bytearray', 'memoryview',
               'tuple', 'list', 'dict', 'set', 'frozenset'}
INT_LITERAL = re.compile(r'-?[0-9]+\Z')


def _name_char(c):
    return c.isascii() and (c.isalnum() or c in '_.') or ord(c) >= 0x80


def parse_shape(text):
    """A call's shape (rules/REFERENCE.md "args SHAPE", with `?`, without
    `any` and `|`) as a tree: ('any',), ('type', T), ('int', n),
    ('bool', b), ('str', s), ('tuple', [items]), ('import', module, name),
    ('made', module, name)."""
    pos = 0

    def blanks():
        nonlocal pos
        while pos < len(text) and text[pos] == ' ':
            pos += 1

    def value():
        nonlocal pos
        blanks()
        if pos >= len(text):
            raise ShapeError('shape ends early')
        c = text[pos]
        if c == '?':
            pos += 1
            return ('any',)
        if c == '"':
            pos += 1
            out = []
            while True:
                if pos >= len(text):
                    raise ShapeError('unterminated string')
                c = text[pos]
                if c == '"':
                    pos += 1
                    return ('str', ''.join(out))
                if c == '\\':
                    if pos + 1 >= len(text) or text[pos + 1] not in '"\\':
                        raise ShapeError('bad escape at %d' % pos)
                    out.append(text[pos + 1])
                    pos += 2
                    continue
                if not 0x20 <= ord(c) <= 0x7e:
                    raise ShapeError('unprintable character in a string at %d' % pos)
                out.append(c)
                pos += 1
        if c == '(':
            pos += 1
            items = []
            blanks()
            if pos < len(text) and text[pos] == ')':
                pos += 1
                return ('tuple', items)
            while True:
                items.append(value())
                blanks()
                if pos < len(text) and text[pos] == ',':
                    pos += 1
                    blanks()
                    if pos < len(text) and text[pos] == ')':
                        pos += 1
                        return ('tuple', items)
                    continue
                if pos < len(text) and text[pos] == ')':
                    pos += 1
                    if len(items) == 1:
                        raise ShapeError('one-item tuple without a comma')
                    return ('tuple', items)
                raise ShapeError('expected , or ) at %d' % pos)
        start = pos
        if c == '-':
            pos += 1
        while pos < len(text) and _name_char(text[pos]):
            pos += 1
        word = text[start:pos]
        if pos < len(text) and text[pos] == ':':
            pos += 1
            qstart = pos
            while pos < len(text) and _name_char(text[pos]):
                pos += 1
            if word.startswith('-') or not word or pos == qstart:
                raise ShapeError('bad name at %d' % start)
            kind = 'import'
            if text.startswith('()', pos):
                pos += 2
                kind = 'made'
            return (kind, word, text[qstart:pos - (2 if kind == 'made' else 0)])
        if word in ('True', 'False'):
            return ('bool', word == 'True')
        if word in SHAPE_TYPES:
            return ('type', word)
        if INT_LITERAL.match(word):
            return ('int', int(word))
        raise ShapeError('unexpected %r at %d' % (word or c, start))

    tree = value()
    blanks()
    if pos != len(text):
        raise ShapeError('trailing text at %d' % pos)
    return tree


def _mapped(module, name):
    """find_class's _compat_pickle mapping (protocol < 3)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _names_match(module, name, pairs):
    """Does the shape name module:name stand for one of the raw find_class
    (module, name) pairs?  The shape shows names after the mapping, which
    applies below protocol 3 only; either is taken (a mapped name at
    protocol 3 names what the server would fail to import)."""
    return any((module, name) in ((m, n), _mapped(m, n)) for m, n in pairs)


# Calling the real `str` the oracle's find_class returns for builtins.str
# is not recorded; whatever it returns is an exact str.
STR_CALLABLES = {('builtins', 'str'), ('__builtin__', 'str')}


def describe_value(d, limit=60):
    """A short text for a value description of oracle.describe()."""
    if d is None:
        return '(not described)'
    t = d['t']
    if 'imp' in d:
        return 'the object find_class(%s) returned' % ', '.join('%s.%s' % tuple(p) for p in d['imp'])
    if 'made' in d:
        return 'an object made by calling %s' % ', '.join('%s.%s' % tuple(p) for p in d['made'])
    if t in ('int', 'bool') and 'v' in d:
        return repr(d['v'])
    if t == 'str':
        return repr(d['v'][:limit]) if 'v' in d else 'a str of %d characters' % d['n']
    if t == 'tuple':
        items = d.get('i')
        if items is None:
            return 'a tuple of %d items (not described)' % d['n']
        text = '(' + ', '.join(describe_value(i, 20) for i in items[:8]) + \
            (', ...' if d['n'] > 8 else ',' if d['n'] == 1 else '') + ')'
        return text[:limit * 3]
    if t.startswith('other:'):
        return 'an instance of ' + t[6:]
    return ('an ' if t[0] in 'aeiou' else 'a ') + t


def shape_consistent(shape, d, path='args'):
    """None if the call shape is consistent with the value CPython passed
    (described by oracle.describe), else ('bad', why) or, where the oracle
    left the value out, ('unknown', why).  Consistent: a type name is the
    value's exact type (bool is not int); an int literal is an int (not a
    bool) of that value; True/False that bool; a "text" literal a str of
    that text; a tuple shape a tuple of that length with consistent items;
    m:X the very object find_class returned for m.X; m:X() an object
    calling that object returned; `?` anything."""
    kind = shape[0]
    if kind == 'any':
        return None
    if d is None:
        return ('unknown', '%s: not described by the oracle' % path)
    t = d['t']
    if kind == 'type':
        ok = t == shape[1]
        what = shape[1]
    elif kind == 'int':
        ok = t == 'int' and d.get('v') == shape[1]
        what = str(shape[1])
    elif kind == 'bool':
        ok = t == 'bool' and d.get('v') is shape[1]
        what = str(shape[1])
    elif kind == 'str':
        ok = t == 'str' and d.get('v') == shape[1]
        what = '"%s"' % shape[1]
    elif kind == 'import':
        ok = _names_match(shape[1], shape[2], d.get('imp', ()))
        what = '%s:%s' % shape[1:]
    elif kind == 'made':
        ok = _names_match(shape[1], shape[2], d.get('made', ())) or \
            (t == 'str' and any((shape[1], shape[2]) in (p, _mapped(*p)) for p in STR_CALLABLES))
        what = '%s:%s()' % shape[1:]
    else:
        items = shape[1]
        if t != 'tuple' or d['n'] != len(items):
            return ('bad', '%s: shape has a %d-tuple, CPython passed %s'
                    % (path, len(items), describe_value(d)))
        for k, item in enumerate(items):
            described = d.get('i')
            if described is None or k >= len(described):
                if item[0] == 'any':
                    continue
                return ('unknown', '%s[%d]: not described by the oracle' % (path, k))
            why = shape_consistent(item, described[k], '%s[%d]' % (path, k))
            if why:
                return why
        return None
    return None if ok else ('bad', '%s: shape says %s, CPython passed %s' % (path, what, describe_value(d)))


# Which opcodes can make each stub call the argument models record: a class
# called (REDUCE, OBJ, INST with args), cls.__new__ (NEWOBJ, NEWOBJ_EX, OBJ
# and INST without args), the stubs' methods (BUILD, APPEND(S), ADDITEMS,
# SETITEM(S)), persistent_load; and an object planted where a method or
# __new__ is looked up (BUILD state, note 11) called instead of it.
EVENT_OPS = {
    '__call__': {'REDUCE', 'OBJ', 'INST', 'NEWOBJ', 'NEWOBJ_EX', 'BUILD', 'APPEND', 'APPENDS', 'ADDITEMS'},
    '__new__': {'NEWOBJ', 'NEWOBJ_EX', 'OBJ', 'INST'},
    '__setstate__': {'BUILD'},
    'extend': {'APPEND', 'APPENDS'},
    'append': {'APPEND', 'APPENDS'},
    'add': {'ADDITEMS'},
    '__setitem__': {'SETITEM', 'SETITEMS'},
    'persistent_load': {'PERSID', 'BINPERSID'},
}
# The opcodes whose calls show `args`.
ARGS_OPS = {'REDUCE', 'NEWOBJ', 'NEWOBJ_EX', 'OBJ', 'INST', 'BUILD', 'PERSID', 'BINPERSID'}
CALLING_OPS = ARGS_OPS | {'APPEND', 'APPENDS', 'ADDITEMS', 'SETITEM', 'SETITEMS'}
OP_CODES = {'REDUCE': b'R', 'NEWOBJ': b'\x81', 'NEWOBJ_EX': b'\x92', 'OBJ': b'o', 'INST': b'i',
            'BUILD': b'b', 'PERSID': b'P', 'BINPERSID': b'Q', 'APPEND': b'a', 'APPENDS': b'e',
            'ADDITEMS': b'\x90', 'SETITEM': b's', 'SETITEMS': b'u'}
CALLED_OPS = {'REDUCE', 'NEWOBJ', 'NEWOBJ_EX', 'OBJ', 'INST'}


def names_consistent(op, callable_name, ev):
    """None if the callable the scan names for a call by ${op} is what
    CPython called in the stub event ${ev}, else why not.  An unnamed
    callable (None) is always consistent: no rule allows it.  A called
    import is named module.qualname; a method (BUILD __setstate__,
    APPEND(S) extend, ADDITEMS add, SETITEM(S) __setitem__) is named after
    the import that made the instance it is looked up on, and has no name
    when it is looked up on an import itself or when a planted object is
    called instead of the method."""
    if callable_name is None:
        return None
    if '*' in callable_name:
        # An unknown part ("*", as for imports): it matches anything.
        pattern = re.compile('.*'.join(re.escape(part) for part in callable_name.split('*')), re.S)
        matches = lambda names: any(pattern.fullmatch(n) for n in names)
    else:
        matches = lambda names: callable_name in names
    what = ev.get('what', ev['kind'])
    if what == 'persistent_load':
        ok = matches({'persistent_load'})
        real = 'persistent_load'
    else:
        pairs = [tuple(p) for p in ev.get('callee', [])]
        full = {'%s.%s' % p for p in pairs} | {'%s.%s' % _mapped(*p) for p in pairs}
        if op in CALLED_OPS and what in ('__call__', '__new__'):
            ok = matches(full)
            real = ' or '.join(sorted(full)) or 'an object no import returned'
        elif what in ('__call__', '__new__'):
            ok = False
            real = 'an object planted in place of the method (%s)' % (
                ' or '.join(sorted(full)) or 'unnamed')
        else:
            ok = matches({n + '.' + what for n in full})
            real = ' or '.join(sorted(n + '.' + what for n in full)) or \
                '%s of an import itself or of an unnamed object' % what
    return None if ok else 'the scan names %s, CPython called %s' % (callable_name, real)


def expected_value(op, ev):
    """What an analyzer call by ${op} receives, from the stub event: the
    positional args as a tuple; for NEWOBJ_EX (args, kwargs); for BUILD
    and persistent ids the one argument."""
    argv = ev['argv']
    if op == 'NEWOBJ_EX':
        return {'t': 'tuple', 'n': 2, 'i': [argv, ev.get('kw', {'t': 'dict'})]}
    if op in ('BUILD', 'PERSID', 'BINPERSID'):
        if argv.get('n') != 1 or not argv.get('i'):
            return None
        return argv['i'][0]
    return argv


def check_args(case, reply, msgs, covered_end, results):
    """The args check for one case (module docstring): every stub call of
    the argument models is matched with the calls the scan reports for
    the opcode that made it (the one ending where the call happened); one
    of them must name what CPython called and, for the opcodes that show
    `args`, have a shape consistent with what it passed."""
    problems = []
    if 'crash' in reply:
        return problems
    data = case.data
    # Analyzer calls by the position just after their opcode.
    by_end = defaultdict(list)
    for m in msgs:
        base = m['offset'] + header_bytes(case, m)
        for c in m['calls']:
            if c.get('op') not in CALLING_OPS:
                continue
            start = base + c.get('pos', -1)
            if not 0 <= start < len(data) or data[start:start + 1] != OP_CODES[c['op']]:
                problems.append('ARGS: a %s call is reported at pos %s of the message at %d, '
                                'where the opcode is not %s' % (c['op'], c.get('pos'), m['offset'], c['op']))
                continue
            end = oracle.opcode_end(data, start)
            if end is None:
                problems.append('ARGS: the %s at %d does not end' % (c['op'], start))
                continue
            tree = None
            if c['op'] in ARGS_OPS:
                if 'args' not in c:
                    problems.append('ARGS: the %s call at %d reports no args' % (c['op'], start))
                    continue
                try:
                    tree = parse_shape(c['args'])
                except ShapeError as exc:
                    problems.append('ARGS: unparsable args %r of the %s call at %d: %s'
                                    % (c['args'], c['op'], start, exc))
                    continue
            by_end[end].append((m, c, tree))

    def stopped_before(near, at):
        """Did a message of the scan stop (a fatal reason) before this
        opcode ended?"""
        for m in near:
            base = m['offset'] + header_bytes(case, m)
            for r in m['reasons']:
                if r.get('code') not in NON_FATAL_REASONS and base + r.get('pos', 0) < at:
                    return True
        return False

    seen = set()
    for model in reply['models']:
        if not model.get('args_only'):
            continue
        ends = {}
        for load in model['loads']:
            ends.setdefault(load['start'], load['end'])
        for ev in model['events']:
            what = ev.get('what', ev['kind'])
            if what not in EVENT_OPS or 'argv' not in ev:
                continue
            if 'at' not in ev:
                results.stats['args: calls whose opcode the oracle cannot place (lying frames)'] += 1
                continue
            start, at = ev['start'], ev['at']
            if start >= covered_end:
                results.stats['args: calls after the scan stopped on a deny'] += 1
                continue
            end = max(ends.get(start, len(data)), start + 1)
            near = [m for m in msgs if m['offset'] < end and m['offset'] + max(m['length'], 1) > start]
            reported = [(m, c, tree) for m, c, tree in by_end.get(at, []) if m in near]
            fitting = [(m, c, tree) for m, c, tree in reported if c['op'] in EVENT_OPS[what]]
            key = (at, what, json.dumps(ev.get('callee')), json.dumps(ev['argv'], sort_keys=True),
                   json.dumps(ev.get('kw'), sort_keys=True))
            if key in seen:
                continue
            seen.add(key)
            callee = ' or '.join('%s.%s' % tuple(p) for p in ev.get('callee', [])) or ev.get('on', '-')
            # A server that read on after an error the scan stopped the
            # message for (denied whatever the rules say) runs what the
            # analysis no longer follows.
            if is_resume_model(model['model']) and stopped_before(near, at):
                results.stats['args: resumed calls after the analyzer stopped the message'] += 1
                continue
            if not fitting:
                if stopped_before(near, at):
                    results.stats['args: calls after the analyzer stopped the message'] += 1
                    continue
                problems.append('ARGS: CPython (%s) made a call (%s of %s) by the opcode ending at %d, '
                                'receiving %s; the scan reports %s there'
                                % (model['model'], what, callee, at, describe_value(ev['argv']),
                                   ', '.join('%s %s' % (c['op'], c.get('callable')) for _, c, _ in reported)
                                   or 'no call'))
                continue
            verdicts = []
            for m, c, tree in fitting:
                why = names_consistent(c['op'], c.get('callable'), ev)
                if why:
                    verdicts.append(('bad', why))
                    continue
                if tree is None:
                    verdicts.append(None)
                    continue
                value = expected_value(c['op'], ev)
                verdicts.append(shape_consistent(tree, value) if value is not None else
                                ('bad', 'CPython passed %s, not one argument' % describe_value(ev['argv'])))
            if any(v is None for v in verdicts):
                results.stats['args: calls checked'] += 1
                continue
            if any(v[0] == 'unknown' for v in verdicts):
                results.stats['args: calls the oracle described too little to check'] += 1
                continue
            shown = '; '.join('%s %s args %s (%s)' % (c['op'], c.get('callable'), c.get('args', '-'), v[1])
                              for (m, c, tree), v in zip(fitting, verdicts))
            value = expected_value(fitting[0][1]['op'], ev) if fitting[0][1]['op'] in ARGS_OPS else None
            problems.append('ARGS: CPython (%s) called %s (%s) by the opcode ending at %d, passing %s; '
                            'the scan claims otherwise: %s'
                            % (model['model'], callee, what, at,
                               describe_value(value or ev['argv'], 200), shown))
    return problems


# --------------------------------------------------------------- checks

def _match(reported, actual):
    return reported == '*' or reported == actual


def _covers(imp, module, name):
    rm = imp.get('raw_module', imp.get('module'))
    rn = imp.get('raw_name', imp.get('name'))
    return _match(rm, module) and _match(rn, name)


def _covers_event(imp, ev):
    """Does a reported import cover a find_class event: its raw names, and
    where the server's find_class mapped them (protocol < 3 at that
    moment: `mapped`), its names after mapping too?"""
    if not _covers(imp, ev['module'], ev['name']):
        return False
    mapped = ev.get('mapped')
    return not mapped or (_match(imp.get('module'), mapped[0]) and _match(imp.get('name'), mapped[1]))


def _fatal_reasons(msg):
    return [r.get('code', '?') for r in msg.get('reasons', []) if r.get('code') not in NON_FATAL_REASONS]


def header_bytes(case, msg):
    """Bytes of framing header before the pickle of a message."""
    if case.framing == 'len32':
        return 4
    if case.framing == 'mp':
        head = case.data[msg['offset']:msg['offset'] + 4]
        return 12 if head == b'\xff\xff\xff\xff' else 4
    return 0


def check_case(case, reply, scan, results):
    """Checks 1-3 (and reports) for one case; returns (problems, info)."""
    problems = list(scan['problems'])
    size = len(case.data)
    msgs = sorted(scan['lines'], key=lambda m: m.get('offset', 0))
    for m in msgs:
        for key in ('offset', 'length', 'verdict', 'imports', 'calls', 'reasons'):
            if key not in m:
                problems.append('output line lacks %r: %s' % (key, json.dumps(m)[:200]))
                return problems
    if not msgs and size:
        problems.append('no output line for a %d-byte input' % size)
        return problems
    events, failures, stub_calls = cpython_summary(reply, size)

    covered_end = size
    if msgs:
        last = msgs[-1]
        if last['verdict'] == 'deny' and last['offset'] + last['length'] < size:
            covered_end = last['offset'] + last['length']

    def overlapping(start, end):
        return [m for m in msgs if m['offset'] < end and m['offset'] + max(m['length'], 1) > start]

    def where(start, end):
        return 'load at [%d, %d)' % (start, end)

    # Where each find_class is known to have happened: the position just
    # after its opcode, as an exact reader (bytesio models) saw it.
    earliest_at = {}
    for model, start, end, ev in events:
        if ev['kind'] == 'find_class' and 'at' in ev:
            key = (ev['module'], ev['name'], start)
            earliest_at[key] = min(earliest_at.get(key, ev['at']), ev['at'])
        elif ev['kind'] == 'persistent_load' and 'at' in ev:
            key = ('persistent_load', start)
            earliest_at[key] = min(earliest_at.get(key, ev['at']), ev['at'])

    def by_design_stop_before(near, key):
        """Did a message stop on purpose before this find_class?"""
        for m in near:
            for r in m['reasons']:
                if BY_DESIGN_STOP.match(r.get('code', '')):
                    stop = m['offset'] + r.get('pos', 0) + header_bytes(case, m)
                    if key not in earliest_at or earliest_at[key] > stop:
                        return True
        return False

    def error_found_before(near, key):
        """Did the scan find a rule-independent error (a reason other
        than import/call: the message is denied whatever the rules say,
        so the proxy never delivers it) in a message before this event
        of a server that resumed after an error?  Only exact positions
        count."""
        for m in near:
            for r in m['reasons']:
                if r.get('code') in NON_FATAL_REASONS:
                    continue
                stop = m['offset'] + r.get('pos', 0) + header_bytes(case, m)
                if key in earliest_at and earliest_at[key] > stop:
                    return True
        return False

    # Names an exact reader's resumed server imported: a peeking reader's
    # unplaced load that imports the same is judged there, where the
    # position is known.
    exact_resumed = {(ev['module'], ev['name']) for model, start, end, ev in events
                     if ev['kind'] == 'find_class' and 'at' in ev and is_resume_model(model)}

    # 1. soundness
    seen = set()
    for model, start, end, ev in events:
        if ev.get('inexact') and ev['kind'] == 'find_class' and \
                (ev['module'], ev['name']) in exact_resumed:
            results.stats['resume: unplaced imports an exact reader also made (judged there)'] += 1
            continue
        if ev.get('inexact') and end > covered_end:
            # A peeking reader's load after an error: where it began is
            # not known (oracle._borrow_positions), so it may lie after
            # the cut.
            results.stats['resume: events of a peeking reader that may lie after the cut'] += 1
            results.exemptions.append((case.name, '%s of %s in a load ending at %d, not placed'
                                       % (ev['kind'], model, end)))
            continue
        if start >= covered_end:
            results.stats['events after the scan stopped on a deny'] += 1
            results.exemptions.append((case.name, '%s in a load at %d, after the scan stopped at %d'
                                       % (ev['kind'], start, covered_end)))
            continue
        near = overlapping(start, end)
        # Every model's event is checked against the messages its own load
        # overlaps; only the complaint is reported once.
        if ev['kind'] == 'find_class':
            if any(_covers_event(imp, ev) for m in near for imp in m['imports']):
                continue
            key = ('find_class', ev['module'], ev['name'], start, tuple(ev.get('mapped') or ()))
            if key in seen:
                continue
            seen.add(key)
            if by_design_stop_before(near, (ev['module'], ev['name'], start)):
                results.stats['imports after a by-design stop (exempt)'] += 1
                results.exemptions.append((case.name, 'find_class(%r, %r) after %s' % (
                    ev['module'], ev['name'], _brief(near))))
                continue
            if is_resume_model(model) and error_found_before(near, (ev['module'], ev['name'], start)):
                results.stats['resume: imports after the scan found an error in the message (exempt)'] += 1
                results.exemptions.append((case.name, 'find_class(%r, %r) by %s after %s' % (
                    ev['module'], ev['name'], model, _brief(near))))
                continue
            elsewhere = any(_covers_event(imp, ev) for m in msgs for imp in m['imports'])
            mapped = ev.get('mapped')
            if mapped and any(_covers(imp, ev['module'], ev['name']) for m in near for imp in m['imports']):
                what = ('; reported with these raw names, never with the names find_class maps them to '
                        'at protocol < 3 (%s.%s)' % tuple(mapped))
            else:
                what = '; not reported%s' % (' by that message (only by another)' if elsewhere else '')
            if mapped:
                what = ' at protocol < 3' + what
            problems.append('UNSOUND: CPython (%s, %s) called find_class(%r, %r)%s; scan said %s'
                            % (model, where(start, end), ev['module'], ev['name'], what,
                               _brief(near or msgs)))
        elif ev['kind'] == 'persistent_load':
            if any(c.get('op') in ('PERSID', 'BINPERSID') for m in near for c in m['calls']):
                continue
            key = ('persistent_load', start)
            if key in seen:
                continue
            seen.add(key)
            if any(BY_DESIGN_STOP.match(code) for m in near for code in _fatal_reasons(m)):
                continue
            if is_resume_model(model) and error_found_before(near, ('persistent_load', start)):
                results.stats['resume: persistent ids after the scan found an error in the message (exempt)'] += 1
                continue
            problems.append('UNSOUND: CPython (%s, %s) called persistent_load(%r); no PERSID/BINPERSID '
                            'call reported; scan said %s' % (model, where(start, end), ev.get('pid'),
                                                             _brief(near or msgs)))
    resume_stats(case, reply, msgs, covered_end, results)
    # 2. fail closed
    seen = set()
    for model, start, end, error in failures:
        if start >= covered_end:
            continue
        near = overlapping(start, end)
        if any(m['verdict'] == 'deny' for m in near):
            continue
        key = start
        if key in seen:
            continue
        seen.add(key)
        problems.append('FAIL-OPEN: CPython (%s, %s) raised %s; scan said %s'
                        % (model, where(start, end), error, _brief(near or msgs)))
    # 3. precision
    clean = not failures and not events and not stub_calls and size > 0
    if clean:
        allowed = all(m['verdict'] == 'allow' for m in msgs)
        if case.curated:
            if not allowed and case.name not in PRECISION_EXCEPTIONS:
                problems.append('IMPRECISE: CPython loaded it with no import or call in every model; '
                                'scan said %s' % _brief(msgs))
            if not allowed and case.name in PRECISION_EXCEPTIONS:
                results.stats['denied by a deliberate precision exception'] += 1
        else:
            results.stats['mutants CPython loads cleanly'] += 1
            if allowed:
                results.stats['mutants CPython loads cleanly: picklewall allows'] += 1
            else:
                results.stats['mutants CPython loads cleanly: picklewall denies'] += 1
                codes = sorted({r.get('code') for m in msgs for r in m['reasons']})
                results.stats['mutants CPython loads cleanly: denied for %s' % ','.join(codes)] += 1
    # args: shapes consistent with what CPython passed
    problems += check_args(case, reply, msgs, covered_end, results)
    # Exact shapes and names a crafted case expects (EXACT_SCAN_ARGS).
    if 'exact_lines' in scan:
        msgs = sorted(scan['exact_lines'], key=lambda m: m.get('offset', 0))
    reported = [c.get('args') for m in msgs for c in m['calls']]
    for shape in case.shapes:
        if shape not in reported:
            problems.append('SHAPE: expected a call with args %s; the scan reported %s'
                            % (shape, reported[:12]))
    # reports: names after mapping, exactly as the case writes them
    for expected in case.reports:
        module, name = expected[0], expected[1]
        raw = expected[2:] if len(expected) == 4 else (module, name)
        ok = False
        for m in msgs:
            for imp in m['imports']:
                if imp.get('module') == module and imp.get('name') == name and \
                        imp.get('raw_module', module) == raw[0] and imp.get('raw_name', name) == raw[1]:
                    ok = True
        if not ok:
            problems.append('REPORT: expected import %s.%s%s; scan reported %s'
                            % (module, name, '' if len(expected) == 2 else ' (raw %s.%s)' % raw,
                               _imports(msgs)))
    return problems


def _event_key(ev):
    return (ev['module'], ev['name'], tuple(ev.get('mapped') or ()))


def resume_stats(case, reply, msgs, covered_end, results):
    """Statistics of the servers that resume after an error: the imports
    only they make (checked like the others above), those only a fresh
    Unpickler over a small peeking reader makes (it resumes where its
    last peek began, maybe inside an opcode: oracle.INFO_MODELS, not
    checked, counted here with whether the scan happens to cover them),
    and for the crafted resume cases that should be judged on their names
    alone (`names_only`), whether they are."""
    if 'crash' in reply:
        return
    base, resumed, info = set(), [], []
    for model in reply['models']:
        if model.get('args_only'):
            continue
        for ev in model['events']:
            if ev['kind'] != 'find_class':
                continue
            if model.get('info_only'):
                info.append(ev)
            elif is_resume_model(model['model']):
                resumed.append(ev)
            else:
                base.add(_event_key(ev))
    if any(_event_key(ev) not in base for ev in resumed):
        results.stats['resume: cases where resuming servers import more'] += 1
    counted = set()
    for ev in resumed:
        key = _event_key(ev)
        if key in base or key in counted:
            continue
        counted.add(key)
        results.stats['resume: find_class only resuming servers make (checked)'] += 1
    resumed_keys = {_event_key(ev) for ev in resumed}
    for ev in info:
        key = _event_key(ev)
        if key in base or key in resumed_keys or key in counted:
            continue
        counted.add(key)
        if ev['start'] >= covered_end:
            state = 'after the scan stopped'
        elif any(_covers_event(imp, ev) for m in msgs for imp in m['imports']):
            state = 'reported'
        else:
            state = 'NOT reported'
        results.stats['resume: find_class only after a mid-opcode resume (not checked): %s' % state] += 1
    if case.curated and case.names_only:
        names = {(ev['module'], ev['name']) for ev in resumed} | {k[:2] for k in base}
        names |= {tuple(ev['mapped']) for ev in resumed if ev.get('mapped')}
        ok = all(r.get('code') in NON_FATAL_REASONS for m in msgs for r in m['reasons']) and \
            all((imp.get('module'), imp.get('name')) in names for m in msgs for imp in m['imports']) and \
            all(c.get('callable') for m in msgs for c in m['calls'] if c.get('op') in CALLED_OPS)
        results.stats['resume precision: streams with failing calls judged on their names alone: %s'
                      % ('yes' if ok else 'no')] += 1
        if not ok:
            results.exemptions.append((case.name, 'not judged on its names alone: %s' % _brief(msgs)))


def _imports(msgs):
    out = []
    for m in msgs:
        for imp in m['imports']:
            s = '%s.%s' % (imp.get('module'), imp.get('name'))
            if 'raw_module' in imp or 'raw_name' in imp:
                s += '(raw %s.%s)' % (imp.get('raw_module', imp.get('module')),
                                      imp.get('raw_name', imp.get('name')))
            out.append(s)
    return '[' + ', '.join(out) + ']'


def _brief(msgs):
    parts = []
    for m in msgs[:4]:
        reasons = ','.join(sorted({'%s@%s' % (r.get('code'), r.get('pos')) for r in m['reasons']}))
        parts.append('@%d+%d %s %s imports=%s' % (m['offset'], m['length'], m['verdict'],
                                                  reasons or '-', _imports([m])))
    if len(msgs) > 4:
        parts.append('... %d messages' % len(msgs))
    return '{' + '; '.join(parts) + '}' if parts else '{no message}'


# ----------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--binary', help='picklewall executable (build/asan/picklewall under make test)')
    ap.add_argument('--mutations', type=int, default=DEFAULT_MUTATIONS)
    ap.add_argument('--seed', type=int, default=DEFAULT_SEED)
    ap.add_argument('--args-programs', type=int, default=DEFAULT_ARGS_PROGRAMS,
                    help='random call-heavy programs for the args check (seed + 1)')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--verbose', action='store_true', help='list every exempted event')
    ap.add_argument('--scan-arg', action='append', default=[], metavar='ARG',
                    help='pass ARG to picklewall scan (repeatable), e.g. --scan-arg=--resume-after-error=no '
                         'to see what the resume cases catch in an analyzer that ignores resumption')
    ap.add_argument('--only', metavar='REGEX', help='run only the cases whose name matches REGEX')
    ap.add_argument('--oracle-only', action='store_true',
                    help='check the generator and the oracle against the cases, without a binary')
    args = ap.parse_args()
    if not args.binary and not args.oracle_only:
        ap.error('--binary is required (or --oracle-only)')

    t0 = time.monotonic()
    results = Results()
    curated = gen.curated_cases()
    mutants = gen.mutations(curated, args.mutations, args.seed)
    programs = gen.args_programs(args.args_programs, args.seed + 1)
    cases = curated + mutants + programs
    print('soundness: %d curated cases, %d mutations, %d args programs, seed %d'
          % (len(curated), len(mutants), len(programs), args.seed))
    SCAN_EXTRA_ARGS[:] = args.scan_arg

    check_coverage(curated, results)
    if args.only:
        cases = [c for c in cases if re.search(args.only, c.name)]
        curated = [c for c in curated if re.search(args.only, c.name)]
        print('--only %s: %d cases' % (args.only, len(cases)))

    replies = oracle.OraclePool(jobs=args.jobs).run([(c.data, c.framing) for c in cases])
    t1 = time.monotonic()
    print('oracle: %d inputs in %.1fs' % (len(cases), t1 - t0))
    check_bytes_path_emulation(cases, replies, results)
    for c, reply in zip(curated, replies):
        if c.imports is not None or c.raises is not None:
            results.record('cpython/' + c.group, c.name, check_cpython_expectations(c, reply), c)

    if not args.oracle_only:
        binary = os.path.abspath(args.binary)
        problem = None if os.access(binary, os.X_OK) else 'not an executable: %s' % binary
        problem = problem or probe_binary(binary)
        if problem:
            results.record('suite', 'picklewall scans a trivial pickle', [problem])
        else:
            workdir = tempfile.mkdtemp(prefix='pw-soundness-')
            try:
                scans, _ = scan_all(binary, cases, workdir, args.jobs)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            print('picklewall: %d inputs in %.1fs' % (len(cases), time.monotonic() - t1))
            for i, (c, reply) in enumerate(zip(cases, replies)):
                results.record(c.group, c.name, check_case(c, reply, scans[i], results), c)

    if args.verbose:
        for name, what in results.exemptions:
            print('exempt: %s: %s' % (name, what))
    report(results)
    passed, failed = results.totals()
    print('time: %.1fs' % (time.monotonic() - t0))
    print('%d passed, %d failed' % (passed, failed))
    return 0 if failed == 0 else 1


def report(results):
    categories = sorted(set(results.passed) | set(results.failed))
    print()
    for cat in categories:
        print('  %-20s %5d passed, %d failed' % (cat, results.passed[cat], len(results.failed[cat])))
    if results.stats:
        print()
        for key in sorted(results.stats):
            print('  %-60s %d' % (key, results.stats[key]))
    failures = [(cat, f) for cat in categories for f in results.failed[cat]]
    if os.path.isdir(FAILURE_DIR):      # inputs of an earlier run would mislead
        for entry in os.listdir(FAILURE_DIR):
            if entry.endswith('.pkl'):
                os.unlink(os.path.join(FAILURE_DIR, entry))
    if not failures:
        return
    os.makedirs(FAILURE_DIR, exist_ok=True)
    print()
    print('FAILURES')
    for n, (cat, (name, problems, case)) in enumerate(failures):
        path = None
        if case is not None:
            path = os.path.join(FAILURE_DIR, name.replace('/', '__') + '.pkl')
            with open(path, 'wb') as f:
                f.write(case.data)
        if n >= MAX_DETAILED_FAILURES:
            print('- %s: %s  (%s)' % (name, problems[0][:160], path))
            continue
        print('- %s [%s]%s' % (name, cat, (': ' + case.about) if case else ''))
        for p in problems:
            print('    ' + p)
        if case is not None:
            print('    input: %s%s' % (path, '' if case.framing == 'raw' else ' (framing %s)' % case.framing))
            print('\n'.join(hexdump(case.data)))
    print()


if __name__ == '__main__':
    try:
        sys.exit(main())
    except Exception:
        # The suite itself broke: say so, and still end with the count line.
        import traceback
        traceback.print_exc()
        print('0 passed, 1 failed')
        sys.exit(1)
