#!/usr/bin/python3
"""Rule tests: shipped policies against pickles made by real CPython.

    python3 tests/rules/run.py --binary build/picklewall [--python PATH]
        [--jobs 2] [--allow-skip] [--keep] [--selftest] [CASE_DIR ...]

A case is a directory tests/rules/<case>/ holding make.py (run as
`PYTHON make.py OUTDIR`, it writes OUTDIR/<name>.pkl, one client byte
stream per file), optional *.rules files and expect.json; see README.md
for the format.  Every .pkl is scanned with

    BINARY scan --rules RULES --framing F --format json [ARGS] FILE ...

(with --resume-after-error no for raw framing unless ARGS say otherwise)
and every JSON line (message) of a file must satisfy every expectation
whose "match" glob matches the file's stem.  A file no expectation
matches, and an expectation that matches no file, are failures too.

A directory with selftest.json instead checks the runner: its case is
run as usual and the failures reported must be exactly the ones
selftest.json lists (so a runner that stops detecting failures fails).
Without CASE_DIR arguments every case and every selftest under
tests/rules/ is run; --selftest runs only the selftests.

One check is one (file, expectation) pair, or one expected failure of a
selftest.  The last line is `N passed, M failed`; exit status 0 iff M is 0.
A make.py that cannot import a module (ModuleNotFoundError, or exit
status 77), or a missing interpreter, is a failure unless --allow-skip.
"""

import argparse
import concurrent.futures
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

EXIT_SKIP = 77                  # make.py: a module it needs is missing
MAKE_TIMEOUT_S = 600
SCAN_TIMEOUT_S = 600
FILES_PER_SCAN = 64
VERDICTS = ('allow', 'deny', 'would_deny')
FRAMINGS = ('raw', 'len32', 'mp')
CASE_KEYS = {'rules', 'framing', 'args', 'python', 'expect', 'comment'}
ENTRY_KEYS = {'match', 'verdict', 'rules', 'rules_include', 'rules_exclude',
              'reasons', 'comment'}
SELFTEST_KEYS = {'comment', 'runs'}
RUN_KEYS = {'allow_skip', 'passed', 'failures', 'skipped', 'comment'}
SANITIZER = re.compile(r'(AddressSanitizer|LeakSanitizer|MemorySanitizer|'
                       r'UndefinedBehaviorSanitizer|runtime error:)')


class Failure:
    """One failed check, or one failure of a case as a whole."""

    def __init__(self, kinds, message, file=None, match=None):
        self.kinds = sorted(kinds)      # what went wrong, for the selftest
        self.message = message
        self.file = file                # stem of the .pkl, if any
        self.match = match              # the expectation's glob, if any

    def key(self):
        return (self.file, self.match, tuple(self.kinds))


class Result:
    def __init__(self, case):
        self.case = case
        self.passed = 0
        self.failures = []
        self.skipped = None             # reason, if skipped
        self.lines = []                 # extra output (selftest notes)


def load_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def entry_text(entry):
    return json.dumps({k: v for k, v in entry.items() if k != 'comment'},
                      separators=(',', ':'))


def tail(text, n=12):
    lines = text.strip().splitlines()
    return ' | '.join(lines[-n:])


# ---- expect.json ---------------------------------------------------------

def check_spec(spec):
    """Problems with an expect.json, as text; [] if it is well formed."""
    errs = []
    if not isinstance(spec, dict):
        return ['expect.json: not an object']
    for k in sorted(set(spec) - CASE_KEYS):
        errs.append('expect.json: unknown key %r' % k)
    if not isinstance(spec.get('rules'), str):
        errs.append('expect.json: "rules" (a path) is required')
    if spec.get('framing', 'raw') not in FRAMINGS:
        errs.append('expect.json: framing %r is not one of %s'
                    % (spec.get('framing'), '|'.join(FRAMINGS)))
    args = spec.get('args', [])
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        errs.append('expect.json: "args" must be a list of strings')
    if 'python' in spec and not isinstance(spec['python'], str):
        errs.append('expect.json: "python" must be a string')
    entries = spec.get('expect')
    if not isinstance(entries, list) or not entries:
        errs.append('expect.json: "expect" must be a non-empty list')
        return errs
    for i, e in enumerate(entries):
        where = 'expect.json: expect[%d]' % i
        if not isinstance(e, dict):
            errs.append(where + ': not an object')
            continue
        for k in sorted(set(e) - ENTRY_KEYS):
            errs.append('%s: unknown key %r' % (where, k))
        if not isinstance(e.get('match'), str) or not e.get('match'):
            errs.append(where + ': "match" (a glob) is required')
        if e.get('verdict') not in VERDICTS:
            errs.append('%s: "verdict" must be one of %s'
                        % (where, '|'.join(VERDICTS)))
        for k in ('rules', 'rules_include', 'rules_exclude'):
            v = e.get(k, [])
            if not (isinstance(v, list) and
                    all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
                errs.append('%s: %r must be a list of rule ids' % (where, k))
        r = e.get('reasons', [])
        if not (isinstance(r, list) and all(isinstance(x, str) for x in r)):
            errs.append(where + ': "reasons" must be a list of reason codes')
    return errs


def resolve_rules(case_dir, path):
    """A rules path is looked up in the case directory, then the repo root."""
    if os.path.isabs(path):
        return path if os.path.isfile(path) else None
    for base in (case_dir, ROOT):
        p = os.path.join(base, path)
        if os.path.isfile(p):
            return p
    return None


# ---- make.py ---------------------------------------------------------------

def run_make(case_dir, python, outdir, res, allow_skip):
    """Runs make.py; returns True if it produced its files."""
    if shutil.which(python) is None and not os.access(python, os.X_OK):
        why = 'interpreter %s not found' % python
        if allow_skip:
            res.skipped = why
        else:
            res.failures.append(Failure(['missing-python'], 'make.py: %s '
                                        '(--allow-skip skips such cases)' % why))
        return False
    env = dict(os.environ, PYTHONHASHSEED='0', PYTHONDONTWRITEBYTECODE='1')
    try:
        p = subprocess.run([python, 'make.py', outdir], cwd=case_dir, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, errors='replace', timeout=MAKE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        res.failures.append(Failure(['make'], 'make.py: timed out after %ds'
                                    % MAKE_TIMEOUT_S))
        return False
    if p.returncode == 0:
        return True
    m = re.search(r"ModuleNotFoundError: No module named '([^']+)'", p.stderr)
    if m or p.returncode == EXIT_SKIP:
        why = ('module %s is missing' % m.group(1)) if m else tail(p.stderr, 2)
        if allow_skip:
            res.skipped = 'make.py: ' + why
        else:
            res.failures.append(Failure(['missing-module'], 'make.py: %s '
                                        '(--allow-skip skips such cases)' % why))
        return False
    res.failures.append(Failure(['make'], 'make.py: exit status %d: %s'
                                % (p.returncode, tail(p.stderr))))
    return False


# ---- scanning --------------------------------------------------------------

def resume_args(framing, args):
    """A raw file here is what a producer wrote, read as its own server
    reads it; the servers that read on after an unpickling error, and
    what picklewall denies for them, are tested in tests/cli and
    tests/e2e.  So raw files are scanned as for a server that stops at the
    first error, unless the case's args say otherwise."""
    if framing != 'raw' or any(a.startswith('--resume-after-error')
                               for a in args):
        return []
    return ['--resume-after-error', 'no']


def scan(binary, rules, framing, args, paths, res):
    """Scans the files; returns {path: [json record, ...]}."""
    out = {p: [] for p in paths}
    for i in range(0, len(paths), FILES_PER_SCAN):
        chunk = paths[i:i + FILES_PER_SCAN]
        cmd = [binary, 'scan', '--rules', rules, '--framing', framing,
               '--format', 'json'] + resume_args(framing, args) + args + chunk
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=SCAN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            res.failures.append(Failure(['scan'], 'scan timed out after %ds: %s'
                                        % (SCAN_TIMEOUT_S, ' '.join(cmd[:8]))))
            continue
        stderr = p.stderr.decode('utf-8', 'replace')
        shown = ' '.join(cmd[:8] + ['FILE...'])
        if p.returncode not in (0, 1) or SANITIZER.search(stderr):
            res.failures.append(Failure(['scan'], '%s: exit status %d: %s'
                                        % (shown, p.returncode, tail(stderr))))
        denied = False
        for n, line in enumerate(p.stdout.decode('utf-8', 'replace').splitlines()):
            try:
                rec = json.loads(line)
                out[rec['file']].append(rec)
                denied |= rec.get('verdict') == 'deny'
            except (ValueError, KeyError, TypeError) as e:
                res.failures.append(Failure(['scan'], '%s: output line %d is not '
                                            'a record of a scanned file (%s): %.200s'
                                            % (shown, n + 1, e, line)))
        if denied and p.returncode == 0:
            res.failures.append(Failure(['scan'], '%s: exit status 0 although a '
                                        'message was denied' % shown))
    return out


def seen_text(recs):
    """What the scan reported for one file, short enough for one line."""
    parts = []
    for r in recs:
        s = '@%s %s' % (r.get('offset'), r.get('verdict'))
        reasons = ['%s(%s)' % (x.get('code'), x.get('detail', ''))
                   for x in r.get('reasons', [])]
        if reasons:
            s += ' reasons ' + ', '.join(reasons[:6]) + (' ...' if len(reasons) > 6 else '')
        rules = ['%s:%s:%s' % (x.get('id'), x.get('action'), x.get('matched'))
                 for x in r.get('rules', [])]
        s += ' rules [' + ', '.join(rules[:8]) + (' ...' if len(rules) > 8 else '') + ']'
        parts.append(s)
    if len(parts) > 4:
        parts = parts[:4] + ['... %d messages in all' % len(parts)]
    return '; '.join(parts)


def check(recs, entry):
    """Problems of one file against one expectation: [(kind, text)]."""
    if not recs:
        return [('no-output', 'the scan printed no record for this file')]
    probs = []
    bad = [r for r in recs if r.get('verdict') != entry['verdict']]
    if bad:
        probs.append(('verdict', '%d of %d messages not %s'
                      % (len(bad), len(recs), entry['verdict'])))
    want = entry.get('reasons', [])
    for r in recs:
        missing = sorted(set(want) - {x.get('code') for x in r.get('reasons', [])})
        if missing:
            probs.append(('reasons', 'message @%s lacks reason %s'
                          % (r.get('offset'), ', '.join(missing))))
            break
    ids = {x.get('id') for r in recs for x in r.get('rules', [])}
    if 'rules' in entry and ids != set(entry['rules']):
        probs.append(('rules', 'rule ids %s, expected exactly %s'
                      % (sorted(ids), sorted(set(entry['rules'])))))
    missing = sorted(set(entry.get('rules_include', [])) - ids)
    if missing:
        probs.append(('rules_include', 'rule ids %s not reported' % missing))
    extra = sorted(set(entry.get('rules_exclude', [])) & ids)
    if extra:
        probs.append(('rules_exclude', 'rule ids %s reported' % extra))
    return probs


# ---- one case ----------------------------------------------------------------

def run_case(case_dir, opts, allow_skip, tmp_root):
    case = os.path.basename(os.path.normpath(case_dir))
    res = Result(case)
    try:
        spec = load_json(os.path.join(case_dir, 'expect.json'))
    except (OSError, ValueError) as e:
        res.failures.append(Failure(['expect-json'], 'expect.json: %s' % e))
        return res
    errs = check_spec(spec)
    rules = resolve_rules(case_dir, spec['rules']) if not errs else None
    if not errs and rules is None:
        errs.append('expect.json: rules file %r not found in the case '
                    'directory or the repository' % spec['rules'])
    if errs:
        res.failures.extend(Failure(['expect-json'], e) for e in errs)
        return res
    outdir = os.path.join(tmp_root, case)
    os.makedirs(outdir)
    python = spec.get('python', opts.python)
    if not run_make(case_dir, python, outdir, res, allow_skip):
        return res
    names = sorted(n for n in os.listdir(outdir) if n.endswith('.pkl'))
    if not names:
        res.failures.append(Failure(['make'], 'make.py wrote no .pkl file'))
        return res
    paths = [os.path.join(outdir, n) for n in names]
    recs = scan(opts.binary, rules, spec.get('framing', 'raw'),
                spec.get('args', []), paths, res)
    entries = spec['expect']
    used = [False] * len(entries)
    for name, path in zip(names, paths):
        stem = name[:-len('.pkl')]
        matching = [i for i, e in enumerate(entries)
                    if fnmatch.fnmatchcase(stem, e['match'])]
        if not matching:
            res.failures.append(Failure(
                ['unmatched-file'], '%s/%s: no expectation matches this file; '
                'seen: %s' % (case, name, seen_text(recs[path])), file=stem))
        for i in matching:
            used[i] = True
            probs = check(recs[path], entries[i])
            if not probs:
                res.passed += 1
                continue
            res.failures.append(Failure(
                [k for k, _ in probs], '%s/%s: expect %s: %s; seen: %s'
                % (case, name, entry_text(entries[i]),
                   '; '.join(t for _, t in probs), seen_text(recs[path])),
                file=stem, match=entries[i]['match']))
    for i, e in enumerate(entries):
        if not used[i]:
            res.failures.append(Failure(
                ['unused-entry'], '%s: expect %s matches no file (made: %s)'
                % (case, entry_text(e), ', '.join(names[:10]) +
                   (' ...' if len(names) > 10 else '')), match=e['match']))
    return res


# ---- selftests -------------------------------------------------------------

def run_selftest(case_dir, opts, tmp_root):
    """Runs the case once per run in selftest.json; the failures the runner
    reports must be exactly the ones listed, and the passed count equal."""
    case = os.path.basename(os.path.normpath(case_dir))
    res = Result(case)
    try:
        spec = load_json(os.path.join(case_dir, 'selftest.json'))
        runs = spec['runs']
        assert isinstance(runs, list) and runs and not set(spec) - SELFTEST_KEYS
        assert all(isinstance(r, dict) and not set(r) - RUN_KEYS for r in runs)
    except (OSError, ValueError, KeyError, AssertionError) as e:
        res.failures.append(Failure(['selftest'], '%s/selftest.json: malformed (%s)'
                                    % (case, e or 'unknown key')))
        return res
    for n, run in enumerate(runs):
        allow_skip = bool(run.get('allow_skip', False))
        label = '%s: selftest run %d (allow_skip %s)' % (case, n + 1, allow_skip)
        got = run_case(case_dir, opts, allow_skip, os.path.join(tmp_root, 'run%d' % n))
        if bool(got.skipped) != bool(run.get('skipped', False)):
            res.failures.append(Failure(['selftest'], '%s: skipped is %s (%s), '
                                        'expected %s' % (label, bool(got.skipped),
                                                         got.skipped,
                                                         bool(run.get('skipped')))))
        else:
            res.passed += 1
        want = {}
        for f in run.get('failures', []):
            k = (f.get('file'), f.get('match'), tuple(sorted(f.get('kinds', []))))
            want[k] = want.get(k, 0) + 1
        have = {}
        for f in got.failures:
            have.setdefault(f.key(), []).append(f)
        for k, count in sorted(want.items(), key=repr):
            n_have = len(have.get(k, []))
            res.passed += min(count, n_have)
            if n_have < count:
                res.failures.append(Failure(['selftest'], '%s: the runner did not '
                                            'report the failure file=%s match=%s kinds=%s'
                                            % (label, k[0], k[1], ','.join(k[2]))))
        for k, fs in sorted(have.items(), key=lambda kv: repr(kv[0])):
            for f in fs[want.get(k, 0):]:
                res.failures.append(Failure(['selftest'], '%s: unexpected failure: %s'
                                            % (label, f.message)))
        if 'passed' in run:
            if got.passed != run['passed']:
                res.failures.append(Failure(['selftest'], '%s: %d checks passed, '
                                            'expected %d' % (label, got.passed,
                                                             run['passed'])))
            else:
                res.passed += 1
    return res


# ---- main ------------------------------------------------------------------

def discover(selftest_only):
    cases = []
    for name in sorted(os.listdir(HERE)):
        d = os.path.join(HERE, name)
        if os.path.isfile(os.path.join(d, 'selftest.json')):
            cases.append(d)
        elif not selftest_only and os.path.isfile(os.path.join(d, 'expect.json')):
            cases.append(d)
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--binary', required=True, help='picklewall binary')
    ap.add_argument('--python', default=sys.executable,
                    help='interpreter for make.py (default: this one)')
    ap.add_argument('--jobs', type=int, default=2, help='cases run in parallel')
    ap.add_argument('--allow-skip', action='store_true',
                    help='skip, not fail, cases whose make.py lacks a module')
    ap.add_argument('--selftest', action='store_true',
                    help='run only the runner selftests')
    ap.add_argument('--keep', action='store_true',
                    help='keep the generated pickles (the directory is printed)')
    ap.add_argument('cases', nargs='*', metavar='CASE_DIR')
    opts = ap.parse_args()
    opts.binary = os.path.abspath(opts.binary)
    if not os.access(opts.binary, os.X_OK):
        print('run.py: %s is not an executable' % opts.binary, file=sys.stderr)
        return 2
    cases = [os.path.abspath(c) for c in opts.cases] or discover(opts.selftest)
    for c in cases:
        if not (os.path.isfile(os.path.join(c, 'expect.json')) or
                os.path.isfile(os.path.join(c, 'selftest.json'))):
            print('run.py: %s has no expect.json' % c, file=sys.stderr)
            return 2
    names = [os.path.basename(os.path.normpath(c)) for c in cases]
    if len(set(names)) != len(names):
        print('run.py: two cases with the same name', file=sys.stderr)
        return 2
    tmp_root = tempfile.mkdtemp(prefix='picklewall-rules-')

    def one(case_dir):
        tmp = os.path.join(tmp_root, os.path.basename(os.path.normpath(case_dir)))
        os.makedirs(tmp)
        try:
            if os.path.isfile(os.path.join(case_dir, 'selftest.json')):
                return run_selftest(case_dir, opts, tmp)
            return run_case(case_dir, opts, opts.allow_skip, tmp)
        except Exception as e:          # a runner bug is a failure, not a crash
            r = Result(os.path.basename(os.path.normpath(case_dir)))
            r.failures.append(Failure(['runner'], 'runner error: %r' % e))
            return r
        finally:
            if not opts.keep:
                shutil.rmtree(tmp, ignore_errors=True)

    passed = failed = 0
    with concurrent.futures.ThreadPoolExecutor(max(1, opts.jobs)) as ex:
        for res in ex.map(one, cases):      # results in case order
            for f in res.failures:
                print('FAIL ' + (f.message if f.message.startswith(res.case)
                                 else '%s: %s' % (res.case, f.message)))
            if res.skipped:
                print('SKIP %s: %s' % (res.case, res.skipped))
            else:
                print('%-4s %s: %d passed, %d failed'
                      % ('ok' if not res.failures else 'FAIL', res.case,
                         res.passed, len(res.failures)))
            sys.stdout.flush()
            passed += res.passed
            failed += len(res.failures)
    if opts.keep:
        print('generated pickles kept in %s' % tmp_root)
    else:
        shutil.rmtree(tmp_root, ignore_errors=True)
    print('%d passed, %d failed' % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
