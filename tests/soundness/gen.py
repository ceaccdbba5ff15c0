"""Deterministic test cases for the soundness suite.

curated_cases() returns the benign corpus (pickle.dumps of stdlib values at
protocols 0-5), real pickler traffic that imports, and hand-assembled cases,
one or more for each numbered point of shared/PICKLE-NOTES.md.  Each case
says what it exercises and, where the notes pin it down, what CPython does:

  imports  the exact set of (module, name) that find_class receives, raw
           (before the _compat_pickle mapping), in any server model of the
           servers that give up at their first error;
  resume_imports  the same for all servers, those that call load() again
           after an error included (oracle.py "-resume" models); by
           default equal to imports;
  raises   whether CPython raises in at least one server model (a raise
           of a `fail*` stub or of module `nomod` is on purpose, not an
           unpickling error);
  reports  (module, name[, raw_module, raw_name]) that picklewall must
           report exactly, after mapping (notes 5, 19);
  shapes   `args` shapes (rules/REFERENCE.md) that some reported call must
           show exactly (whether every shape is consistent with what
           CPython passed is checked for every case anyway).

mutations(cases, count, seed) derives byte-level mutants from the corpus and
random stack-aware opcode programs.

Cases are assembled with asm(), which takes opcode names from pickletools so
a case reads as a disassembly:
    asm(('PROTO', 2), ('GLOBAL', 'os', 'system'), ('STRING', "'ls'"),
        'TUPLE1', 'REDUCE', 'STOP')
Data given as bytes gets its length field; Raw(b'...') is written verbatim
after the opcode byte (for lying lengths), and so are bytes given for a line
(newline included) or a fixed-width field.
"""

import argparse
import collections
import datetime
import decimal
import functools
import logging
import os
import pickle
import pickletools
import random
import struct
import subprocess
from dataclasses import dataclass

from oracle import EXTENSIONS

OPCODES = {op.name: op for op in pickletools.opcodes}


@dataclass
class Case:
    name: str           # group/short_name, unique
    group: str
    data: bytes
    about: str          # what the case exercises, one line
    notes: tuple = ()   # numbered points of PICKLE-NOTES.md it covers
    framing: str = 'raw'
    imports: frozenset = None
    raises: bool = None
    reports: tuple = ()
    curated: bool = True
    shapes: tuple = ()
    resume_imports: frozenset = None
    names_only: bool = False


# ------------------------------------------------------------- assembler

def _line(text):
    if isinstance(text, bytes):
        return text
    return text.encode('utf-8', 'surrogatepass') + b'\n'


class Raw(bytes):
    """Bytes written verbatim after the opcode, length field included."""


DATA_KINDS = ('string1', 'string4', 'bytes1', 'bytes4', 'bytes8', 'bytearray8',
              'unicodestring1', 'unicodestring4', 'unicodestring8')


def _encode_arg(op, args):
    kind = op.arg.name if op.arg else None
    if len(args) == 1 and isinstance(args[0], Raw):
        return bytes(args[0])
    if len(args) == 1 and isinstance(args[0], bytes) and kind not in DATA_KINDS:
        return args[0]      # a line (newline included) or a fixed field, as is
    if kind is None:
        assert not args, op.name
        return b''
    (value, *rest) = args
    fixed = {'uint1': '<B', 'uint2': '<H', 'uint4': '<I', 'uint8': '<Q',
             'int4': '<i', 'float8': '>d'}
    if kind in fixed:
        return struct.pack(fixed[kind], value)
    if kind == 'stringnl_noescape_pair':
        name = rest[0] if rest else None
        module, name = (value, name) if name is not None else value.split(' ', 1)
        return _line(module) + _line(name)
    if kind in ('stringnl', 'stringnl_noescape', 'decimalnl_short',
                'decimalnl_long', 'floatnl', 'unicodestringnl'):
        return _line(str(value))
    if kind in ('long1', 'long4'):
        raw = pickle.encode_long(value)
        return struct.pack('<B' if kind == 'long1' else '<i', len(raw)) + raw
    if isinstance(value, str):
        value = (value.encode('latin-1') if kind.startswith('string')
                 else value.encode('utf-8', 'surrogatepass'))
    width = {'string1': '<B', 'bytes1': '<B', 'unicodestring1': '<B',
             'string4': '<I', 'bytes4': '<I', 'unicodestring4': '<I',
             'bytes8': '<Q', 'bytearray8': '<Q', 'unicodestring8': '<Q'}[kind]
    return struct.pack(width, len(value)) + bytes(value)


def asm(*ops):
    """Assemble opcodes: a name, a (name, args...) tuple, raw bytes, or a
    list of those."""
    out = b''
    for item in ops:
        if isinstance(item, (bytes, bytearray)):
            out += item
        elif isinstance(item, list):
            out += asm(*item)
        elif isinstance(item, str):
            out += OPCODES[item].code.encode('latin-1')
        else:
            op = OPCODES[item[0]]
            out += op.code.encode('latin-1') + _encode_arg(op, item[1:])
    return out


def sg(module, name):
    """STACK_GLOBAL over two SHORT_BINUNICODE operands."""
    return [('SHORT_BINUNICODE', module), ('SHORT_BINUNICODE', name), 'STACK_GLOBAL']


def u(text):
    return ('SHORT_BINUNICODE', text)


def frame(payload):
    """A FRAME that holds exactly `payload`."""
    return [('FRAME', len(payload)), payload]


# --------------------------------------------------------- crafted cases

CASES = []


def case(group, short, about, data, notes=(), imports=None, raises=None,
         reports=(), framing='raw', shapes=(), resume_imports=None, names_only=False):
    CASES.append(Case(group + '/' + short, group, data, about, tuple(notes), framing,
                      None if imports is None else frozenset(imports), raises,
                      tuple(reports), shapes=tuple(shapes),
                      resume_imports=None if resume_imports is None else frozenset(resume_imports),
                      names_only=names_only))


OS_SYSTEM = {('os', 'system')}
_SHARED_FOR_RESUME = (lambda a: [a, a, {'k': a, 'self': 'x' * 3}])([1, 'two', (3,)])

# -- names (notes 1, 2, 3) --------------------------------------------------

case('names', 'sg_from_STRING_hex_escape', "STRING is escape-decoded: S'o\\x73' is os",
     asm(('STRING', r"'o\x73'"), ('STRING', "'system'"), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports=OS_SYSTEM, raises=False)
case('names', 'sg_from_STRING_octal_escape', "STRING octal escape: S'o\\163' is os",
     asm(('STRING', r"'o\163'"), ('STRING', '"system"'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports=OS_SYSTEM, raises=False)
case('names', 'sg_from_BINSTRING', 'BINSTRING pushes str, a valid STACK_GLOBAL operand',
     asm(('BINSTRING', 'os'), ('BINSTRING', 'system'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports=OS_SYSTEM, raises=False)
case('names', 'sg_from_SHORT_BINSTRING', 'SHORT_BINSTRING pushes str (ASCII-decoded)',
     asm(('SHORT_BINSTRING', 'os'), ('SHORT_BINSTRING', 'system'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports=OS_SYSTEM, raises=False)
case('names', 'sg_from_UNICODE_raw_escape', 'UNICODE is raw-unicode-escape: V\\u006fs is os',
     asm(('UNICODE', r'\u006fs'), ('UNICODE', r'sys\u0074em'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports=OS_SYSTEM, raises=False)
case('names', 'sg_from_UNICODE_backslash_x_literal', 'raw-unicode-escape keeps \\x73 literally',
     asm(('UNICODE', r'o\x73'), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports={('o\\x73', 'system')}, raises=False)
case('names', 'sg_from_BINUNICODE', 'BINUNICODE operands',
     asm(('BINUNICODE', 'os'), ('BINUNICODE', 'system'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports=OS_SYSTEM, raises=False)
case('names', 'sg_from_BINUNICODE8', 'BINUNICODE8 operands',
     asm(('BINUNICODE8', 'os'), ('BINUNICODE8', 'system'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports=OS_SYSTEM, raises=False)
case('names', 'sg_BINUNICODE_lone_surrogate', 'BINUNICODE allows a lone surrogate in a module name',
     asm(('BINUNICODE', '\ud800os'), ('SHORT_BINUNICODE', 'sys\udfffem'), 'STACK_GLOBAL', 'STOP'),
     notes=[1, 19], imports={('\ud800os', 'sys\udfffem')}, raises=False,
     reports=[('\ud800os', 'sys\udfffem')])
case('names', 'sg_UNICODE_lone_surrogate', 'UNICODE \\ud800 escape gives a lone surrogate',
     asm(('UNICODE', r'\ud800'), u('x'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports={('\ud800', 'x')}, raises=False)
case('names', 'STRING_non_ascii_raises', 'STRING bytes are ASCII-decoded: \\xff fails',
     asm(('STRING', r"'\xff'"), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports=set(), raises=True)
case('names', 'SHORT_BINSTRING_non_ascii_raises', 'SHORT_BINSTRING with a non-ASCII byte fails',
     asm(('SHORT_BINSTRING', b'\xc3\xa9'), 'STOP'),
     notes=[1], imports=set(), raises=True)
case('names', 'STRING_unquoted_raises', 'STRING must be quoted',
     asm(('STRING', 'os'), 'STOP'), notes=[1], imports=set(), raises=True)
case('names', 'STRING_mismatched_quotes_raises', 'STRING quotes must match',
     asm(('STRING', '\'os"'), 'STOP'), notes=[1], imports=set(), raises=True)
case('names', 'STRING_backslash_u_literal', "STRING knows no \\u escape: S'o\\u0073' is o\\u0073",
     asm(('STRING', r"'o\u0073'"), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports={('o\\u0073', 'system')}, raises=False)
case('names', 'STRING_escaped_quote', "S'a\\'b' is a'b",
     asm(('STRING', r"'o\'s'"), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports={("o's", 'system')}, raises=False)
case('names', 'STRING_trailing_backslash_raises', 'a trailing backslash is an error',
     asm(('STRING', "'os\\'"), 'STOP'), notes=[1], imports=set(), raises=True)
case('names', 'STRING_short_hex_escape_raises', '\\x4 is an invalid escape',
     asm(('STRING', r"'\x4'"), 'STOP'), notes=[1], imports=set(), raises=True)
case('names', 'UNICODE_double_backslash_literal', 'raw-unicode-escape: \\\\u006f is not an escape',
     asm(('UNICODE', r'\\u006fs'), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports={('\\\\u006fs', 'system')}, raises=False)
case('names', 'UNICODE_astral_escape', 'raw-unicode-escape \\U0001F600',
     asm(('UNICODE', r'\U0001F600'), u('x'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports={('\U0001F600', 'x')}, raises=False)
case('names', 'UNICODE_truncated_escape_raises', 'raw-unicode-escape \\u00 is truncated',
     asm(('UNICODE', r'\u00'), 'STOP'), notes=[1], imports=set(), raises=True)
case('names', 'SHORT_BINUNICODE_invalid_utf8_raises', 'SHORT_BINUNICODE allows surrogates, not \\xff',
     asm(('SHORT_BINUNICODE', b'\xff'), 'STOP'), notes=[1], imports=set(), raises=True)
case('names', 'sg_operand_DUP', 'DUP makes both operands',
     asm(u('os'), 'DUP', 'STACK_GLOBAL', 'STOP'), notes=[3], imports={('os', 'os')}, raises=False)
case('names', 'sg_operand_survives_BUILD_None', 'BUILD None on a str leaves the str as an operand',
     asm(u('os'), 'NONE', 'BUILD', u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 11], imports=OS_SYSTEM, raises=False)
case('names', 'sg_operand_survives_BUILD_empty_slotstate', 'BUILD (None, {}) on a str leaves the str',
     asm(u('os'), 'NONE', 'EMPTY_DICT', 'TUPLE2', 'BUILD', u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 11], imports=OS_SYSTEM, raises=False)
case('names', 'sg_operand_survives_empty_APPENDS', 'an empty APPENDS on a str leaves the str',
     asm(u('os'), 'MARK', 'APPENDS', u('system'), 'MARK', 'SETITEMS', 'STACK_GLOBAL', 'STOP'),
     notes=[3, 10], imports=OS_SYSTEM, raises=False)
case('names', 'sg_operand_survives_READONLY_BUFFER_raises', 'memoryview(str) fails',
     asm(u('os'), 'READONLY_BUFFER', u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3], imports=set(), raises=True)
case('names', 'BUILD_slotstate_on_str_raises', 'setattr on a str fails',
     asm(u('os'), 'NONE', 'EMPTY_DICT', u('a'), 'NONE', 'SETITEM', 'TUPLE2', 'BUILD', 'STOP'),
     notes=[11], imports=set(), raises=True)
case('names', 'sg_module_attribute_from_previous_pickle', 'a stream memo holds os.__name__ for pickle 2',
     asm(('GLOBAL', 'os', '__name__'), ('BINPUT', 0), 'STOP', ('BINGET', 0), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 8], imports={('os', '__name__'), ('os', 'system')}, raises=True)
case('names', 'sg_bytes_operand_raises', 'STACK_GLOBAL requires str: bytes fail',
     asm(('SHORT_BINBYTES', b'os'), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[1], imports=set(), raises=True)
case('names', 'GLOBAL_utf8_module', 'GLOBAL lines are UTF-8',
     asm(('GLOBAL', b'\xc3\xa9\nx\n'), 'STOP'),
     notes=[2], imports={('\xe9', 'x')}, raises=False, reports=[('\xe9', 'x')])
case('names', 'GLOBAL_invalid_utf8_raises', 'GLOBAL with invalid UTF-8 fails',
     asm(('GLOBAL', b'\xff\nx\n'), 'STOP'), notes=[2], imports=set(), raises=True)
case('names', 'GLOBAL_encoded_surrogate_raises', 'GLOBAL is strict UTF-8: an encoded surrogate fails',
     asm(('GLOBAL', b'\xed\xa0\x80\nx\n'), 'STOP'), notes=[2], imports=set(), raises=True)
case('names', 'INST_non_ascii_raises', 'INST lines are ASCII',
     asm('MARK', ('INST', b'\xc3\xa9\nx\n'), 'STOP'), notes=[2], imports=set(), raises=True)
case('names', 'GLOBAL_eof_before_newline_raises', 'a GLOBAL line must end in \\n',
     asm(('GLOBAL', b'os\nsystem')), notes=[2], imports=set(), raises=True)
case('names', 'GLOBAL_empty_module_raises', 'an empty module is an error',
     asm(('GLOBAL', b'\nsystem\n'), 'STOP'), notes=[2], imports=set(), raises=True)
case('names', 'GLOBAL_empty_name_raises', 'an empty name is an error',
     asm(('GLOBAL', b'os\n\n'), 'STOP'), notes=[2], imports=set(), raises=True)
case('names', 'GLOBAL_cr_kept', 'nothing is stripped: os\\r is another module',
     asm(('GLOBAL', b'os\r\nsystem\n'), 'STOP'),
     notes=[2], imports={('os\r', 'system')}, raises=False, reports=[('os\r', 'system')])
case('names', 'GLOBAL_spaces_kept', 'leading and trailing spaces are part of the names',
     asm(('GLOBAL', b' os\nsystem \n'), 'STOP'),
     notes=[2], imports={(' os', 'system ')}, raises=False, reports=[(' os', 'system ')])
case('names', 'GLOBAL_embedded_nul_kept', 'a NUL inside a GLOBAL line is part of the name',
     asm(('GLOBAL', b'os\x00junk\nsystem\n'), 'STOP'),
     notes=[2], imports={('os\x00junk', 'system')}, raises=False)
case('names', 'INST_cr_kept', 'INST keeps \\r in the module',
     asm('MARK', ('INST', b'os\r\nsystem\n'), 'STOP'),
     notes=[2, 12], imports={('os\r', 'system')}, raises=False)
case('names', 'sg_operand_from_call', 'STACK_GLOBAL module computed by builtins.str(\'os\')',
     asm(('GLOBAL', 'builtins', 'str'), u('os'), 'TUPLE1', 'REDUCE', u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3], imports={('builtins', 'str'), ('os', 'system')}, raises=False)
case('names', 'sg_operand_from_NEWOBJ', "NEWOBJ str('os') is a run-time operand",
     asm(('GLOBAL', 'builtins', 'str'), u('os'), 'TUPLE1', 'NEWOBJ', u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 12], imports={('builtins', 'str'), ('os', 'system')}, raises=False)
case('names', 'sg_operand_from_OBJ', "OBJ str('os') is a run-time operand",
     asm('MARK', ('GLOBAL', 'builtins', 'str'), u('os'), 'OBJ', u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 12], imports={('builtins', 'str'), ('os', 'system')}, raises=False)
case('names', 'sg_operand_from_INST', "INST builtins str ('os') is a run-time operand",
     asm('MARK', u('os'), ('INST', 'builtins', 'str'), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 12], imports={('builtins', 'str'), ('os', 'system')}, raises=False)
case('names', 'sg_operand_from_module_attribute', 'GLOBAL os __name__ yields the str os',
     asm(('GLOBAL', 'os', '__name__'), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3], imports={('os', '__name__'), ('os', 'system')}, raises=False)
case('names', 'sg_name_from_module_attribute', 'the name half computed: GLOBAL sys __name__',
     asm(u('os'), ('GLOBAL', 'sys', '__name__'), 'STACK_GLOBAL', 'STOP'),
     notes=[3], imports={('sys', '__name__'), ('os', 'sys')}, raises=False)
case('names', 'sg_operand_from_persistent_id', 'a persistent id returned as a str is an operand',
     asm(('PERSID', 'os'), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 13], imports=OS_SYSTEM, raises=True)
case('names', 'sg_operand_from_memo_copy_of_call', 'a memo copy of a call result as operand',
     asm(('GLOBAL', 'builtins', 'str'), u('os'), 'TUPLE1', 'REDUCE', 'MEMOIZE', 'POP',
         ('BINGET', 0), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 6], imports={('builtins', 'str'), ('os', 'system')}, raises=False)
case('names', 'sg_unknown_name_known_module_proto2', 'proto 2: known module commands, name computed',
     asm(('PROTO', 2), u('commands'), ('GLOBAL', '__builtin__', 'str'), u('getoutput'),
         'TUPLE1', 'REDUCE', 'STACK_GLOBAL', 'STOP'),
     notes=[3, 5], imports={('__builtin__', 'str'), ('commands', 'getoutput')}, raises=False,
     reports=[('builtins', 'str', '__builtin__', 'str')])
case('names', 'sg_unknown_module_known_name_proto2', 'proto 2: module computed, name reduce',
     asm(('PROTO', 2), ('GLOBAL', '__builtin__', 'str'), u('__builtin__'), 'TUPLE1', 'REDUCE',
         u('reduce'), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 5], imports={('__builtin__', 'str'), ('__builtin__', 'reduce')}, raises=False)

# -- protocol and mapping (notes 4, 5, 19) ------------------------------------

def mapping_case(short, module, name, to_module, to_name, about):
    case('mapping', short + '_proto2', about + ' at protocol 2',
         asm(('PROTO', 2), ('GLOBAL', module, name), 'STOP'),
         notes=[5, 19], imports={(module, name)}, raises=False,
         reports=[(to_module, to_name, module, name)])
    case('mapping', short + '_proto3_unmapped', about + ': not mapped at protocol 3',
         asm(('PROTO', 3), ('GLOBAL', module, name), 'STOP'),
         notes=[5, 19], imports={(module, name)}, raises=False, reports=[(module, name)])


mapping_case('builtin_eval', '__builtin__', 'eval', 'builtins', 'eval', '__builtin__.eval is builtins.eval')
mapping_case('commands_getoutput', 'commands', 'getoutput', 'subprocess', 'getoutput',
             'commands.getoutput is subprocess.getoutput')
mapping_case('builtin_reduce', '__builtin__', 'reduce', 'functools', 'reduce',
             'NAME_MAPPING before IMPORT_MAPPING: __builtin__.reduce is functools.reduce')
mapping_case('cPickle_loads', 'cPickle', 'loads', 'pickle', 'loads', 'cPickle is pickle')
mapping_case('copy_reg', 'copy_reg', '_reconstructor', 'copyreg', '_reconstructor', 'copy_reg is copyreg')
mapping_case('exceptions_StandardError', 'exceptions', 'StandardError', 'builtins', 'Exception',
             'exceptions.StandardError is builtins.Exception')
mapping_case('UserDict', 'UserDict', 'UserDict', 'collections', 'UserDict', 'UserDict.UserDict')
case('mapping', 'builtin_eval_without_PROTO', 'no PROTO means protocol 0: mapped',
     asm(('GLOBAL', '__builtin__', 'eval'), 'STOP'),
     notes=[4, 5], imports={('__builtin__', 'eval')}, raises=False,
     reports=[('builtins', 'eval', '__builtin__', 'eval')])
case('mapping', 'stack_global_mapped_proto2', 'the mapping applies to STACK_GLOBAL',
     asm(('PROTO', 2), sg('__builtin__', 'eval'), 'STOP'),
     notes=[4, 5], imports={('__builtin__', 'eval')}, raises=False,
     reports=[('builtins', 'eval', '__builtin__', 'eval')])
case('mapping', 'stack_global_unmapped_proto4', 'no mapping for STACK_GLOBAL at protocol 4',
     asm(('PROTO', 4), sg('__builtin__', 'eval'), 'STOP'),
     notes=[4, 5], imports={('__builtin__', 'eval')}, raises=False, reports=[('__builtin__', 'eval')])
case('mapping', 'INST_mapped_proto2', 'the mapping applies to INST',
     asm(('PROTO', 2), 'MARK', ('STRING', "'id'"), ('INST', 'commands', 'getoutput'), 'STOP'),
     notes=[5, 12], imports={('commands', 'getoutput')}, raises=False,
     reports=[('subprocess', 'getoutput', 'commands', 'getoutput')])
case('mapping', 'PROTO_midstream_changes_mapping', 'the protocol current at each import decides',
     asm(('GLOBAL', '__builtin__', 'eval'), ('PROTO', 3), ('GLOBAL', '__builtin__', 'eval'),
         'TUPLE2', 'STOP'),
     notes=[4, 5], imports={('__builtin__', 'eval')}, raises=False,
     reports=[('builtins', 'eval', '__builtin__', 'eval'), ('__builtin__', 'eval')])
case('mapping', 'PROTO_lowered_midstream', 'PROTO 3 then PROTO 2: mapped again',
     asm(('PROTO', 3), ('PROTO', 2), ('GLOBAL', 'cPickle', 'loads'), 'STOP'),
     notes=[4, 5], imports={('cPickle', 'loads')}, raises=False,
     reports=[('pickle', 'loads', 'cPickle', 'loads')])
case('mapping', 'PROTO_6_raises', 'PROTO above 5 is an error',
     asm(('PROTO', 6), 'NONE', 'STOP'), notes=[4], imports=set(), raises=True)
case('mapping', 'PROTO_255_after_import_raises', 'PROTO 255 after an import',
     asm(('GLOBAL', 'os', 'system'), ('PROTO', 255), 'STOP'), notes=[4], imports=OS_SYSTEM, raises=True)
case('mapping', 'PROTO_resets_per_pickle', 'the second pickle starts at protocol 0 again',
     asm(('PROTO', 3), 'NONE', 'STOP', ('GLOBAL', '__builtin__', 'eval'), 'STOP'),
     notes=[4, 8], imports={('__builtin__', 'eval')}, raises=False,
     reports=[('builtins', 'eval', '__builtin__', 'eval')])
case('mapping', 'dotted_GLOBAL_proto4', 'protocol 4: a dotted GLOBAL name is an attribute walk',
     asm(('PROTO', 4), ('GLOBAL', 'os', 'path.join'), 'STOP'),
     notes=[4, 19], imports={('os', 'path.join')}, raises=False, reports=[('os', 'path.join')])
case('mapping', 'dotted_STACK_GLOBAL_proto4', 'protocol 4: dotted STACK_GLOBAL name',
     asm(('PROTO', 4), sg('os', 'path.join'), 'STOP'),
     notes=[4, 19], imports={('os', 'path.join')}, raises=False, reports=[('os', 'path.join')])
case('mapping', 'dotted_GLOBAL_proto2', 'protocol 2: a dotted name still reaches find_class',
     asm(('PROTO', 2), ('GLOBAL', 'os', 'path.join'), 'STOP'),
     notes=[4], imports={('os', 'path.join')}, raises=False)
case('mapping', 'dotted_after_PROTO_raised_midstream', 'PROTO 2 then PROTO 5: dotted',
     asm(('PROTO', 2), ('PROTO', 5), ('GLOBAL', 'builtins', 'object.__subclasses__'), 'STOP'),
     notes=[4], imports={('builtins', 'object.__subclasses__')}, raises=False,
     reports=[('builtins', 'object.__subclasses__')])
case('mapping', 'STACK_GLOBAL_without_PROTO', 'no opcode is restricted by protocol',
     asm(sg('os', 'system'), 'STOP'), notes=[4], imports=OS_SYSTEM, raises=False)
case('mapping', 'MEMOIZE_without_PROTO', 'MEMOIZE works at protocol 0',
     asm('NONE', 'MEMOIZE', 'STOP'), notes=[4], imports=set(), raises=False)
case('mapping', 'FRAME_without_PROTO', 'FRAME works at protocol 0',
     asm(frame(asm('NONE', 'STOP'))), notes=[4, 15], imports=set(), raises=False)

# -- memo (notes 6, 7, 8) ---------------------------------------------------

case('memo', 'PUT_twice_last_write_wins', 'the second PUT at an index wins',
     asm(u('posix'), ('BINPUT', 1), 'POP', u('os'), ('BINPUT', 1), 'POP',
         ('BINGET', 1), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[6], imports=OS_SYSTEM, raises=False)
case('memo', 'MEMOIZE_after_sparse_PUT', 'MEMOIZE stores at the count of occupied slots (1, not 101)',
     asm(u('posix'), ('LONG_BINPUT', 100), 'POP', u('os'), 'MEMOIZE', 'POP',
         ('BINGET', 1), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[6], imports=OS_SYSTEM, raises=False)
case('memo', 'MEMOIZE_after_overwrite', 'overwriting a slot does not add one: MEMOIZE stores at 1',
     asm(u('x'), ('BINPUT', 0), ('BINPUT', 0), 'POP', u('os'), 'MEMOIZE', 'POP',
         ('BINGET', 1), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[6], imports=OS_SYSTEM, raises=False)
case('memo', 'MEMOIZE_overwrites_existing', 'MEMOIZE at index 1 replaces a PUT 1',
     asm(u('posix'), ('BINPUT', 1), 'POP', u('os'), 'MEMOIZE', 'POP',
         ('BINGET', 1), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[6], imports=OS_SYSTEM, raises=False)
case('memo', 'POP_keeps_memo', 'POP does not touch the memo',
     asm(u('os'), 'MEMOIZE', 'POP', 'MARK', u('sys'), ('BINPUT', 1), 'POP_MARK',
         ('BINGET', 0), ('BINGET', 1), 'STACK_GLOBAL', 'STOP'),
     notes=[6], imports={('os', 'sys')}, raises=False)
case('memo', 'LONG_BINPUT_sparse_1e6', 'a sparse index of a million',
     asm(u('os'), ('LONG_BINPUT', 1000000), 'POP', ('LONG_BINGET', 1000000), u('system'),
         'STACK_GLOBAL', 'STOP'),
     notes=[6], imports=OS_SYSTEM, raises=False)
case('memo', 'LONG_BINPUT_max_index_raises', 'LONG_BINPUT 2^32-1: the C memo grows to twice it',
     asm('NONE', ('LONG_BINPUT', 0xffffffff), 'STOP'), notes=[6, 16], imports=set(), raises=True)
case('memo', 'LONG_BINGET_missing_raises', 'a missing memo index is an error',
     asm(('LONG_BINGET', 7), 'STOP'), notes=[6], imports=set(), raises=True)


def text_memo(short, put, get, about, raises=False):
    case('memo', short, about,
         asm(('STRING', "'os'"), ('PUT', put), 'POP', ('GET', get), ('STRING', "'system'"),
             'STACK_GLOBAL', 'STOP'),
         notes=[7], imports=set() if raises else OS_SYSTEM, raises=raises)


text_memo('text_PUT_spaces', b' 7 \n', b'7\n', 'text PUT index with surrounding spaces')
text_memo('text_GET_spaces', b'7\n', b'\t7 \n', 'text GET index with surrounding whitespace')
text_memo('text_PUT_plus', b'+7\n', b'7\n', "text PUT index '+7'")
text_memo('text_PUT_underscore', b'1_0\n', b'10\n', "text PUT index '1_0' is 10")
text_memo('text_PUT_leading_zeros', b'007\n', b'7\n', "text PUT index '007' is 7")
text_memo('text_PUT_embedded_nul', b'7\x00junk\n', b'7\n', 'p7\\0junk is PUT 7')
text_memo('text_GET_embedded_nul', b'7\n', b'7\x00zz\n', 'g7\\0zz is GET 7')
text_memo('text_GET_plus_zeros', b'12\n', b'+0012\n', "text GET '+0012' is 12")
text_memo('text_PUT_vertical_tab_formfeed', b'\x0b7\x0c\n', b'7\n', 'any C isspace around the index')
text_memo('text_PUT_zero_underscore_zero', b'0_0\n', b'0\n', "'0_0' is 0")
text_memo('text_PUT_leading_underscore_raises', b'_7\n', b'7\n', "'_7' is an error", raises=True)
text_memo('text_PUT_trailing_underscore_raises', b'7_\n', b'7\n', "'7_' is an error", raises=True)
text_memo('text_PUT_arabic_digit_raises', '\u0663'.encode() + b'\n', b'3\n', 'only ASCII digits', raises=True)
text_memo('text_GET_blank_raises', b'7\n', b' \n', 'a blank GET index is an error', raises=True)
text_memo('text_PUT_hex_raises', b'0x10\n', b'16\n', "text PUT '0x10' is an error", raises=True)
text_memo('text_PUT_negative_raises', b'-1\n', b'-1\n', 'negative text PUT is an error', raises=True)
text_memo('text_PUT_empty_raises', b'\n', b'0\n', 'empty text PUT is an error', raises=True)
text_memo('text_PUT_double_underscore_raises', b'1__0\n', b'10\n', "'1__0' is not an int", raises=True)
text_memo('text_PUT_overflow_raises', b'99999999999999999999999\n', b'0\n',
          'a text PUT index beyond ssize_t is an error', raises=True)
case('memo', 'text_PUT_beyond_2_32_raises', 'text PUT 5e9: the C memo cannot grow to 1e10 slots',
     asm('NONE', ('PUT', '5000000000'), 'STOP'), notes=[6, 16], imports=set(), raises=True)
case('memo', 'stream_memo_carries_forward', 'a stream reader keeps the memo: 2nd pickle imports os.system',
     asm(u('os'), ('BINPUT', 0), 'POP', u('system'), ('BINPUT', 1), 'POP', 'NONE', 'STOP',
         ('BINGET', 0), ('BINGET', 1), 'STACK_GLOBAL', 'STOP'),
     notes=[8], imports=OS_SYSTEM, raises=True)
case('memo', 'stream_memo_both_directions', 'per message imports posix.system, a stream os.system',
     asm('NONE', ('BINPUT', 0), 'STOP',
         u('os'), 'MEMOIZE', 'POP', u('posix'), 'MEMOIZE', 'POP',
         ('BINGET', 1), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[8, 6], imports={('os', 'system'), ('posix', 'system')}, raises=False)
case('memo', 'stream_memo_survives_PROTO_reset', 'PROTO resets per pickle, the stream memo does not',
     asm(('PROTO', 4), u('os'), 'MEMOIZE', 'STOP', ('BINGET', 0), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[8, 4], imports=OS_SYSTEM, raises=True)
case('memo', 'stream_memo_overwritten_by_second_pickle', 'pickle 2 overwrites index 0 for pickle 3',
     asm(u('posix'), ('BINPUT', 0), 'STOP', u('os'), ('BINPUT', 0), 'STOP',
         ('BINGET', 0), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[8, 6], imports=OS_SYSTEM, raises=True)

# -- marks (note 9) -----------------------------------------------------------

case('marks', 'REDUCE_callable_below_mark_raises', 'REDUCE may not pop below the top MARK',
     asm(('GLOBAL', 'os', 'system'), 'MARK', ('STRING', "'ls'"), 'TUPLE1', 'REDUCE', 'STOP'),
     notes=[9], imports=OS_SYSTEM, raises=True)
case('marks', 'STACK_GLOBAL_below_mark_raises', 'STACK_GLOBAL operands fenced by a MARK',
     asm(u('os'), u('system'), 'MARK', 'STACK_GLOBAL', 'STOP'), notes=[9], imports=set(), raises=True)
case('marks', 'STACK_GLOBAL_half_below_mark_raises', 'one operand above the MARK is not enough',
     asm(u('os'), 'MARK', u('system'), 'STACK_GLOBAL', 'STOP'), notes=[9], imports=set(), raises=True)
case('marks', 'TUPLE1_after_mark_raises', 'TUPLE1 right after a MARK fails',
     asm('NONE', 'MARK', 'TUPLE1', 'STOP'), notes=[9], imports=set(), raises=True)
case('marks', 'TUPLE3_across_mark_raises', 'TUPLE3 with two items above the MARK fails',
     asm('NONE', 'MARK', 'NONE', 'NONE', 'TUPLE3', 'STOP'), notes=[9], imports=set(), raises=True)
case('marks', 'BUILD_after_mark_raises', 'BUILD right after a MARK fails',
     asm(('GLOBAL', 'x', 'Y'), 'EMPTY_TUPLE', 'NEWOBJ', 'EMPTY_DICT', 'MARK', 'BUILD', 'STOP'),
     notes=[9], imports={('x', 'Y')}, raises=True)
case('marks', 'PUT_after_mark_raises', 'PUT right after a MARK fails',
     asm('NONE', 'MARK', ('BINPUT', 0), 'STOP'), notes=[9], imports=set(), raises=True)
case('marks', 'DUP_after_mark_raises', 'DUP right after a MARK fails',
     asm('NONE', 'MARK', 'DUP', 'STOP'), notes=[9], imports=set(), raises=True)
case('marks', 'SETITEM_across_mark_raises', 'SETITEM may not reach the dict below a MARK',
     asm(('GLOBAL', 'os', 'environ'), 'MARK', u('K'), u('V'), 'SETITEM', 'POP', 'STOP'),
     notes=[9, 10], imports={('os', 'environ')}, raises=True)
case('marks', 'APPEND_across_mark_raises', 'APPEND may not reach the list below a MARK',
     asm('EMPTY_LIST', 'MARK', ('BININT1', 1), 'APPEND', 'POP', 'STOP'),
     notes=[9], imports=set(), raises=True)
case('marks', 'POP_removes_mark_on_top', 'POP of a MARK on top unfences the operands',
     asm(u('os'), u('system'), 'MARK', 'POP', 'STACK_GLOBAL', 'STOP'),
     notes=[9], imports=OS_SYSTEM, raises=False)
case('marks', 'POP_removes_only_top_mark', 'two MARKs: one POP leaves one fence',
     asm(u('os'), u('system'), 'MARK', 'MARK', 'POP', 'STACK_GLOBAL', 'STOP'),
     notes=[9], imports=set(), raises=True)
case('marks', 'POP_MARK_unfences', 'POP_MARK drops the items and the MARK',
     asm(u('os'), u('system'), 'MARK', u('junk'), ('GLOBAL', 'x', 'junk'), 'POP_MARK',
         'STACK_GLOBAL', 'STOP'),
     notes=[9], imports={('x', 'junk'), ('os', 'system')}, raises=False)
case('marks', 'STOP_with_open_mark_accepted', 'STOP with an open MARK is accepted',
     asm('MARK', 'NONE', 'STOP'), notes=[9], imports=set(), raises=False)
case('marks', 'STOP_right_after_mark_raises', 'STOP may not pop below the MARK',
     asm('NONE', 'MARK', 'STOP'), notes=[9], imports=set(), raises=True)
case('marks', 'nested_marks_fence_inner', 'TUPLE closes the inner MARK only',
     asm('MARK', u('os'), 'MARK', u('system'), 'TUPLE', 'POP', u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[9], imports=OS_SYSTEM, raises=False)
case('marks', 'mark_reset_per_pickle', 'marks do not survive STOP into the next pickle',
     asm(u('os'), 'MARK', u('system'), 'STOP', u('os'), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[9, 8], imports=OS_SYSTEM, raises=False)

# -- calls hidden in data opcodes (notes 10-13) --------------------------------

def newobj(module, name):
    return [('GLOBAL', module, name), 'EMPTY_TUPLE', 'NEWOBJ']


case('calls', 'SETITEMS_into_os_environ', 'SETITEMS into an imported object needs no REDUCE',
     asm(('GLOBAL', 'os', 'environ'), 'MARK', u('LD_PRELOAD'), u('/tmp/x.so'), 'SETITEMS', 'STOP'),
     notes=[10], imports={('os', 'environ')}, raises=False)
case('calls', 'SETITEM_into_import', 'SETITEM calls __setitem__ on an imported object',
     asm(('GLOBAL', 'os', 'environ'), u('K'), u('V'), 'SETITEM', 'STOP'),
     notes=[10], imports={('os', 'environ')}, raises=False)
case('calls', 'APPENDS_into_import', 'APPENDS calls extend on a non-list',
     asm(newobj('x', 'Y'), 'MARK', ('BININT1', 1), ('BININT1', 2), 'APPENDS', 'STOP'),
     notes=[10], imports={('x', 'Y')}, raises=False)
case('calls', 'APPEND_into_import', 'APPEND calls extend (or append) on a non-list',
     asm(('GLOBAL', 'x', 'Y'), ('BININT1', 1), 'APPEND', 'STOP'),
     notes=[10], imports={('x', 'Y')}, raises=False)
case('calls', 'ADDITEMS_into_import', 'ADDITEMS calls add on a non-set',
     asm(newobj('x', 'Y'), 'MARK', ('BININT1', 1), 'ADDITEMS', 'STOP'),
     notes=[10], imports={('x', 'Y')}, raises=False)
case('calls', 'empty_APPENDS_on_int', 'an empty APPENDS calls nothing, even on an int',
     asm(('INT', '1'), 'MARK', 'APPENDS', 'STOP'), notes=[10], imports=set(), raises=False)
case('calls', 'empty_SETITEMS_on_int', 'an empty SETITEMS calls nothing',
     asm(('BININT1', 1), 'MARK', 'SETITEMS', 'STOP'), notes=[10], imports=set(), raises=False)
case('calls', 'empty_ADDITEMS_on_int', 'an empty ADDITEMS calls nothing',
     asm(('BININT1', 1), 'MARK', 'ADDITEMS', 'STOP'), notes=[10], imports=set(), raises=False)
case('calls', 'odd_SETITEMS_fails_before_call', 'an odd SETITEMS count fails before any call',
     asm(('GLOBAL', 'os', 'environ'), 'MARK', u('K'), 'SETITEMS', 'STOP'),
     notes=[10], imports={('os', 'environ')}, raises=True)
case('calls', 'APPENDS_on_bytearray', 'APPENDS on a bytearray calls bytearray.extend',
     asm(('PROTO', 5), ('BYTEARRAY8', b''), 'MARK', ('BININT1', 1), ('BININT1', 2), 'APPENDS', 'STOP'),
     notes=[10], imports=set(), raises=False)
case('calls', 'SETITEM_on_list', 'SETITEM on a list calls list.__setitem__',
     asm('EMPTY_LIST', ('BININT1', 5), 'APPEND', ('BININT1', 0), ('BININT1', 7), 'SETITEM', 'STOP'),
     notes=[10], imports=set(), raises=False)
case('calls', 'SETITEM_on_empty_list_raises', 'list.__setitem__ out of range',
     asm('EMPTY_LIST', ('BININT1', 0), ('BININT1', 7), 'SETITEM', 'STOP'),
     notes=[10], imports=set(), raises=True)
case('calls', 'APPEND_on_dict_raises', 'a dict has neither extend nor append',
     asm('EMPTY_DICT', ('BININT1', 1), 'APPEND', 'STOP'), notes=[10], imports=set(), raises=True)
case('calls', 'ADDITEMS_on_frozenset_raises', 'a frozenset has no add',
     asm('MARK', 'FROZENSET', 'MARK', ('BININT1', 1), 'ADDITEMS', 'STOP'),
     notes=[10], imports=set(), raises=True)
case('calls', 'ADDITEMS_on_list_raises', 'a list has no add',
     asm('EMPTY_LIST', 'MARK', ('BININT1', 1), 'ADDITEMS', 'STOP'), notes=[10], imports=set(), raises=True)
case('calls', 'BUILD_slotstate_sets_setstate', 'slot state sets __setstate__: the next BUILD calls os.system',
     asm(newobj('x', 'Y'), 'NONE', 'EMPTY_DICT', u('__setstate__'), ('GLOBAL', 'os', 'system'),
         'SETITEM', 'TUPLE2', 'BUILD', u('id'), 'BUILD', 'STOP'),
     notes=[11], imports={('x', 'Y'), ('os', 'system')}, raises=False)
case('calls', 'BUILD_None_state_on_list', 'BUILD with state None on a list does nothing',
     asm('EMPTY_LIST', 'NONE', 'BUILD', 'STOP'), notes=[11], imports=set(), raises=False)
case('calls', 'BUILD_empty_slotstate_on_list', 'BUILD (None, {}) on a list sets nothing',
     asm('EMPTY_LIST', 'NONE', 'EMPTY_DICT', 'TUPLE2', 'BUILD', 'STOP'),
     notes=[11], imports=set(), raises=False)
case('calls', 'BUILD_dict_state_on_list_raises', 'a list has no __dict__',
     asm('EMPTY_LIST', 'EMPTY_DICT', 'BUILD', 'STOP'), notes=[11], imports=set(), raises=True)
case('calls', 'BUILD_int_state_raises', 'state must be None or a dict',
     asm('EMPTY_LIST', ('BININT1', 1), 'BUILD', 'STOP'), notes=[11], imports=set(), raises=True)
case('calls', 'INST_no_args_calls_new', 'INST with no args calls cls.__new__(cls)',
     asm('MARK', ('INST', 'x', 'Y'), 'STOP'), notes=[12], imports={('x', 'Y')}, raises=False)
case('calls', 'INST_with_args_calls_class', 'INST with args calls cls(*args)',
     asm('MARK', ('STRING', "'id'"), ('INST', 'os', 'system'), 'STOP'),
     notes=[12], imports=OS_SYSTEM, raises=False)
case('calls', 'OBJ_no_args', 'OBJ with a class and no args',
     asm('MARK', ('GLOBAL', 'x', 'Y'), 'OBJ', 'STOP'), notes=[12], imports={('x', 'Y')}, raises=False)
case('calls', 'OBJ_with_args', 'OBJ calls cls(*args)',
     asm('MARK', ('GLOBAL', 'os', 'system'), u('id'), 'OBJ', 'STOP'),
     notes=[12], imports=OS_SYSTEM, raises=False)
case('calls', 'OBJ_empty_raises', 'OBJ needs a class after the MARK',
     asm('MARK', 'OBJ', 'STOP'), notes=[12], imports=set(), raises=True)
case('calls', 'NEWOBJ_needs_type_raises', 'NEWOBJ on an int fails',
     asm(('BININT1', 1), 'EMPTY_TUPLE', 'NEWOBJ', 'STOP'), notes=[12], imports=set(), raises=True)
case('calls', 'NEWOBJ_args_not_tuple_raises', 'NEWOBJ needs a tuple',
     asm(('GLOBAL', 'x', 'Y'), 'NONE', 'NEWOBJ', 'STOP'), notes=[12], imports={('x', 'Y')}, raises=True)
case('calls', 'NEWOBJ_EX_with_kwargs', 'NEWOBJ_EX calls cls.__new__(cls, *args, **kwargs)',
     asm(('GLOBAL', 'x', 'Y'), 'EMPTY_TUPLE', 'EMPTY_DICT', u('k'), u('v'), 'SETITEM', 'NEWOBJ_EX', 'STOP'),
     notes=[12], imports={('x', 'Y')}, raises=False)
case('calls', 'NEWOBJ_EX_kwargs_not_dict_raises', 'NEWOBJ_EX needs a dict',
     asm(('GLOBAL', 'x', 'Y'), 'EMPTY_TUPLE', 'EMPTY_TUPLE', 'NEWOBJ_EX', 'STOP'),
     notes=[12], imports={('x', 'Y')}, raises=True)
case('calls', 'REDUCE_args_not_tuple_raises', 'REDUCE needs a tuple',
     asm(('GLOBAL', 'os', 'system'), u('id'), 'REDUCE', 'STOP'), notes=[12], imports=OS_SYSTEM, raises=True)
case('calls', 'REDUCE_on_None_raises', 'REDUCE on a value that is not callable',
     asm('NONE', 'EMPTY_TUPLE', 'REDUCE', 'STOP'), notes=[12], imports=set(), raises=True)
case('calls', 'PERSID_empty_line', 'PERSID with an empty id calls persistent_load',
     asm(('PERSID', ''), 'STOP'), notes=[13], imports=set(), raises=True)
case('calls', 'PERSID_non_ascii_raises', 'PERSID lines are ASCII',
     asm(('PERSID', b'\xc3\xa9\n'), 'STOP'), notes=[13], imports=set(), raises=True)
case('calls', 'BINPERSID_list', 'BINPERSID takes any object',
     asm('EMPTY_LIST', 'BINPERSID', 'STOP'), notes=[13], imports=set(), raises=True)
case('calls', 'BINPERSID_empty_stack_raises', 'BINPERSID needs an object',
     asm('BINPERSID', 'STOP'), notes=[13], imports=set(), raises=True)
case('calls', 'SETITEMS_into_persistent_object', 'a persistent object receives __setitem__',
     asm(('PERSID', 'db'), 'MARK', u('k'), u('v'), 'SETITEMS', 'STOP'),
     notes=[13, 10], imports=set(), raises=True)
case('calls', 'NEXT_BUFFER_without_buffers_raises', 'NEXT_BUFFER needs out-of-band buffers',
     asm(('PROTO', 5), 'NEXT_BUFFER', 'STOP'), notes=[12], imports=set(), raises=True)
case('calls', 'READONLY_BUFFER_on_bytes', 'READONLY_BUFFER wraps the object in memoryview()',
     asm(('PROTO', 5), ('SHORT_BINBYTES', b'a'), 'READONLY_BUFFER', 'STOP'),
     notes=[12], imports=set(), raises=False)
case('calls', 'READONLY_BUFFER_bytearray_as_dict_key_raises', 'a memoryview of a bytearray is unhashable',
     asm(('PROTO', 5), 'EMPTY_DICT', ('BYTEARRAY8', b'a'), 'READONLY_BUFFER', ('BININT1', 1), 'SETITEM', 'STOP'),
     notes=[12], imports=set(), raises=True)
case('calls', 'READONLY_BUFFER_bytes_as_dict_key', 'a memoryview of bytes hashes like the bytes',
     asm(('PROTO', 5), 'EMPTY_DICT', ('SHORT_BINBYTES', b'a'), 'READONLY_BUFFER', ('BININT1', 1), 'SETITEM',
         'STOP'), notes=[12], imports=set(), raises=False)
case('calls', 'READONLY_BUFFER_bytearray_in_frozenset_raises', 'a frozenset hashes its items',
     asm(('PROTO', 5), 'MARK', ('BYTEARRAY8', b'a'), 'READONLY_BUFFER', 'FROZENSET', 'STOP'),
     notes=[12], imports=set(), raises=True)
case('calls', 'READONLY_BUFFER_twice', 'READONLY_BUFFER on a read-only memoryview',
     asm(('PROTO', 5), ('BYTEARRAY8', b'a'), 'READONLY_BUFFER', 'READONLY_BUFFER', 'STOP'),
     notes=[12], imports=set(), raises=False)
case('calls', 'READONLY_BUFFER_memoryview_SETITEM_raises', 'a read-only memoryview takes no items',
     asm(('PROTO', 5), ('BYTEARRAY8', b'a'), 'READONLY_BUFFER', ('BININT1', 0), ('BININT1', 1), 'SETITEM',
         'STOP'), notes=[10, 12], imports=set(), raises=True)
case('calls', 'READONLY_BUFFER_on_str_raises', 'memoryview(str) fails',
     asm(('PROTO', 5), u('os'), 'READONLY_BUFFER', 'STOP'), notes=[12], imports=set(), raises=True)
case('calls', 'bytearray_in_tuple_as_dict_key_raises', 'a tuple holding a bytearray is unhashable',
     asm(('PROTO', 5), 'EMPTY_DICT', ('BYTEARRAY8', b'a'), 'TUPLE1', 'NONE', 'SETITEM', 'STOP'),
     notes=[10], imports=set(), raises=True)
case('calls', 'SETITEMS_dict_key_is_dict_raises', 'a dict key must hash',
     asm('EMPTY_DICT', 'MARK', 'EMPTY_DICT', 'NONE', 'SETITEMS', 'STOP'), notes=[10], imports=set(), raises=True)
case('calls', 'ADDITEMS_list_into_set_raises', 'a set item must hash',
     asm(('PROTO', 4), 'EMPTY_SET', 'MARK', 'EMPTY_LIST', 'ADDITEMS', 'STOP'), notes=[10], imports=set(),
     raises=True)
case('calls', 'SETITEM_on_bytearray', 'SETITEM on a bytearray calls bytearray.__setitem__',
     asm(('PROTO', 5), ('BYTEARRAY8', b'a'), ('BININT1', 0), ('BININT1', 98), 'SETITEM', 'STOP'),
     notes=[10], imports=set(), raises=False)
case('calls', 'READONLY_BUFFER_on_int_raises', 'memoryview(int) fails',
     asm(('PROTO', 5), ('BININT1', 1), 'READONLY_BUFFER', 'STOP'), notes=[12], imports=set(), raises=True)

# -- extension codes (note 14) -----------------------------------------------

for code, (module, name) in sorted(EXTENSIONS.items()):
    op = 'EXT1' if code <= 0xff else 'EXT2' if code <= 0xffff else 'EXT4'
    case('ext', '%s_%#x' % (op, code), '%s %#x resolves to %s.%s via copyreg' % (op, code, module, name),
         asm(('PROTO', 2), (op, code), 'STOP'), notes=[14], imports={(module, name)}, raises=False,
         reports=[('*', '*')])
case('ext', 'EXT1_without_PROTO_called', 'EXT1 needs no PROTO; its target is called',
     asm(('EXT1', 1), u('id'), 'TUPLE1', 'REDUCE', 'STOP'), notes=[14, 4], imports=OS_SYSTEM, raises=False)
case('ext', 'EXT1_zero_raises', 'EXT code 0 is an error', asm(('EXT1', 0), 'STOP'),
     notes=[14], imports=set(), raises=True)
case('ext', 'EXT2_zero_raises', 'EXT2 code 0 is an error', asm(('EXT2', 0), 'STOP'),
     notes=[14], imports=set(), raises=True)
case('ext', 'EXT4_negative_raises', 'EXT4 is signed: -1 is an error', asm(('EXT4', -1), 'STOP'),
     notes=[14], imports=set(), raises=True)
case('ext', 'EXT4_unsigned_reading_raises', 'EXT4 0xffffff01 is negative, not a big code',
     asm(('EXT4', b'\x01\xff\xff\xff'), 'STOP'), notes=[14], imports=set(), raises=True)
case('ext', 'EXT1_unregistered_raises', 'an unregistered code is an error',
     asm(('EXT1', 2), 'STOP'), notes=[14], imports=set(), raises=True)
case('ext', 'EXT_twice', 'the same code twice',
     asm(('EXT1', 1), ('EXT4', 0x12345678), ('EXT1', 1), 'TUPLE3', 'STOP'),
     notes=[14], imports={('os', 'system'), ('posix', 'system')}, raises=False)

# -- frames and lengths (notes 15, 16) -----------------------------------------

case('frames', 'FRAME_exact', 'a FRAME that ends on an opcode boundary',
     asm(('PROTO', 4), frame(asm(('BININT1', 1), 'STOP'))), notes=[15], imports=set(), raises=False)
case('frames', 'FRAME_zero_length', 'FRAME of length 0',
     asm(('PROTO', 4), ('FRAME', 0), 'NONE', 'STOP'), notes=[15], imports=set(), raises=False)
case('frames', 'FRAME_nested', 'a FRAME inside a FRAME, both ending with the pickle',
     asm(('PROTO', 4), frame(asm(frame(asm('NONE', 'STOP'))))), notes=[15], imports=set(), raises=False)
case('frames', 'FRAME_consecutive', 'two frames back to back',
     asm(('PROTO', 4), frame(asm('EMPTY_LIST')), frame(asm(('BININT1', 1), 'APPEND', 'STOP'))),
     notes=[15], imports=set(), raises=False)
case('frames', 'FRAME_splits_GLOBAL_line', 'bytes: os.system; a file reader: os.ystem',
     asm(('PROTO', 4), ('FRAME', 5), b'cos\nsystem\n.'),
     notes=[15], imports={('os', 'system'), ('os', 'ystem')}, raises=False)
case('frames', 'FRAME_splits_SHORT_BINUNICODE', 'a string read straddles the frame end',
     asm(('PROTO', 4), ('FRAME', 3), b'\x8c\x02o', b'sN0', u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[15], imports=OS_SYSTEM, raises=True)
case('frames', 'FRAME_splits_BINBYTES_readinto', 'BINBYTES data straddles the frame end',
     asm(('PROTO', 4), ('FRAME', 7), b'C\x08ossys', b'tem', 'POP', sg('os', 'system'), 'STOP'),
     notes=[15], imports=OS_SYSTEM, raises=False)
case('frames', 'FRAME_across_STOP', 'a frame holding one pickle and the start of the next',
     asm(('PROTO', 4), ('FRAME', 6), b'N.\x8c\x02os', u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[15, 18], imports=OS_SYSTEM, raises=True)
case('frames', 'FRAME_longer_than_input_raises', 'a FRAME needs its length of bytes to follow',
     asm(('PROTO', 4), ('FRAME', 100), 'NONE', 'STOP'), notes=[15], imports=set(), raises=True)
case('frames', 'FRAME_length_over_ssize_max_raises', 'FRAME length 2^63',
     asm(('PROTO', 4), ('FRAME', 1 << 63), 'NONE', 'STOP'), notes=[15, 16], imports=set(), raises=True)
case('frames', 'FRAME_nested_overlong_inner', 'an inner FRAME that ends after the outer one',
     asm(('PROTO', 4), ('FRAME', 11), ('FRAME', 4), b'N0', b'N.'), notes=[15], imports=set(), raises=True)
case('frames', 'BINSTRING_length_unsigned_raises', 'BINSTRING length 2^31 is unsigned in C: truncated',
     asm(('BINSTRING', Raw(b'\x00\x00\x00\x80os')), 'STOP'), notes=[16], imports=set(), raises=True)
case('frames', 'BINUNICODE_length_4G_raises', 'BINUNICODE length 2^32-1',
     asm(('BINUNICODE', Raw(b'\xff\xff\xff\xffos')), 'STOP'), notes=[16], imports=set(), raises=True)
case('frames', 'LONG4_negative_length_raises', 'LONG4 length is signed',
     asm(('LONG4', b'\xff\xff\xff\xff'), 'STOP'), notes=[16], imports=set(), raises=True)
case('frames', 'LONG4_zero_length', 'LONG4 with no bytes is 0',
     asm(('LONG4', b'\x00\x00\x00\x00'), 'STOP'), notes=[16], imports=set(), raises=False)
case('frames', 'LONG1_zero_length', 'LONG1 with no bytes is 0',
     asm(('LONG1', b'\x00'), 'STOP'), notes=[16], imports=set(), raises=False)
case('frames', 'BINBYTES8_over_ssize_max_raises', 'BINBYTES8 length above 2^63-1',
     asm(('BINBYTES8', Raw(struct.pack('<Q', (1 << 64) - 1))), 'STOP'), notes=[16], imports=set(), raises=True)
case('frames', 'BINUNICODE8_over_ssize_max_raises', 'BINUNICODE8 length 2^63',
     asm(('BINUNICODE8', Raw(struct.pack('<Q', 1 << 63))), 'STOP'), notes=[16], imports=set(), raises=True)
case('frames', 'BINBYTES_1GiB_allocation_raises', 'BINBYTES allocates 1 GiB before reading',
     asm(('BINBYTES', Raw(b'\x00\x00\x00\x40')), 'STOP'), notes=[16], imports=set(), raises=True)
case('frames', 'BYTEARRAY8_1TiB_raises', 'BYTEARRAY8 asks for 1 TiB',
     asm(('BYTEARRAY8', Raw(struct.pack('<Q', 1 << 40))), 'STOP'), notes=[16], imports=set(), raises=True)
case('frames', 'BINBYTES8_small', 'BINBYTES8 with a fitting length',
     asm(('PROTO', 4), ('BINBYTES8', b'abc'), 'STOP'), notes=[16], imports=set(), raises=False)
case('frames', 'BINBYTES_small', 'BINBYTES with a fitting length',
     asm(('PROTO', 3), ('BINBYTES', b'abc'), 'STOP'), notes=[16], imports=set(), raises=False)
case('frames', 'BINSTRING_high_bit_length_is_not_negative', 'BINSTRING length 0xfffffffe is not -2',
     asm(('BINSTRING', Raw(b'\xfe\xff\xff\xff')), 'STOP'), notes=[16], imports=set(), raises=True)
case('frames', 'SHORT_BINBYTES_truncated_raises', 'data shorter than its length',
     asm(('SHORT_BINBYTES', Raw(b'\x05ab'))), notes=[16], imports=set(), raises=True)

# -- text numbers (note 17) ----------------------------------------------------

def number(short, opname, text, raises, about):
    case('numbers', short, about, asm((opname, text), 'STOP'), notes=[17], imports=set(), raises=raises)


number('INT_octal_010', 'INT', b'010\n', False, 'INT is strtol base 0: I010 is 8')
number('INT_hex_0x10', 'INT', b'0x10\n', False, 'I0x10 is 16')
number('INT_01_is_True', 'INT', b'01\n', False, 'I01 is True')
number('INT_00_is_False', 'INT', b'00\n', False, 'I00 is False')
number('INT_leading_space', 'INT', b' 5\n', False, 'strtol skips leading spaces')
number('INT_trailing_space', 'INT', b'5 \n', False, 'trailing space falls back to int()')
number('INT_plus', 'INT', b'+5\n', False, 'I+5')
number('INT_negative_hex', 'INT', b'-0x10\n', False, 'I-0x10 is -16')
number('INT_underscore', 'INT', b'1_0\n', False, 'I1_0 falls back to int(..., 0): 10')
number('INT_octal_017', 'INT', b'017\n', False, 'I017 is 15 (strtol octal)')
number('INT_binary_0b101', 'INT', b'0b101\n', False, 'I0b101 via int(..., 0)')
number('INT_huge', 'INT', b'123456789012345678901234567890\n', False, 'INT beyond long becomes an int')
number('INT_09_raises', 'INT', b'09\n', True, 'I09 is neither octal nor int(..., 0)')
number('INT_empty_raises', 'INT', b'\n', True, 'an empty INT line is an error')
number('INT_letters_raises', 'INT', b'abc\n', True, 'IABC is an error')
number('INT_embedded_nul', 'INT', b'5\x00junk\n', False, 'strtol stops at the NUL')
number('LONG_trailing_L', 'LONG', b'10L\n', False, 'LONG strips one trailing L')
number('LONG_no_L', 'LONG', b'10\n', False, 'LONG without L')
number('LONG_two_L_raises', 'LONG', b'10LL\n', True, 'only one L is stripped')
number('LONG_hex', 'LONG', b'0x10L\n', False, 'LONG is int(..., 0)')
number('LONG_4300_digits', 'LONG', b'9' * 4300 + b'\n', False, 'int() accepts 4300 digits')
number('LONG_4301_digits_raises', 'LONG', b'9' * 4301 + b'\n', True, 'the int digit limit is 4300')
number('LONG_hex_10000_digits', 'LONG', b'0x' + b'f' * 10000 + b'\n', False, 'no digit limit in base 16')
number('FLOAT_inf', 'FLOAT', b'inf\n', False, 'Finf')
number('FLOAT_nan', 'FLOAT', b'nan\n', False, 'Fnan')
number('FLOAT_negative_zero', 'FLOAT', b'-0.0\n', False, 'F-0.0')
number('FLOAT_overflow_raises', 'FLOAT', b'1e500\n', True, 'F1e500 overflows')
number('FLOAT_underscore_raises', 'FLOAT', b'1_0\n', True, 'FLOAT takes no underscores')
number('FLOAT_leading_space_raises', 'FLOAT', b' 1\n', True, 'FLOAT takes no spaces')
number('BINFLOAT_nan', 'BINFLOAT', float('nan'), False, 'BINFLOAT nan')

# -- streams (note 18) --------------------------------------------------------

case('streams', 'garbage_after_STOP', 'loads ignores it, a stream reader fails on it',
     asm('NONE', 'STOP') + b'garbage', notes=[18], imports=set(), raises=True)
case('streams', 'newline_after_STOP', 'a trailing newline is not an opcode',
     asm('NONE', 'STOP') + b'\n', notes=[18], imports=set(), raises=True)
case('streams', 'two_benign_pickles', 'a stream of two pickles',
     asm('NONE', 'STOP', ('BININT1', 1), 'STOP'), notes=[18], imports=set(), raises=False)
case('streams', 'import_in_second_pickle', 'the second pickle imports',
     asm('NONE', 'STOP', ('GLOBAL', 'os', 'system'), 'STOP'), notes=[18], imports=OS_SYSTEM, raises=False)
case('streams', 'import_in_tenth_pickle', 'nine benign pickles then one that calls',
     asm(*[['NONE', 'STOP']] * 9, ('GLOBAL', 'os', 'system'), u('id'), 'TUPLE1', 'REDUCE', 'STOP'),
     notes=[18], imports=OS_SYSTEM, raises=False)
case('streams', 'failing_pickle_ends_stream', 'nothing runs after a failing pickle (unless the server resumes)',
     asm('MARK', 'STOP', ('GLOBAL', 'os', 'system'), 'STOP'), notes=[18], imports=set(), raises=True,
     resume_imports=OS_SYSTEM)
case('streams', 'STOP_byte_inside_string', 'a . inside string data is not STOP',
     asm(u('.'), 'POP', ('GLOBAL', 'os', 'system'), 'STOP'), notes=[18], imports=OS_SYSTEM, raises=False)
case('streams', 'truncated_second_pickle', 'the stream ends inside the second pickle',
     asm('NONE', 'STOP', ('GLOBAL', 'os', 'system')), notes=[18], imports=OS_SYSTEM, raises=True)


# -- resume: servers that call load() again after an error --------------------
# `while True: try: obj = unpickler.load() except Exception: continue`.  The
# next load() starts right after the failing opcode with an empty stack, no
# marks and protocol 0; a stream Unpickler keeps its memo as it stood (a PUT
# or MEMOIZE that failed on the empty stack stored nothing, and a failed
# MEMOIZE did not advance the count), a fresh Unpickler over an exact reader
# starts with an empty memo.  find_class of a `fail*` name returns a stub
# whose calls raise (oracle.StubRaised), of module `nomod` raises: the errors
# an allowed callable or import can raise on a real server.  `imports` are
# the names a server that gives up imports, `resume_imports` those of all.

FAIL = ('GLOBAL', 'm', 'fail')
FAIL_CALL = [FAIL, 'EMPTY_TUPLE', 'REDUCE']
M_FAIL = {('m', 'fail')}

case('resume', 'stale_memo_next_pickle',
     'the failed call never memoized: a later pickle reads ("a", "q"), not its result',
     b'\x80\x04\x8c\x01a\x94\x8c\x01m\x8c\x04fail\x93)R\x94\x8c\x01q\x940h\x01.'
     b'\x80\x02h\x00h\x01\x86.', notes=[6, 8, 18], imports=M_FAIL, raises=True)
case('resume', 'stale_memo_call_args',
     'the same in one pickle: m.f receives ("a", "q"), not ("a", the result of m.fail())',
     b'\x80\x04\x8c\x01a\x94\x8c\x01m\x8c\x04fail\x93)R\x94\x8c\x01q\x940'
     + asm(('GLOBAL', 'm', 'f'), ('BINGET', 0), ('BINGET', 1), 'TUPLE2', 'TUPLE1', 'REDUCE', 'STOP'),
     notes=[6, 8], imports=M_FAIL, raises=True, resume_imports=M_FAIL | {('m', 'f')})
case('resume', 'stale_MEMOIZE_STACK_GLOBAL',
     'a failed MEMOIZE shifts every later one down: memo 2, 3 are os, system, not benign, os',
     asm(('PROTO', 4), u('safe'), 'MEMOIZE', 'POP', FAIL_CALL, 'MEMOIZE',
         u('benign'), 'MEMOIZE', 'POP', u('os'), 'MEMOIZE', 'POP', u('system'), 'MEMOIZE', 'POP',
         ('BINGET', 2), ('BINGET', 3), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 6, 8], imports=M_FAIL, raises=True, resume_imports=M_FAIL | OS_SYSTEM)
case('resume', 'stale_MEMOIZE_next_pickle_STACK_GLOBAL',
     'the shifted memo of a failed pickle feeds STACK_GLOBAL in the next one (stream Unpickler)',
     asm(('PROTO', 4), u('safe'), 'MEMOIZE', 'POP', FAIL_CALL, 'MEMOIZE', 'POP',
         u('benign'), 'MEMOIZE', 'POP', u('os'), 'MEMOIZE', 'POP', u('system'), 'MEMOIZE', 'STOP',
         ('PROTO', 4), ('BINGET', 2), ('BINGET', 3), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 6, 8], imports=M_FAIL, raises=True, resume_imports=M_FAIL | OS_SYSTEM)
case('resume', 'fresh_MEMOIZE_restarts_at_0',
     'a fresh Unpickler after the error (bytesio) memoizes os, system at 0, 1 over "safe"',
     asm(('PROTO', 4), u('safe'), 'MEMOIZE', 'POP', FAIL_CALL, 'POP',
         u('os'), 'MEMOIZE', 'POP', u('system'), 'MEMOIZE', 'POP',
         ('BINGET', 0), ('BINGET', 1), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 6, 8], imports=M_FAIL, raises=True,
     resume_imports=M_FAIL | OS_SYSTEM | {('safe', 'os')})
case('resume', 'BINPUT_empty_stack_keeps_old',
     'BINPUT 0 fails on the empty stack: memo 0 stays os where it would be benign',
     asm(('PROTO', 4), u('os'), ('BINPUT', 0), 'POP', u('benign'), FAIL_CALL, 'POP', ('BINPUT', 0), 'POP',
         ('BINGET', 0), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 6, 8], imports=M_FAIL, raises=True, resume_imports=M_FAIL | OS_SYSTEM)
case('resume', 'PUT_empty_stack_keeps_old',
     'text PUT fails on the empty stack the same way; GET reads the old os',
     asm(('PROTO', 2), ('STRING', "'os'"), ('PUT', b'7\n'), 'POP', ('STRING', "'benign'"), FAIL_CALL, 'POP',
         ('PUT', b'7\n'), 'POP', ('GET', b'7\n'), ('STRING', "'system'"), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 6, 8], imports=M_FAIL, raises=True, resume_imports=M_FAIL | OS_SYSTEM)
case('resume', 'LONG_BINPUT_after_failed_import',
     'a failing import (nomod) is an error too: LONG_BINPUT 9 stays os',
     asm(('PROTO', 4), u('os'), ('LONG_BINPUT', 9), 'POP', u('benign'), ('GLOBAL', 'nomod', 'x'), 'POP',
         ('LONG_BINPUT', 9), 'POP', ('LONG_BINGET', 9), u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[3, 6, 8], imports={('nomod', 'x')}, raises=True, resume_imports={('nomod', 'x')} | OS_SYSTEM)
case('resume', 'proto0_GLOBAL_builtin_eval',
     'after the error the protocol is 0: GLOBAL __builtin__ eval in a PROTO 4 pickle is builtins.eval',
     asm(('PROTO', 4), FAIL_CALL, 'POP', ('GLOBAL', '__builtin__', 'eval'), 'STOP'),
     notes=[4, 5, 19], imports=M_FAIL, raises=True, resume_imports=M_FAIL | {('__builtin__', 'eval')},
     reports=[('builtins', 'eval', '__builtin__', 'eval')])
case('resume', 'proto0_GLOBAL_copy_reg',
     'after the error in a PROTO 3 pickle, copy_reg _reconstructor is copyreg._reconstructor',
     asm(('PROTO', 3), FAIL_CALL, ('GLOBAL', 'copy_reg', '_reconstructor'), 'STOP'),
     notes=[4, 5, 19], imports=M_FAIL, raises=False,
     resume_imports=M_FAIL | {('copy_reg', '_reconstructor')},
     reports=[('copyreg', '_reconstructor', 'copy_reg', '_reconstructor')])
case('resume', 'proto0_STACK_GLOBAL_after_failed_import',
     'after nomod fails in a PROTO 5 pickle, STACK_GLOBAL __builtin__ exec is builtins.exec',
     asm(('PROTO', 5), sg('nomod', 'x'), sg('__builtin__', 'exec'), 'STOP'),
     notes=[4, 5, 19], imports={('nomod', 'x')}, raises=False,
     resume_imports={('nomod', 'x'), ('__builtin__', 'exec')},
     reports=[('builtins', 'exec', '__builtin__', 'exec')])
case('resume', 'proto0_INST_commands',
     'after the error, INST commands getoutput is subprocess.getoutput',
     asm(('PROTO', 4), FAIL_CALL, 'MARK', u('id'), ('INST', 'commands', 'getoutput'), 'STOP'),
     notes=[4, 5, 12, 19], imports=M_FAIL, raises=False,
     resume_imports=M_FAIL | {('commands', 'getoutput')},
     reports=[('subprocess', 'getoutput', 'commands', 'getoutput')])
case('resume', 'proto_again_after_error',
     'a PROTO after the error sets the protocol again: no mapping for the second GLOBAL',
     asm(('PROTO', 4), FAIL_CALL, ('GLOBAL', '__builtin__', 'eval'), 'POP', ('PROTO', 4),
         ('GLOBAL', '__builtin__', 'exec'), 'STOP'),
     notes=[4, 5], imports=M_FAIL, raises=False,
     resume_imports=M_FAIL | {('__builtin__', 'eval'), ('__builtin__', 'exec')},
     reports=[('builtins', 'eval', '__builtin__', 'eval')])
case('resume', 'failing_BUILD_then_import',
     'a failing __setstate__ (BUILD on m.fail) is an error the server carries on after',
     asm(('PROTO', 2), ('GLOBAL', 'm', 'g'), 'EMPTY_TUPLE', 'REDUCE', 'POP', FAIL, 'EMPTY_DICT', 'BUILD',
         ('GLOBAL', 'os', 'system'), 'STOP'),
     notes=[11, 18], imports={('m', 'g'), ('m', 'fail')}, raises=False,
     resume_imports={('m', 'g'), ('m', 'fail')} | OS_SYSTEM)
case('resume', 'INST_checks_MARK_before_its_lines',
     'INST looks for its MARK before reading its lines: after the error (no marks) the '
     'line "cos" is read as GLOBAL os system, and REDUCE calls it',
     asm(('PROTO', 4), 'MARK', FAIL_CALL, ('INST', 'cos', 'system'), u('id'), 'TUPLE1', 'REDUCE', 'STOP'),
     notes=[2, 9, 12], imports=M_FAIL, raises=True, resume_imports=M_FAIL | OS_SYSTEM)
case('resume', 'INST_lines_hide_STACK_GLOBAL_operands',
     'after a failing import, INST lines "(Vos" and "Vsystem" are MARK and UNICODE operands '
     'of the STACK_GLOBAL that follows (the analyzer sees STACK_GLOBAL("a", an INST result))',
     asm(('PROTO', 4), u('a'), 'MARK', ('GLOBAL', 'nomod', 'x'), ('INST', b'(Vos\n', b'Vsystem\n'),
         'STACK_GLOBAL', 'STOP'),
     notes=[2, 3, 9, 12], imports={('nomod', 'x')}, raises=True, resume_imports={('nomod', 'x')} | OS_SYSTEM)
# Streams a server that resumes reads as harmlessly as one that gives up:
# the failing call is the only import, and nothing reads the memo after it.
case('resume', 'benign_failing_call_then_data', 'a failing call, then a data pickle',
     asm(('PROTO', 2), FAIL, ('BININT1', 1), 'TUPLE1', 'REDUCE', 'STOP') + pickle.dumps([1, 'a', {'k': 'v'}], 2),
     notes=[18], imports=M_FAIL, raises=True, names_only=True)
case('resume', 'benign_failing_item_in_list', 'a list whose second item fails to build',
     asm(('PROTO', 4), 'EMPTY_LIST', 'MARK', ('BININT1', 1), FAIL_CALL, 'NONE', 'APPENDS', 'STOP')
     + pickle.dumps({'after': [1, 2]}, 4), notes=[9, 18], imports=M_FAIL, raises=True, names_only=True)
case('resume', 'benign_failing_NEWOBJ_state', 'NEWOBJ m.fail with a state: BUILD fails after the error',
     asm(('PROTO', 2), FAIL, u('x'), 'TUPLE1', 'NEWOBJ', 'EMPTY_DICT', u('k'), 'NONE', 'SETITEM', 'BUILD', 'STOP')
     + pickle.dumps(('t', 1), 2), notes=[12, 18], imports=M_FAIL, raises=True, names_only=True)
case('resume', 'benign_memo_before_failure', 'memo written and read before the failing call only',
     asm(('PROTO', 4), u('k'), 'MEMOIZE', 'POP', FAIL, ('BINGET', 0), 'TUPLE1', 'REDUCE', 'STOP')
     + pickle.dumps(['x', 'x'], 4), notes=[6, 18], imports=M_FAIL, raises=True, names_only=True)
case('resume', 'benign_nomod_then_data', 'an import that fails, then a data pickle',
     asm(('PROTO', 2), ('GLOBAL', 'nomod', 'Thing'), 'EMPTY_TUPLE', 'NEWOBJ', 'STOP') + pickle.dumps({1: 2}, 2),
     notes=[18], imports={('nomod', 'Thing')}, raises=True, names_only=True)
# Pure data: nothing fails, so a resuming server reads it as any other.
case('resume', 'pure_data_stream_memo', 'three data pickles with memo references (p4, p2, p0)',
     pickle.dumps(_SHARED_FOR_RESUME, 4) + pickle.dumps(_SHARED_FOR_RESUME, 2) + pickle.dumps(_SHARED_FOR_RESUME, 0),
     notes=[6, 8], imports=set(), raises=False)

# -- tables: CPython's own answer is the expectation --------------------------
# Each row differs from its neighbours in one detail of a text or string
# rule; the checks compare picklewall with CPython directly.

STRING_ROWS = [r"'os'", r'"os"', r"'\x6fs'", r"'\X6fs'", r"'\157s'", r"'\0'", r"'\777'", r"'\x'",
               r"'\xg0'", r"'\q'", r"'\\'", r"'\''", r"'\"'", r"'\a\b\f\n\r\t\v'", r"'\u0041'",
               r"'\N{DIGIT ONE}'", "''", "'", '"', "'os\"", "'\"", "' os '", "'o's'", "'\tos'",
               r"'\x6F\x73'", r"'\1\12\123\1234'"]
for i, row in enumerate(STRING_ROWS):
    case('decoding', 'STRING_%02d' % i, 'STRING %s as a STACK_GLOBAL module' % row,
         asm(('STRING', row), u('x'), 'STACK_GLOBAL', 'STOP'), notes=[1])

UNICODE_ROWS = [rb'\u006fs', rb'\U0000006fs', rb'\x6f', rb'\\u006f', rb'\\\u006f', rb'\u00',
                rb'\U00110000', rb'\ud800', rb'\ud83d\ude00', b'\xc3\xa9', b'\xff', rb'\u', rb'\n',
                rb'\\', b'o\x00s', rb'\u0000', rb'\U0001f600']
for i, row in enumerate(UNICODE_ROWS):
    case('decoding', 'UNICODE_%02d' % i, 'UNICODE %r (raw-unicode-escape of latin-1 bytes)' % row,
         asm(('UNICODE', row + b'\n'), u('x'), 'STACK_GLOBAL', 'STOP'), notes=[1])

UTF8_ROWS = [b'\xed\xa0\x80', b'\xed\xa0\xbd\xed\xb8\x80', b'\xf0\x9f\x98\x80', b'\xc0\xaf', b'\xe0\x80\xaf',
             b'\xf4\x90\x80\x80', b'\xef\xbb\xbfos', b'o\x00s', b'\x80', b'\xed\xb0\x80\xed\xa0\x80',
             b'"\\\x01\x1f\x7f', '\u2028\u2029'.encode(), b'\xf8\x88\x80\x80\x80']
for i, row in enumerate(UTF8_ROWS):
    case('decoding', 'BINUNICODE_%02d' % i, 'BINUNICODE %r (UTF-8, surrogatepass)' % row,
         asm(('BINUNICODE', row), u('x'), 'STACK_GLOBAL', 'STOP'), notes=[1])
    case('decoding', 'GLOBAL_%02d' % i, 'GLOBAL line %r (strict UTF-8)' % row,
         asm(('GLOBAL', row + b'\nx\n'), 'STOP'), notes=[2])
    case('decoding', 'INST_%02d' % i, 'INST line %r (ASCII)' % row,
         asm('MARK', ('INST', row + b'\nx\n'), 'STOP'), notes=[2])
case('decoding', 'STACK_GLOBAL_70000_char_module', 'a 70000-character module name',
     asm(('BINUNICODE', 'm' * 70000), u('x'), 'STACK_GLOBAL', 'STOP'), notes=[19],
     imports={('m' * 70000, 'x')}, raises=False)

# Text memo indices: slots 0..21 hold m0..m21, so the slot a GET reads
# names the module find_class receives.
MEMO_ROWS = [b'7', b' 7', b'7 ', b'+7', b'-0', b'0', b'00', b'07', b'0_7', b'7_', b'_7', b'7\x00x',
             b'\x007', b'0x7', b'0o7', b'0b1', b'7L', b'1_0', b' +1_0 ', b'\t7\x0b', '\u0667'.encode(),
             b'+ 7', b'++7', b'', b' ', b'21', b'22', b'99999999999999999999', b'7.0', b'7e0', b'\r7\r']


def memo_slots():
    return [[u('m%d' % i), ('BINPUT', i), 'POP'] for i in range(22)]


for i, row in enumerate(MEMO_ROWS):
    case('decoding', 'GET_%02d' % i, 'text GET %r picks the slot' % row,
         asm(memo_slots(), ('GET', row + b'\n'), u('x'), 'STACK_GLOBAL', 'STOP'), notes=[7])
    case('decoding', 'PUT_%02d' % i, 'text PUT %r overwrites the slot' % row,
         asm(memo_slots(), u('OS'), ('PUT', row + b'\n'), 'POP',
             'MARK', [[('BINGET', k), u('x'), 'STACK_GLOBAL'] for k in range(22)], 'TUPLE', 'STOP'),
         notes=[7])

NUMBER_ROWS = [b'0', b'00', b'01', b'08', b'010', b'0x', b'0x1', b'0X1F', b'0b', b'0b2', b'0o8', b'0o7',
               b'0_0', b'0_1', b'1_', b'_1', b'1__2', b'+', b'-', b'+-1', b' -1', b'1 ', b'1\t', b'\t1',
               b'1L', b'1l', b'L', b'0L', b'9' * 19, b'9' * 20, b'-9223372036854775808',
               b'9223372036854775808', b'1e3', b'inf', b'-inf', b'nan', b'NaN', b'infinity', b'1.0',
               b'.5', b'5.', b'1e', b'0x1p3', '\u0661'.encode(), b'\x00', b'1\x00', b'\x001', b'0x_1',
               b'00_0', b'0 0', b'1\r', b'\x0c1']
for i, row in enumerate(NUMBER_ROWS):
    for op in ('INT', 'LONG', 'FLOAT'):
        case('numbers', '%s_%02d' % (op, i), '%s %r' % (op, row), asm((op, row + b'\n'), 'STOP'),
             notes=[17], imports=set())

# -- limits: CPython copes, picklewall bounds its own work ---------------------

case('limits', 'nesting_2000', 'a list nested 2000 deep loads in CPython (no recursion)',
     b']' * 2000 + b'a' * 1999 + b'.', notes=[16], imports=set(), raises=False)
case('limits', 'memo_index_5M', 'LONG_BINPUT 5,000,000: CPython allocates 80 MB of memo',
     asm('NONE', ('LONG_BINPUT', 5000000), 'STOP'), notes=[6, 16], imports=set(), raises=False)
case('calls', 'BUILD_None_None_state_raises', 'a slot state of None in a 2-tuple is an error',
     asm(u('os'), 'NONE', 'NONE', 'TUPLE2', 'BUILD', u('system'), 'STACK_GLOBAL', 'STOP'),
     notes=[11], imports=set(), raises=True)

# -- call arguments (rules/REFERENCE.md "args SHAPE") --------------------------
#
# Every call's `args` shape must be consistent with what CPython passed
# (run.py checks it for every case); these put the values a rule can name
# (small ints, bools, short strs, names, nested tuples) next to the values
# it must not (ints out of range, text forms strtol reads otherwise, long
# or unprintable strs, deep or long tuples, memo shuffles).

def call_f(*arg_ops, callable_ops=(('GLOBAL', 'm', 'f'),)):
    """m.f(*args) by REDUCE, each argument one value-pushing fragment."""
    return [list(callable_ops), 'MARK', list(arg_ops), 'TUPLE', 'REDUCE']


def args_case(short, about, *ops, shapes=(), raises=False, imports=None, notes=(12,), proto=None):
    data = asm(('PROTO', proto) if proto is not None else [], list(ops), 'STOP')
    case('args', short, about, data, notes=notes, raises=raises, imports=imports, shapes=shapes)


M_F = {('m', 'f')}

# Integers: the analyzer knows -256..4095 (and bools); every other int is `int`.
for op, values in (('BININT1', (0, 1, 255)),
                   ('BININT2', (0, 255, 256, 4095, 4096, 65535)),
                   ('BININT', (0, -1, -255, -256, -257, 4095, 4096, 2**31 - 1, -2**31, 65536))):
    for v in values:
        args_case('%s_%s' % (op, str(v).replace('-', 'neg')), '%s %d as an argument' % (op, v),
                  call_f((op, v)), shapes=['(%s,)' % (v if -256 <= v <= 4095 else 'int')], imports=M_F)

# INT text: strtol(base 0), with a fallback to int(text, 0), and a bool for
# any two characters strtol reads as 0 or 1 (load_int: len == 3).
INT_TEXT_ROWS = [
    (b'0', '(0,)'), (b'1', '(1,)'), (b'7', '(7,)'), (b'00', '(False,)'), (b'01', '(True,)'),
    (b'-0', '(False,)'), (b'+0', '(False,)'), (b'+1', '(True,)'), (b' 1', '(True,)'),
    (b' 0', '(False,)'), (b'\t1', '(True,)'), (b'-1', '(-1,)'), (b'10', '(10,)'),
    (b'4095', '(4095,)'), (b'4096', '(int,)'), (b'-256', '(-256,)'), (b'-257', '(int,)'),
    (b'02', None), (b'010', None), (b'0x10', None), (b'0X1f', None), (b'-0x100', None),
    (b'0b1', None), (b'0o17', None), (b'1_000', None), (b'1 ', None), (b'0 ', None),
    (b'1\x00', None), (b'0\x00', None), (b'5\x00junk', None), (b'00\r', None), (b'1\r', None),
    (b' 01', None), (b'-00', None), (b'001', None), (b'+01', None), (b'0001', None),
    (b'99999999999999999999', '(int,)'), (b'-9223372036854775808', '(int,)'),
    (b'9223372036854775807', '(int,)'), (b'18446744073709551617', '(int,)'),
    (b'-18446744073709551615', '(int,)'), (b'00000000000000000000001', None),
    (b'4294967296', '(int,)'), (b'-4294967295', '(int,)'), (b'\x0b1', None), (b'1\x0c', None),
]
for i, (text, shape) in enumerate(INT_TEXT_ROWS):
    args_case('INT_text_%02d' % i, 'INT %r as an argument (strtol base 0, then int(s, 0))' % text,
              call_f(('INT', text + b'\n')), shapes=[shape] if shape else [], notes=(12, 17))
# The whole table of text numbers, as arguments (CPython decides).
for i, row in enumerate(NUMBER_ROWS):
    for op in ('INT', 'LONG'):
        args_case('%s_row_%02d' % (op, i), '%s %r as an argument' % (op, row),
                  call_f((op, row + b'\n')), notes=(12, 17), raises=None)
for short, ops, shape in (
        ('LONG1_5', [('LONG1', 5)], '(int,)'), ('LONG1_0', [('LONG1', 0)], '(int,)'),
        ('LONG1_empty', [('LONG1', Raw(b'\x00'))], '(int,)'), ('LONG1_neg1', [('LONG1', -1)], '(int,)'),
        ('LONG1_255', [('LONG1', 255)], '(int,)'),
        ('LONG1_1_padded', [('LONG1', Raw(b'\x03\x01\x00\x00'))], '(int,)'),
        ('LONG4_1', [('LONG4', 1)], '(int,)'), ('LONG_text_5', [('LONG', b'5L\n')], '(int,)'),
        ('LONG_text_1', [('LONG', b'1\n')], '(int,)'), ('LONG_text_00', [('LONG', b'0\n')], '(int,)'),
        ('NEWTRUE', ['NEWTRUE'], '(True,)'), ('NEWFALSE', ['NEWFALSE'], '(False,)'),
        ('bools_and_ints', ['NEWTRUE', ('BININT1', 1), 'NEWFALSE', ('BININT1', 0), ('INT', b'01\n'),
                            ('INT', b'1\n')], '(True, 1, False, 0, True, 1)'),
        ('BINFLOAT_1', [('BINFLOAT', 1.0)], '(float,)'), ('FLOAT_text_1', [('FLOAT', b'1\n')], '(float,)'),
        ('FLOAT_text_0', [('FLOAT', b'0\n')], '(float,)'), ('NONE', ['NONE'], '(None,)'),
        ('no_args', [], '()'), ('EMPTY_TUPLE', ['EMPTY_TUPLE'], '((),)'),
        ('containers', ['EMPTY_LIST', 'EMPTY_DICT', 'EMPTY_SET', 'MARK', 'FROZENSET',
                        'MARK', ('BININT1', 1), 'LIST', 'MARK', 'DICT'],
         '(list, dict, set, frozenset, list, dict)'),
        ('bytes_kinds', [('SHORT_BINBYTES', b'a'), ('BINBYTES', b'b'), ('BINBYTES8', b'c'), ('BYTEARRAY8', b'd')],
         '(bytes, bytes, bytes, bytearray)'),
        ('memoryview', [('BYTEARRAY8', b'a'), 'READONLY_BUFFER'], '(memoryview,)'),
        ('READONLY_BUFFER_bytes', [('SHORT_BINBYTES', b'a'), 'READONLY_BUFFER'], '(bytes,)'),
        ('READONLY_BUFFER_twice', [('BYTEARRAY8', b'a'), 'READONLY_BUFFER', 'READONLY_BUFFER'], '(memoryview,)'),
):
    args_case(short, 'a call receives %s' % shape, call_f(*ops), shapes=[shape], proto=5, imports=M_F)

# str: shown with its text at most 64 printable ASCII characters.
PRINTABLE = ''.join(chr(c) for c in range(0x20, 0x7f))
for n in (0, 1, 63, 64, 65, 200):
    text = (PRINTABLE * 3)[:n].replace('"', 'q').replace('\\', 'b')
    shape = '("%s",)' % text if n <= 64 else '(str,)'
    args_case('str_%d_chars' % n, 'a str of %d printable characters' % n,
              call_f(u(text) if n < 256 else ('BINUNICODE', text)), shapes=[shape], imports=M_F)
for short, text, shape in (
        ('str_quote', 'a"b', r'("a\"b",)'), ('str_backslash', 'a\\b', r'("a\\b",)'),
        ('str_quote_backslash_end', '\\"', r'("\\\"",)'),
        ('str_64_quotes', '"' * 64, '("%s",)' % ('\\"' * 64)),
        ('str_65_quotes', '"' * 65, '(str,)'), ('str_64_backslashes', '\\' * 64, '("%s",)' % ('\\\\' * 64)),
        ('str_all_printable', PRINTABLE[:64],
         '("%s",)' % PRINTABLE[:64].replace('\\', '\\\\').replace('"', '\\"')),
        ('str_tab', 'a\tb', '(str,)'), ('str_newline', 'a\nb', '(str,)'), ('str_del', 'a\x7f', '(str,)'),
        ('str_nul', '\x00', '(str,)'), ('str_latin1', 'caf\xe9', '(str,)'), ('str_cjk', '\u65e5', '(str,)'),
        ('str_surrogate', '\ud800', '(str,)'), ('str_unit_sep', '\x1f', '(str,)'),
        ('str_63_then_nonprintable', 'a' * 63 + '\x01', '(str,)'),
        ('str_looks_like_int', '5', '("5",)'), ('str_looks_like_name', 'm:f', '("m:f",)'),
        ('str_looks_like_tuple', '(1,)', '("(1,)",)'), ('str_question_mark', '?', '("?",)'),
):
    args_case(short, 'a str %r as an argument' % text[:20], call_f(u(text)), shapes=[shape], imports=M_F)
for short, op, shape in (
        ('STRING_plain', ('STRING', "'abc'"), '("abc",)'),
        ('STRING_double_quoted', ('STRING', '"abc"'), '("abc",)'),
        ('STRING_hex_escape', ('STRING', r"'a\x41'"), '("aA",)'),
        ('STRING_escaped_quote', ('STRING', r"'a\'b'"), '("a\'b",)'),
        ('STRING_escaped_backslash', ('STRING', r"'a\\b'"), r'("a\\b",)'),
        ('STRING_newline_escape', ('STRING', r"'a\nb'"), '(str,)'),
        ('STRING_nul_escape', ('STRING', r"'\x00'"), '(str,)'),
        ('STRING_octal_escape', ('STRING', r"'\101'"), '("A",)'),
        ('STRING_unknown_escape', ('STRING', r"'\q'"), r'("\\q",)'),
        ('STRING_65_after_escapes', ('STRING', "'" + r'\x41' * 65 + "'"), '(str,)'),
        ('STRING_64_after_escapes', ('STRING', "'" + r'\x41' * 64 + "'"), '("%s",)' % ('A' * 64)),
        ('UNICODE_escape', ('UNICODE', r'\u0041b'), '("Ab",)'),
        ('UNICODE_escape_nonprintable', ('UNICODE', r'\u0009'), '(str,)'),
        ('UNICODE_backslash_x', ('UNICODE', r'\x41'), r'("\\x41",)'),
        ('UNICODE_escaped_quote', ('UNICODE', r'a\u0022b'), r'("a\"b",)'),
        ('SHORT_BINSTRING', ('SHORT_BINSTRING', 'abc'), '("abc",)'),
        ('BINSTRING', ('BINSTRING', 'abc'), '("abc",)'),
        ('BINUNICODE', ('BINUNICODE', 'abc'), '("abc",)'),
        ('BINUNICODE8', ('BINUNICODE8', 'abc'), '("abc",)'),
        ('BINUNICODE_utf8', ('BINUNICODE', '\xe9'), '(str,)'),
):
    args_case(short, 'a str from %s' % op[0], call_f(op), shapes=[shape], proto=4)

# Tuples: four levels are shown, deeper ones are `?`; a shape of more than
# 1024 bytes is `?` as a whole.
def nested(depth, inner):
    return [inner] + ['TUPLE1'] * depth


for depth, shape in ((1, '((0,),)'), (2, '(((0,),),)'), (3, '((((?,),),),)'), (4, '((((?,),),),)'),
                     (5, '((((?,),),),)'), (8, '((((?,),),),)')):
    args_case('tuple_depth_%d' % depth, 'an argument nested %d tuples deep' % depth,
              call_f(nested(depth, ('BININT1', 0))), shapes=[shape], imports=M_F)
args_case('tuple_depth_4_mixed', 'items of the fourth level are ?, of the third shown',
          call_f([('BININT1', 1), ('BININT1', 2), 'TUPLE2', 'TUPLE1', 'TUPLE1'],
                 ['MARK', ('BININT1', 3), 'EMPTY_TUPLE', 'TUPLE', 'TUPLE1']),
          shapes=['((((?, ?),),), ((3, ()),))'], imports=M_F)
for n, last, shape in ((341, 0, '(%s)' % ', '.join(['0'] * 341)),
                       (341, 10, '(%s, 10)' % ', '.join(['0'] * 340)),
                       (341, 100, '?'), (342, 0, '?'), (1000, 0, '?')):
    about = 'an args shape of %d bytes' % len(shape) if shape != '?' else 'an args shape over 1024 bytes'
    args_case('tuple_%d_items_last_%d' % (n, last), about,
              call_f(*([('BININT1', 0)] * (n - 1) + [('BININT1', last)])), shapes=[shape], imports=M_F)
args_case('tuple_long_nested', 'a long tuple inside the arguments',
          call_f(['MARK'] + [('BININT1', 7)] * 400 + ['TUPLE'], ('BININT1', 1)), shapes=['?'], imports=M_F)
args_case('tuple_many_strs', 'many strs: the shape overflows on the last',
          call_f(*[u('x' * 60)] * 17), shapes=['?'], imports=M_F)
args_case('tuple_many_strs_1024', 'many strs: exactly 1024 bytes',
          call_f(*[u('x' * 60)] * 16), shapes=['(%s)' % ', '.join(['"%s"' % ('x' * 60)] * 16)], imports=M_F)

# The memo: values reach a call through PUT/GET, MEMOIZE and DUP.
args_case('memo_BINPUT_BINGET', 'a value memoized and fetched twice',
          call_f([('BININT1', 5), ('BINPUT', 0)], ('BINGET', 0)), shapes=['(5, 5)'], imports=M_F)
args_case('memo_DUP', 'DUP of an argument', call_f([u('a'), 'DUP']), shapes=['("a", "a")'])
args_case('memo_MEMOIZE_shuffle', 'MEMOIZE slots fetched in another order',
          u('a'), 'MEMOIZE', 'POP', u('b'), 'MEMOIZE', 'POP', ('BININT1', 3), 'MEMOIZE', 'POP',
          call_f(('BINGET', 2), ('BINGET', 0), ('BINGET', 1)), shapes=['(3, "a", "b")'], proto=4)
args_case('memo_overwritten', 'the last PUT at an index wins',
          ('BININT1', 1), ('BINPUT', 0), 'POP', ('BININT1', 2), ('BINPUT', 0), 'POP',
          call_f(('BINGET', 0)), shapes=['(2,)'])
args_case('memo_text_PUT_GET', 'text PUT and GET',
          ('INT', b'01\n'), ('PUT', b'7\n'), 'POP', call_f(('GET', b'7\n'), ('GET', b'07\n')),
          shapes=['(True, True)'])
args_case('memo_MEMOIZE_after_sparse_PUT', 'MEMOIZE stores at the count of slots',
          ('BININT1', 9), ('LONG_BINPUT', 100), 'POP', ('BININT1', 8), 'MEMOIZE', 'POP',
          call_f(('BINGET', 1), ('LONG_BINGET', 100)), shapes=['(8, 9)'], proto=4)
args_case('memo_tuple_memoized', 'a memoized tuple used twice',
          call_f([('BININT1', 1), u('x'), 'TUPLE2', ('BINPUT', 3)], ('BINGET', 3)),
          shapes=['((1, "x"), (1, "x"))'])
args_case('memo_args_tuple_memoized', 'the args tuple itself from the memo',
          ('BININT2', 300), ('BININT2', 4000), 'TUPLE2', ('BINPUT', 0), 'POP',
          ('GLOBAL', 'm', 'f'), ('BINGET', 0), 'REDUCE', shapes=['(300, 4000)'])
args_case('memo_stream_differs', 'a stream memo and a message memo give the call different values',
          ('BININT1', 5), ('BINPUT', 0), 'STOP',
          ('GLOBAL', 'm', 'f'), ('BININT1', 7), 'MEMOIZE', 'POP', ('BINGET', 0), 'TUPLE1', 'REDUCE',
          notes=(8, 12))
args_case('memo_stream_only', 'only a stream memo has the value: a message memo fails',
          ('INT', b'01\n'), ('BINPUT', 0), 'STOP',
          ('GLOBAL', 'm', 'f'), ('BINGET', 0), 'TUPLE1', 'REDUCE', notes=(8, 12), raises=True)
args_case('memo_stream_call_result', 'a call result of pickle 1 as an argument in pickle 2',
          ('GLOBAL', 'm', 'g'), 'EMPTY_TUPLE', 'REDUCE', ('BINPUT', 0), 'STOP',
          ('GLOBAL', 'm', 'f'), ('BINGET', 0), 'TUPLE1', 'REDUCE', notes=(8, 12), raises=True)

# Objects: m:X is what find_class returned, m:X() what calling it returned.
G = ('GLOBAL', 'm', 'g')
args_case('arg_import', 'an imported object as an argument', call_f(G), shapes=['(m:g,)'])
args_case('arg_call_result', 'a call result as an argument', call_f([G, 'EMPTY_TUPLE', 'REDUCE']),
          shapes=['(m:g(),)'])
args_case('arg_NEWOBJ_result', 'a NEWOBJ result as an argument', call_f([G, 'EMPTY_TUPLE', 'NEWOBJ']),
          shapes=['(m:g(),)'], proto=2)
args_case('arg_OBJ_result', 'an OBJ result as an argument', call_f(['MARK', G, ('BININT1', 1), 'OBJ']),
          shapes=['(m:g(),)'])
args_case('arg_INST_result', 'an INST result as an argument', call_f(['MARK', ('INST', 'm', 'g')]),
          shapes=['(m:g(),)'])
args_case('arg_call_of_call_result', "calling what a call returned: the result is unnamed",
          call_f([G, 'EMPTY_TUPLE', 'REDUCE', 'EMPTY_TUPLE', 'REDUCE']), shapes=['(?,)'])
args_case('arg_call_result_memo', 'a memo copy of a call result, twice',
          G, 'EMPTY_TUPLE', 'REDUCE', 'MEMOIZE', 'POP', call_f(('BINGET', 0), ('BINGET', 0)),
          shapes=['(m:g(), m:g())'], proto=4)
args_case('arg_same_import_twice', 'one name imported twice: both are m:g',
          call_f(G, G, [G, 'EMPTY_TUPLE', 'REDUCE']), shapes=['(m:g, m:g, m:g())'])
args_case('arg_self', 'a callable receives itself', ('GLOBAL', 'm', 'f'), 'DUP', 'TUPLE1', 'REDUCE',
          shapes=['(m:f,)'])
args_case('arg_builtins_str', 'builtins.str as an argument', call_f(('GLOBAL', 'builtins', 'str')),
          shapes=['(builtins:str,)'])
args_case('arg_builtins_str_result', 'what builtins.str returned',
          call_f([('GLOBAL', 'builtins', 'str'), u('x'), 'TUPLE1', 'REDUCE']), shapes=['(builtins:str(),)'])
args_case('arg_module_name', 'os.__name__ is a str', call_f(('GLOBAL', 'os', '__name__')),
          shapes=['(os:__name__,)'])
args_case('arg_mapped_proto2', 'proto 2: __builtin__.eval is shown as builtins:eval',
          call_f(('GLOBAL', '__builtin__', 'eval')), shapes=['(builtins:eval,)'], proto=2, notes=(5, 12))
args_case('arg_unmapped_proto3', 'proto 3: __builtin__.eval stays', call_f(('GLOBAL', '__builtin__', 'eval')),
          shapes=['(__builtin__:eval,)'], proto=3, notes=(5, 12))
args_case('arg_mapped_pair_proto2', 'proto 2: a NAME_MAPPING pair',
          call_f(('GLOBAL', 'exceptions', 'StandardError')),
          shapes=['(builtins:Exception,)'], proto=2, notes=(5, 12))
args_case('arg_dotted_proto4', 'proto 4: a dotted name', call_f(sg('os', 'path.join')),
          shapes=['(os:path.join,)'], proto=4)
args_case('arg_unwritable_name', 'a name the notation cannot hold is ?', call_f(('GLOBAL', 'a b', 'c')),
          shapes=['(?,)'])
args_case('arg_name_with_colon', 'a name with a colon is ?', call_f(('GLOBAL', 'a:b', 'c')), shapes=['(?,)'])
args_case('arg_non_ascii_name', 'a non-ASCII module name', call_f(('GLOBAL', b'\xc3\xa9\nx\n')))
args_case('arg_runtime_name', 'STACK_GLOBAL of a run-time str is ?',
          call_f([('GLOBAL', 'builtins', 'str'), u('m'), 'TUPLE1', 'REDUCE', u('g'), 'STACK_GLOBAL']))
args_case('arg_ext', 'an EXT code as an argument', call_f(('EXT1', 1)), proto=2)
args_case('arg_persistent_object', 'a persistent object as an argument', call_f(('PERSID', 'p')), raises=None)
args_case('callable_from_memo', 'the callable itself from the memo',
          G, ('BINPUT', 0), 'POP', ('BINGET', 0), ('BININT1', 1), 'TUPLE1', 'REDUCE', shapes=['(1,)'])
args_case('callable_is_call_result', 'calling what a call returned, with arguments',
          G, 'EMPTY_TUPLE', 'REDUCE', ('BININT1', 2), u('x'), 'TUPLE2', 'REDUCE', shapes=['(2, "x")'])

# The other calls: NEWOBJ, NEWOBJ_EX (shown as (args, kwargs)), OBJ, INST,
# BUILD (the state), PERSID/BINPERSID (the id).
C = ('GLOBAL', 'm', 'C')
args_case('NEWOBJ_args', 'NEWOBJ args', C, ('BININT1', 1), u('a'), 'TUPLE2', 'NEWOBJ',
          shapes=['(1, "a")'], proto=2)
args_case('NEWOBJ_EX_kwargs', 'NEWOBJ_EX: (args, kwargs)',
          C, ('BININT1', 1), u('a'), 'TUPLE2', 'EMPTY_DICT', u('k'), ('BININT2', 300), 'SETITEM', 'NEWOBJ_EX',
          shapes=['((1, "a"), dict)'], proto=4)
args_case('NEWOBJ_EX_empty', 'NEWOBJ_EX with nothing', C, 'EMPTY_TUPLE', 'EMPTY_DICT', 'NEWOBJ_EX',
          shapes=['((), dict)'], proto=4)
args_case('NEWOBJ_EX_memo', 'NEWOBJ_EX args and kwargs from the memo',
          ('BININT1', 4), 'TUPLE1', 'MEMOIZE', 'POP', 'EMPTY_DICT', 'MEMOIZE', 'POP',
          C, ('BINGET', 0), ('BINGET', 1), 'NEWOBJ_EX', shapes=['((4,), dict)'], proto=4)
args_case('OBJ_args', 'OBJ args', 'MARK', C, ('BININT1', 1), 'NEWTRUE', 'OBJ', shapes=['(1, True)'], proto=2)
args_case('OBJ_no_args', 'OBJ without args', 'MARK', C, 'OBJ', shapes=['()'])
args_case('INST_args', 'INST args', 'MARK', ('INT', b'01\n'), ('STRING', "'x'"), ('INST', 'm', 'C'),
          shapes=['(True, "x")'])
args_case('INST_no_args', 'INST without args', 'MARK', ('INST', 'm', 'C'), shapes=['()'])
for short, state, shape in (
        ('dict', ['EMPTY_DICT', u('a'), ('BININT1', 1), 'SETITEM'], 'dict'),
        ('slots', ['NONE', 'EMPTY_DICT', 'TUPLE2'], '(None, dict)'),
        ('int', [('BININT1', 5)], '5'), ('big_int', [('BININT', 5000)], 'int'),
        ('str', [u('s')], '"s"'), ('long_str', [u('s' * 65)], 'str'), ('none', ['NONE'], 'None'),
        ('true', ['NEWTRUE'], 'True'), ('import', [G], 'm:g'), ('object', [G, 'EMPTY_TUPLE', 'REDUCE'], 'm:g()'),
        ('tuple', [('BININT1', 1), ('BININT1', 2), 'TUPLE2'], '(1, 2)'),
        ('deep', [nested(5, ('BININT1', 0))], '((((?,),),),)'),
        ('memo', [('BININT1', 6), 'DUP', ('BINPUT', 0), 'POP'], '6'),
):
    args_case('BUILD_state_%s' % short, 'BUILD receives the state %s' % shape,
              C, 'EMPTY_TUPLE', 'NEWOBJ', state, 'BUILD', shapes=[shape], proto=2, notes=(11, 12))
args_case('BUILD_twice', 'two BUILDs on one object', C, 'EMPTY_TUPLE', 'REDUCE', 'EMPTY_DICT', 'BUILD',
          ('BININT1', 2), 'BUILD', shapes=['dict', '2'], notes=(11, 12))
args_case('BUILD_setstate_from_slot_state', 'slot state sets __setstate__ to an import; BUILD calls it',
          C, 'EMPTY_TUPLE', 'NEWOBJ', 'NONE', 'EMPTY_DICT', u('__setstate__'), G, 'SETITEM', 'TUPLE2', 'BUILD',
          ('BININT1', 9), 'BUILD', proto=2, notes=(11, 12))
for short, op, shape in (
        ('PERSID_str', ('PERSID', 'abc'), '"abc"'), ('PERSID_empty', ('PERSID', ''), '""'),
        ('PERSID_quote', ('PERSID', 'a"b\\c'), r'"a\"b\\c"'),
        ('PERSID_64', ('PERSID', 'p' * 64), '"%s"' % ('p' * 64)),
        ('PERSID_65', ('PERSID', 'p' * 65), 'str'), ('PERSID_tab', ('PERSID', 'a\tb'), 'str'),
        ('PERSID_cr', ('PERSID', b'a\r\n'), 'str'), ('PERSID_5000', ('PERSID', 'p' * 5000), 'str'),
        ('PERSID_digits', ('PERSID', '5'), '"5"'),
):
    args_case(short, '%s receives the id %s' % (op[0], shape), op, shapes=[shape], raises=True, notes=(13,))
for short, pid, shape in (
        ('int', [('BININT1', 5)], '5'), ('str', [u('abc')], '"abc"'), ('true', ['NEWTRUE'], 'True'),
        ('tuple', [('BININT1', 1), u('x'), 'TUPLE2'], '(1, "x")'), ('list', ['EMPTY_LIST'], 'list'),
        ('none', ['NONE'], 'None'), ('import', [G], 'm:g'), ('object', [G, 'EMPTY_TUPLE', 'REDUCE'], 'm:g()'),
        ('big_int', [('LONG1', 5)], 'int'), ('text_bool', [('INT', b'00\n')], 'False'),
        ('bytes', [('SHORT_BINBYTES', b'x')], 'bytes'),
):
    args_case('BINPERSID_%s' % short, 'BINPERSID receives the id %s' % shape, pid, 'BINPERSID',
              shapes=[shape], raises=None, notes=(13,), proto=3)
args_case('BINPERSID_twice_str_pid', 'a str id returned as the id of the next BINPERSID',
          u('abc'), 'BINPERSID', 'BINPERSID', shapes=['"abc"'], raises=True, notes=(13,))

# Planted methods (note 11): a BUILD state puts attributes on the instance
# (a dict state in its __dict__, a slot state by setattr), and CPython looks
# extend (APPEND(S)), add (ADDITEMS) and __setstate__ (BUILD) up on the
# instance, so a planted object is called in their place; a slot state can
# also set __class__, and the next method is another class's.  The scan must
# then not name the call after the instance's maker.
NEW_C = [C, 'EMPTY_TUPLE', 'NEWOBJ']


def planted(key, slot, value=(G,)):
    setitem = ['EMPTY_DICT', u(key), list(value), 'SETITEM']
    return NEW_C + (['NONE', setitem, 'TUPLE2'] if slot else setitem) + ['BUILD']


for key, tail, about in (('extend', ['MARK', ('BININT1', 1), 'APPENDS'], 'APPENDS calls the planted extend'),
                         ('extend', [('BININT1', 1), 'APPEND'], 'APPEND calls the planted extend'),
                         ('add', ['MARK', ('BININT1', 1), 'ADDITEMS'], 'ADDITEMS calls the planted add'),
                         ('__setstate__', [('BININT1', 1), 'BUILD'], 'BUILD calls the planted __setstate__')):
    for slot in (False, True):
        args_case('planted_%s_by_%s_state_%s' % (key.strip('_'), 'slot' if slot else 'dict', tail[-1]),
                  about + (' (slot state)' if slot else ' (dict state)'),
                  planted(key, slot), tail, proto=2, notes=(10, 11))
args_case('planted_class_then_BUILD', 'slot state sets __class__: the next BUILD is m.g.__setstate__',
          planted('__class__', True), ('BININT1', 7), 'BUILD', proto=2, notes=(11,))
args_case('planted_class_then_APPENDS', 'slot state sets __class__: APPENDS is m.g.extend',
          planted('__class__', True), 'MARK', ('BININT1', 1), 'APPENDS', proto=2, notes=(10, 11))
args_case('planted_class_then_SETITEMS', 'slot state sets __class__: SETITEMS is m.g.__setitem__',
          planted('__class__', True), 'MARK', u('k'), ('BININT1', 1), 'SETITEMS', proto=2, notes=(10, 11))
args_case('planted_class_by_dict_state', 'a dict state with __class__ only fills __dict__',
          planted('__class__', False), ('BININT1', 7), 'BUILD', proto=2, notes=(11,))
args_case('planted_append_unused', 'extend exists, so a planted append is not called',
          planted('append', False), 'MARK', ('BININT1', 1), 'APPENDS', proto=2, notes=(10, 11))
args_case('planted_setitem_unused', 'SETITEM uses the type slot: a planted __setitem__ is not called',
          planted('__setitem__', True), u('k'), ('BININT1', 1), 'SETITEM', proto=2, notes=(10, 11))
args_case('planted_by_call_result', 'the planted object is a call result',
          planted('extend', False, [G, 'EMPTY_TUPLE', 'REDUCE']), 'MARK', ('BININT1', 1), 'APPENDS',
          proto=2, notes=(10, 11))
# On the class itself: the planting BUILD is a call no rule allows, but
# what follows is still not what the scan names.
args_case('planted_new_on_class', 'slot state on the class sets __new__: NEWOBJ calls m.g(m.C, 1)',
          C, 'DUP', 'NONE', 'EMPTY_DICT', u('__new__'), G, 'SETITEM', 'TUPLE2', 'BUILD',
          ('BININT1', 1), 'TUPLE1', 'NEWOBJ', proto=2, notes=(11, 12))
args_case('planted_setstate_on_class', 'slot state on the class sets __setstate__ for its instances',
          C, 'DUP', 'NONE', 'EMPTY_DICT', u('__setstate__'), G, 'SETITEM', 'TUPLE2', 'BUILD',
          'EMPTY_TUPLE', 'NEWOBJ', ('BININT1', 1), 'BUILD', proto=2, notes=(11, 12))

# Frames: calls inside a FRAME, placed by the deframed oracle models.
args_case('FRAME_calls', 'calls inside a frame',
          frame(asm(call_f(('BININT1', 1)), 'POP', C, 'EMPTY_TUPLE', 'NEWOBJ', u('s'), 'BUILD'))
          + frame(asm(call_f(('BININT2', 4096), 'NEWFALSE'))), shapes=['(1,)', '"s"', '(int, False)'], proto=4)
args_case('FRAME_stream_memo', 'two framed pickles sharing a stream memo',
          frame(asm(('BININT1', 5), ('BINPUT', 0), 'STOP')),
          ('PROTO', 4), frame(asm(call_f(('BINGET', 0)))), raises=True, proto=4, notes=(8, 15))

# -- len32 framing (logging.handlers.SocketHandler) -------------------------

def len32(*payloads):
    return b''.join(struct.pack('>I', len(p)) + p for p in payloads)


LOG_RECORD = {
    'name': 'app.db', 'msg': 'query took %d ms', 'args': None, 'levelname': 'WARNING',
    'levelno': 30, 'pathname': '/srv/app/db.py', 'filename': 'db.py', 'module': 'db',
    'exc_info': None, 'exc_text': None, 'stack_info': None, 'lineno': 42,
    'funcName': 'run', 'created': 1700000000.25, 'msecs': 250.0,
    'relativeCreated': 1234.5, 'thread': 140000000000000, 'threadName': 'MainThread',
    'processName': 'MainProcess', 'process': 4242, 'taskName': None,
}
case('len32', 'socket_handler_records', 'two SocketHandler records, as makePickle sends them',
     len32(pickle.dumps(LOG_RECORD, 1), pickle.dumps(dict(LOG_RECORD, lineno=43), 1)),
     notes=[18], imports=set(), raises=False, framing='len32')
case('len32', 'second_message_imports', 'a benign record then a malicious message',
     len32(pickle.dumps(LOG_RECORD, 1), asm(('GLOBAL', 'os', 'system'), u('id'), 'TUPLE1', 'REDUCE', 'STOP')),
     notes=[18], imports=OS_SYSTEM, raises=False, framing='len32')
case('len32', 'memo_across_messages', 'a reader that keeps its memo sees os.system',
     len32(asm(u('os'), ('BINPUT', 0), 'STOP'), asm(('BINGET', 0), u('system'), 'STACK_GLOBAL', 'STOP')),
     notes=[8], imports=OS_SYSTEM, raises=True, framing='len32')
case('len32', 'memo_survives_failed_message', 'a kept memo holds what a failed message stored',
     len32(asm(u('os'), ('BINPUT', 0), 'POP', 'MARK', 'STOP'),
           asm(('BINGET', 0), u('system'), 'STACK_GLOBAL', 'STOP')),
     notes=[8, 18], imports=OS_SYSTEM, raises=True, framing='len32')
case('len32', 'trailing_bytes_in_message', 'bytes after STOP inside one message',
     len32(asm('NONE', 'STOP') + asm(('GLOBAL', 'os', 'system'), 'STOP')),
     notes=[18], imports=set(), raises=False, framing='len32')



# -- mp framing (multiprocessing.connection) ----------------------------------

def mp(*payloads, long_header=False):
    if long_header:
        return b''.join(struct.pack('>iQ', -1, len(p)) + p for p in payloads)
    return b''.join(struct.pack('>i', len(p)) + p for p in payloads)


case('mp', 'two_benign_messages', 'two Connection.send() messages',
     mp(pickle.dumps([1, 'a'], 5), pickle.dumps({'k': None}, 5)),
     notes=[18], imports=set(), raises=False, framing='mp')
case('mp', 'eight_byte_length', 'a -1 header and an 8-byte length',
     mp(pickle.dumps(('x', 1), 5), long_header=True), notes=[18], imports=set(), raises=False,
     framing='mp')
case('mp', 'malicious_second_message', 'a benign message then a REDUCE',
     mp(pickle.dumps(1, 5), asm(('PROTO', 5), sg('os', 'system'), u('id'), 'TUPLE1', 'REDUCE', 'STOP')),
     notes=[18], imports=OS_SYSTEM, raises=False, framing='mp')
case('mp', 'negative_length_raises', 'a length of -2 makes the receiver load nothing',
     struct.pack('>i', -2) + pickle.dumps(1, 5), notes=[18], imports=set(), raises=True, framing='mp')
case('mp', 'truncated_message_raises', 'the stream ends inside a message',
     struct.pack('>i', 100) + pickle.dumps(1, 5), notes=[18], imports=set(), raises=True, framing='mp')

# ----------------------------------------------------- pickler-made cases

def _recursive_list():
    x = [1]
    x.append(x)
    return x


def _recursive_dict():
    d = {'a': 1}
    d['self'] = d
    return d


def _tuple_cycle():
    x = []
    t = (x, 1)
    x.append(t)
    return t


def _shared():
    a = [1, 2]
    return [a, a, {'k': a}]


def _deep(n):
    v = []
    for _ in range(n):
        v = [v]
    return v


BENIGN_VALUES = [
    ('None', None), ('True', True), ('False', False), ('int_0', 0), ('int_1', 1), ('int_neg1', -1),
    ('int_255', 255), ('int_256', 256), ('int_65535', 65535), ('int_65536', 65536),
    ('int_2p31m1', 2**31 - 1), ('int_2p31', 2**31), ('int_neg2p31', -2**31), ('int_neg2p31m1', -2**31 - 1),
    ('int_2p63', 2**63), ('int_neg2p64', -2**64), ('int_10p100', 10**100), ('int_neg10p300', -10**300),
    ('int_2p10000', 2**10000),
    ('float_0', 0.0), ('float_neg0', -0.0), ('float_1_5', 1.5), ('float_max', 1e308),
    ('float_denorm', 5e-324), ('float_inf', float('inf')), ('float_neginf', float('-inf')),
    ('float_nan', float('nan')),
    ('str_empty', ''), ('str_ascii', 'hello world'), ('str_latin1', 'caf\xe9'),
    ('str_cjk', '\u65e5\u672c\u8a9e'), ('str_astral', '\U0001f600'), ('str_lone_surrogate', '\ud800'),
    ('str_surrogate_pair_halves', 'a\ud83dz\ude00'), ('str_newline', 'line\nbreak\r\n'),
    ('str_backslash', 'back\\slash \\u0041'), ('str_nul', '\x00nul'), ('str_300', 'x' * 300),
    ('str_70k', 'y' * 70000),
    ('bytes_empty', b''), ('bytes_binary', b'\x00\xff\n.'), ('bytes_300', bytes(range(256)) + b'z' * 44),
    ('bytearray', bytearray(b'abc')), ('bytearray_empty', bytearray()),
    ('tuple_0', ()), ('tuple_1', (1,)), ('tuple_2', (1, 'a')), ('tuple_3', (1, 2, 3)),
    ('tuple_4', (1, 2, 3, 4)), ('list_empty', []), ('list_small', [1, 'a', None, 2.5]),
    ('list_1500', list(range(1500))), ('list_30000', list(range(30000))),
    ('dict_empty', {}), ('dict_mixed', {1: 'a', 'b': [2, 3], (4, 5): None, None: {'x': b'y'}}),
    ('nested', {'nested': {'deeper': [1, (2.5, 'x'), {'k': b'v'}]}}), ('deep_list_60', _deep(60)),
    ('set_empty', set()), ('set_ints', {1, 2, 3}), ('frozenset_empty', frozenset()),
    ('frozenset_ints', frozenset({4, 5})), ('recursive_list', _recursive_list()),
    ('recursive_dict', _recursive_dict()), ('tuple_cycle', _tuple_cycle()), ('shared_refs', _shared()),
    ('log_record', LOG_RECORD),
]

# Stdlib objects whose pickles import: real traffic the analyzer must report.
TRAFFIC_VALUES = [
    ('os_system', os.system), ('subprocess_Popen', subprocess.Popen),
    ('functools_reduce', functools.reduce), ('nested_class', argparse._SubParsersAction._ChoicesPseudoAction),
    ('OrderedDict', collections.OrderedDict([('a', 1), ('b', [2])])),
    ('datetime', datetime.datetime(2020, 1, 2, 3, 4, 5, 6)), ('decimal', decimal.Decimal('1.25')),
    ('complex', complex(1, -2)), ('range', range(1, 10, 2)), ('slice', slice(1, None, 3)),
    ('exception', ValueError('bad', 7)), ('counter', collections.Counter('abca')),
    ('defaultdict', collections.defaultdict(list, {'k': [1]})), ('logging_Formatter', logging.Formatter),
]


def pickler_cases():
    out = []
    for label, value in BENIGN_VALUES:
        for proto in range(6):
            out.append(Case('benign/%s_p%d' % (label, proto), 'benign', pickle.dumps(value, proto),
                            'pickle.dumps(%s, %d)' % (label, proto)))
        for proto in (4, 5):
            data = pickle._dumps(value, proto)
            if data != pickle.dumps(value, proto):
                out.append(Case('benign/%s_p%d_py' % (label, proto), 'benign', data,
                                'pure-Python pickler, protocol %d' % proto))
    for label, value in TRAFFIC_VALUES:
        for proto in range(6):
            out.append(Case('traffic/%s_p%d' % (label, proto), 'traffic', pickle.dumps(value, proto),
                            'pickle.dumps(%s, %d)' % (label, proto), notes=(5,) if proto < 3 else ()))
    # Python 2 era text pickles, as old clients still send them.
    py2 = [
        ('py2_list', b'(lp0\nI1\naI2\naS\'three\'\np1\na.'),
        ('py2_dict', b"(dp0\nS'key'\np1\nS'value'\np2\nsS'n'\np3\nL12345678901234567890L\ns."),
        ('py2_tuple_memo', b"(S'a'\np0\ng0\nI01\nI00\ntp1\n."),
        ('py2_unicode', b'(lp0\nV\\u00e9t\\u00e9\np1\naVplain\np2\naF1.5\na.'),
        ('py2_nested', b"(dp0\nS'l'\np1\n(lp2\n(dp3\nag3\nasS't'\np4\n(I1\ntp5\ns."),
        ('py1_binary', b']q\x00(K\x01K\x02U\x03abcq\x01e.'),
        ('py1_dict', b'}q\x00(U\x01aq\x01K\x01U\x01bq\x02G?\xf8\x00\x00\x00\x00\x00\x00u.'),
    ]
    for label, data in py2:
        out.append(Case('benign/' + label, 'benign', data, 'hand-written Python 2 pickle'))
    return out


def curated_cases():
    """The fixed corpus: pickler output and the crafted cases."""
    cases = pickler_cases() + list(CASES)
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), 'duplicate case names'
    return cases


# ---------------------------------------------------------------- mutations

def opcode_spans(data):
    """(start, end, opcode) of every opcode pickletools can decode, across
    consecutive pickles; stops at the first undecodable byte."""
    spans, pos = [], 0
    while pos < len(data):
        try:
            ops = list(_genops_tolerant(data[pos:]))
        except Exception:
            break
        if not ops:
            break
        for i, (op, at) in enumerate(ops):
            end = ops[i + 1][1] if i + 1 < len(ops) else None
            spans.append((pos + at, None if end is None else pos + end, op))
        last_op, last_at = ops[-1]
        if last_op.name != 'STOP':
            break
        pos += last_at + 1
    # Fill the end of the last span of each run.
    fixed = []
    for i, (start, end, op) in enumerate(spans):
        if end is None:
            end = spans[i + 1][0] if i + 1 < len(spans) else len(data)
        fixed.append((start, end, op))
    return fixed


def _genops_tolerant(data):
    """pickletools.genops, stopping quietly at the first error."""
    gen = pickletools.genops(data)
    while True:
        try:
            op, _arg, pos = next(gen)
        except StopIteration:
            return
        except Exception:
            return
        yield op, pos


def opcodes_used(data):
    return {op.name for _, _, op in opcode_spans(data)}


INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
               1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]
LENGTH_FIELDS = {'uint1': 1, 'uint2': 2, 'uint4': 4, 'int4': 4, 'uint8': 8, 'long1': 1, 'long4': 4,
                 'string1': 1, 'string4': 4, 'bytes1': 1, 'bytes4': 4, 'bytes8': 8,
                 'bytearray8': 8, 'unicodestring1': 1, 'unicodestring4': 4, 'unicodestring8': 8}


def _mutate_once(rng, data, corpus):
    if not data:
        return bytes([rng.randrange(256)])
    kind = rng.choice(['flip', 'flip', 'set', 'insert', 'insert_op', 'delete', 'splice', 'splice',
                       'length', 'length', 'length', 'dup_op', 'drop_op', 'swap_ops', 'concat'])
    if kind == 'concat':        # one more pickle in the stream (memo carried, note 8)
        other = rng.choice(corpus)
        return data + other if rng.random() < 0.5 else other + data
    spans = opcode_spans(data) if kind in ('splice', 'length', 'dup_op', 'drop_op', 'swap_ops') else []
    if kind == 'flip':
        i = rng.randrange(len(data))
        return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]
    if kind == 'set':
        i = rng.randrange(len(data))
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]
    if kind == 'insert':
        i = rng.randrange(len(data) + 1)
        return data[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 4))) + data[i:]
    if kind == 'insert_op':
        i = rng.randrange(len(data) + 1)
        op = rng.choice(pickletools.opcodes)
        return data[:i] + op.code.encode('latin-1') + data[i:]
    if kind == 'delete':
        i = rng.randrange(len(data))
        return data[:i] + data[i + rng.randint(1, 8):]
    if kind == 'splice':
        other = rng.choice(corpus)
        other_spans = opcode_spans(other)
        cut_a = rng.choice(spans)[0] if spans else rng.randrange(len(data) + 1)
        cut_b = rng.choice(other_spans)[0] if other_spans else rng.randrange(len(other) + 1)
        if rng.random() < 0.5:
            return data[:cut_a] + other[cut_b:]
        end_b = rng.choice(other_spans)[1] if other_spans else len(other)
        return data[:cut_a] + other[cut_b:max(cut_b, end_b)] + data[cut_a:]
    if kind == 'length':
        fields = [(s, op) for s, e, op in spans if op.arg is not None and op.arg.name in LENGTH_FIELDS]
        if not fields:
            return _mutate_once(rng, data, corpus)
        start, op = rng.choice(fields)
        width = LENGTH_FIELDS[op.arg.name]
        old = int.from_bytes(data[start + 1:start + 1 + width], 'little')
        new = rng.choice(INTERESTING + [old + 1, old - 1, old + rng.randint(2, 16), old // 2])
        new %= 1 << (8 * width)
        return data[:start + 1] + new.to_bytes(width, 'little') + data[start + 1 + width:]
    if not spans:
        return _mutate_once(rng, data, corpus)
    a = rng.choice(spans)
    if kind == 'dup_op':
        return data[:a[1]] + data[a[0]:a[1]] + data[a[1]:]
    if kind == 'drop_op':
        return data[:a[0]] + data[a[1]:]
    b = rng.choice(spans)
    (x, y) = sorted([a, b])
    if x[1] > y[0]:
        return data
    return data[:x[0]] + data[y[0]:y[1]] + data[x[1]:y[0]] + data[x[0]:x[1]] + data[y[1]:]


NAMES = ['os', 'system', 'posix', '__builtin__', 'eval', 'commands', 'getoutput', 'copy_reg',
         'cPickle', 'path.join', 'x', '__name__', 'str', 'builtins', '\ud800', '']


def random_program(rng):
    """A random opcode sequence that keeps a rough count of the stack and
    the marks, so most of it runs: imports, memo traffic, marks and data
    opcodes in combinations no single crafted case has."""
    out = []
    depth, marks = 0, []        # items above the top mark; depths below marks
    memo = 0
    name = lambda: rng.choice(NAMES)

    def push(*ops):
        nonlocal depth
        out.extend(ops)
        depth += 1

    for _ in range(rng.randint(3, 40)):
        r = rng.random()
        if r < 0.25 or depth == 0:
            kind = rng.randrange(9)
            if kind == 0:
                push(u(name()))
            elif kind == 1:
                push(('STRING', "'%s'" % name().encode('unicode_escape').decode()))
            elif kind == 2:
                push(('GLOBAL', name() or 'x', name() or 'y'))
            elif kind == 3:
                push(('BININT1', rng.randrange(4)))
            elif kind == 4:
                push(rng.choice(['NONE', 'EMPTY_LIST', 'EMPTY_DICT', 'EMPTY_TUPLE', 'EMPTY_SET']))
            elif kind == 5 and memo:
                push(rng.choice([('BINGET', rng.randrange(memo + 1)), ('GET', '%d' % rng.randrange(memo + 1)),
                                 ('LONG_BINGET', rng.randrange(memo + 1))]))
            elif kind == 6:
                push(('EXT1', rng.choice([1, 0xff])))
            elif kind == 7:
                push(('PERSID', name()))
            else:
                push(('UNICODE', name().encode('raw_unicode_escape') + b'\n'))
        elif r < 0.40:
            out.append(rng.choice([('BINPUT', rng.randrange(4)), 'MEMOIZE', ('PUT', '%d' % rng.randrange(4)),
                                   ('LONG_BINPUT', rng.randrange(4))]))
            memo = min(memo + 1, 6)
        elif r < 0.50:
            out.append('MARK')
            marks.append(depth)
            depth = 0
        elif r < 0.58 and depth >= 2:
            out.append('STACK_GLOBAL')
            depth -= 1
        elif r < 0.63 and marks:
            op = rng.choice(['TUPLE', 'LIST', 'DICT' if depth % 2 == 0 else 'TUPLE', 'FROZENSET', 'POP_MARK'])
            out.append(op)
            depth = marks.pop() + (op != 'POP_MARK')
        elif r < 0.68 and marks and marks[-1] > 0:
            out.append(rng.choice(['APPENDS', 'SETITEMS' if depth % 2 == 0 else 'APPENDS', 'ADDITEMS']))
            depth = marks.pop()
        elif r < 0.75 and depth >= 2:
            op = rng.choice(['REDUCE', 'BUILD', 'NEWOBJ', 'APPEND', 'TUPLE2'])
            if op in ('REDUCE', 'NEWOBJ') and rng.random() < 0.7:
                out.append('TUPLE1')        # the arguments, most of the time a tuple
            out.append(op)
            depth -= 1
        elif r < 0.78 and depth >= 3:
            out.append(rng.choice(['SETITEM', 'NEWOBJ_EX', 'TUPLE3']))
            depth -= 2
        elif r < 0.86:
            out.append(rng.choice(['DUP', 'DUP', 'TUPLE1', 'TUPLE1', 'BINPERSID'] * 4 + ['READONLY_BUFFER']))
            depth += out[-1] == 'DUP'
        elif r < 0.90:
            out.append('POP')
            if depth:
                depth -= 1
            elif marks:
                depth = marks.pop()
        elif r < 0.94:
            out.append(('PROTO', rng.choice([0, 1, 2, 3, 4, 5])))
        elif r < 0.97 and depth >= 1:
            out.append('STOP')      # a new pickle starts; a stream keeps the memo
            depth, marks = 0, []
        else:
            out.append(rng.choice([('INST', name() or 'x', name() or 'y'), 'OBJ']))
            if marks:
                depth = marks.pop() + 1
            else:
                depth += 1
    if depth == 0:
        out.append('NONE')
    out.append('STOP')
    return asm(*out)


# Random call-heavy programs for the args check: every value a shape can
# describe, in every encoding, reaching REDUCE, NEWOBJ, NEWOBJ_EX, OBJ,
# INST, BUILD, PERSID and BINPERSID directly, through the memo, DUP, nested
# tuples and other calls' results; now and then framed or a stream.

ARG_NAMES = [('m', 'f'), ('m', 'g'), ('m', 'C'), ('builtins', 'str'), ('__builtin__', 'str'),
             ('os', '__name__'), ('__builtin__', 'eval'), ('exceptions', 'StandardError'),
             ('os', 'path.join'), ('copy_reg', '_reconstructor'), ('a b', 'c'), ('\xe9', 'x')]
CALLABLE_NAMES = [n for n in ARG_NAMES if n[1] not in ('str', '__name__')]
ARG_INTS = [0, 1, 2, -1, 7, 10, 100, 255, 256, 1000, 4095, 4096, -255, -256, -257, 65535, 65536,
            2**31 - 1, -2**31, 2**32, 2**63 - 1, 2**63, -2**63 - 1, 2**64 + 1]
ARG_CHARS = (['a', 'b', 'Z', '0', ' ', '~', '"', '\\', "'", ':', '(', ',', '?'] * 4 +
             ['\x00', '\t', '\n', '\r', '\x1f', '\x7f', '\xe9', '\u65e5', '\U0001f600'])


def _int_text(rng, v):
    """A text an INT/LONG line could carry for about ${v}; CPython decides
    what it means (octal zeros, bools of two characters, fallbacks)."""
    sign = '-' if v < 0 else rng.choice(['', '', '', '+'])
    a = abs(v)
    body = rng.choice(['%d' % a, '%d' % a, '%d' % a, '0x%x' % a, '0X%X' % a, '0%o' % a,
                       '0o%o' % a, '0b{:b}'.format(a), '0%d' % a, '00%d' % a, '{:_}'.format(a)])
    text = sign + body
    r = rng.random()
    if r < 0.1:
        text = rng.choice([' ', '\t', '  ', '\x0b']) + text
    elif r < 0.2:
        text += rng.choice([' ', '\r', '\x00', '\x00junk', '\t', 'L'])
    return text.encode() + b'\n'


class _ArgsGen:
    def __init__(self, rng):
        self.rng = rng
        self.memo = {}          # index -> whether a tuple is stored there
        self.proto = None

    def import_ops(self, callable_=False):
        # A callable is mostly a stub of the oracle: str and os.__name__
        # fail on most arguments.  Now and then m.fail, whose calls raise,
        # or nomod, whose import raises: a server that resumes after the
        # error reads on (oracle.py "-resume" models).
        names = ARG_NAMES if not callable_ or self.rng.random() < 0.05 else CALLABLE_NAMES
        module, name = self.rng.choice(names)
        r = self.rng.random()
        if callable_ and r < 0.06:
            module, name = 'm', 'fail'
        elif r < 0.01:
            module, name = 'nomod', 'x'
        r = self.rng.random()
        if r < 0.6:
            return [('GLOBAL', module, name)]
        if r < 0.9:
            return sg(module, name)
        return [('GLOBAL', 'builtins', 'str'), u(module), 'TUPLE1', 'REDUCE', u(name), 'STACK_GLOBAL']

    def memoize(self, ops, is_tuple=False):
        """Maybe store the value just pushed in the memo."""
        rng = self.rng
        if rng.random() < 0.25:
            kind = rng.randrange(4)
            if kind == 0:
                index = len(self.memo)
                ops = ops + ['MEMOIZE']
            else:
                index = rng.choice([0, 1, 2, 3, 5, 100, 300])
                ops = ops + [[('BINPUT', index)] if kind == 1 and index < 256 else
                             [('PUT', b'%d\n' % index)] if kind == 2 else [('LONG_BINPUT', index)]]
            self.memo[index] = is_tuple
        return ops

    def get(self, want_tuple=False):
        rng = self.rng
        choices = [k for k, t in self.memo.items() if t or not want_tuple]
        if not choices:
            return None
        index = rng.choice(choices)
        kind = rng.randrange(3)
        if kind == 0 and index < 256:
            return [('BINGET', index)]
        if kind == 1:
            return [('GET', (rng.choice(['', '0', ' ']) + '%d' % index).encode() + b'\n')]
        return [('LONG_BINGET', index)]

    def int_ops(self):
        rng = self.rng
        v = rng.choice(ARG_INTS) if rng.random() < 0.8 else rng.randint(-300, 5000)
        forms = ['INT', 'LONG', 'LONG1']
        if 0 <= v < 256:
            forms.append('BININT1')
        if 0 <= v < 65536:
            forms.append('BININT2')
        if -2**31 <= v < 2**31:
            forms += ['BININT', 'BININT']
        op = rng.choice(forms)
        if op == 'INT':
            if rng.random() < 0.15:
                return [('INT', rng.choice([b'00', b'01', b'-0', b'+1', b' 1', b'\t0', b'0 ', b'1\x00']) + b'\n')]
            return [('INT', _int_text(rng, v))]
        if op == 'LONG':
            return [('LONG', _int_text(rng, v).replace(b'\n', b'') + rng.choice([b'L\n', b'\n']))]
        return [(op, v)]

    def str_ops(self):
        rng = self.rng
        n = rng.choice([0, 1, 2, 5, 20, 62, 63, 64, 64, 65, 66, 100, 300])
        printable = rng.random() < 0.7
        text = ''.join(rng.choice(ARG_CHARS[:52] if printable else ARG_CHARS) for _ in range(n))
        op = rng.choice(['SHORT_BINUNICODE', 'SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8', 'UNICODE',
                         'STRING', 'SHORT_BINSTRING', 'BINSTRING'])
        if op == 'SHORT_BINUNICODE' and len(text.encode('utf-8', 'surrogatepass')) > 255:
            op = 'BINUNICODE'
        if op == 'UNICODE':
            return [('UNICODE', text.encode('raw_unicode_escape').replace(b'\n', b'\\u000a') + b'\n')]
        if op in ('STRING', 'SHORT_BINSTRING', 'BINSTRING'):
            text = text.encode('ascii', 'replace').decode()     # decoded as ASCII
        if op == 'STRING':
            body = text.encode('unicode_escape').replace(b"'", b"\\'")
            return [('STRING', b"'" + body + b"'\n")]
        if op in ('SHORT_BINSTRING', 'BINSTRING'):
            raw = text.encode('latin-1', 'replace')
            if op == 'SHORT_BINSTRING' and len(raw) < 256:
                return [(op, Raw(struct.pack('<B', len(raw)) + raw))]
            return [('BINSTRING', Raw(struct.pack('<i', len(raw)) + raw))]
        return [(op, text)]

    def value(self, depth=0, pure=False):
        """Ops that push exactly one value; a pure one imports nothing."""
        rng = self.rng
        r = rng.random()
        if depth > 7:
            r = rng.random() * 0.45
        elif pure:
            r = rng.random() * 0.75
        if r < 0.17:
            ops = self.int_ops()
        elif r < 0.30:
            ops = self.str_ops()
        elif r < 0.36:
            ops = [rng.choice(['NONE', 'NEWTRUE', 'NEWFALSE', ('BINFLOAT', 1.0), ('FLOAT', b'1\n'),
                               ('INT', b'01\n'), ('INT', b'00\n')])]
        elif r < 0.40:
            ops = [rng.choice([('SHORT_BINBYTES', b'ab'), ('BINBYTES', b''), ('BINBYTES8', b'x'),
                               ('BYTEARRAY8', b'y')])]
            if rng.random() < 0.3:
                ops.append('READONLY_BUFFER')
        elif r < 0.45:
            ops = [rng.choice(['EMPTY_LIST', 'EMPTY_DICT', 'EMPTY_SET', ['MARK', 'FROZENSET'],
                               ['MARK', self.int_ops(), 'LIST'], ['MARK', u('k'), self.int_ops(), 'DICT']])]
        elif r < 0.65:
            return self.memoize(self.tuple_ops(depth + 1, pure), True)
        elif r < 0.75:
            got = None if pure else self.get()
            if got is not None:
                return got
            ops = self.int_ops()
        elif r < 0.83:
            ops = self.import_ops()
        elif r < 0.97:
            ops = self.call_ops(depth + 1)
        else:
            ops = rng.choice([[('PERSID', 'p%d' % rng.randrange(3))], [self.value(depth + 1), 'BINPERSID']])
        return self.memoize(ops)

    def tuple_ops(self, depth, pure=False):
        rng = self.rng
        r = rng.random()
        if r < 0.1:
            return ['EMPTY_TUPLE']
        if r < 0.5:
            k = rng.randint(1, 3)
            return [self.value(depth, pure) for _ in range(k)] + [('TUPLE%d' % k)]
        if r < 0.95:
            items = []
            for _ in range(rng.randint(0, 6)):
                items.append('DUP' if items and rng.random() < 0.15 else self.value(depth, pure))
            return ['MARK'] + items + ['TUPLE']
        # Long tuples: shapes near and over 1024 bytes.
        n = rng.choice([150, 250, 300, 340, 341, 342, 345, 400])
        item = rng.choice([[('BININT1', 0)], [('BININT1', 10)], ['NONE'], [u('ab')]])
        return ['MARK'] + [item] * n + ['TUPLE']

    def args_tuple(self, depth):
        got = self.get(want_tuple=True) if self.rng.random() < 0.15 else None
        return got or self.tuple_ops(depth)

    def callable_ops(self, depth):
        rng = self.rng
        if rng.random() < 0.85 or depth > 6:
            return self.import_ops(True)
        return self.call_ops(depth + 1)

    def call_ops(self, depth):
        """Ops of one call, pushing its result."""
        rng = self.rng
        kind = rng.choice(['REDUCE'] * 4 + ['NEWOBJ', 'NEWOBJ_EX', 'OBJ', 'INST', 'BUILD', 'PERSID', 'BINPERSID'])
        if kind == 'REDUCE':
            return [self.callable_ops(depth), self.args_tuple(depth), 'REDUCE']
        if kind == 'NEWOBJ':
            return [self.import_ops(True), self.args_tuple(depth), 'NEWOBJ']
        if kind == 'NEWOBJ_EX':
            kwargs = ['EMPTY_DICT']
            for _ in range(rng.randint(0, 2)):
                kwargs += [u(rng.choice(['k', 'key', 'x'])), self.value(depth), 'SETITEM']
            if rng.random() < 0.2:
                got = self.get()
                kwargs = got or kwargs
            return [self.import_ops(True), self.args_tuple(depth), kwargs, 'NEWOBJ_EX']
        if kind == 'OBJ':
            items = [self.value(depth) for _ in range(rng.randint(0, 3))]
            return ['MARK', self.callable_ops(depth)] + items + ['OBJ']
        if kind == 'INST':
            module, name = rng.choice([n for n in ARG_NAMES if n[0].isascii() and ' ' not in n[0]])
            return ['MARK'] + [self.value(depth) for _ in range(rng.randint(0, 3))] + [('INST', module, name)]
        if kind == 'BUILD':
            return [self.call_ops(depth + 1) if depth < 6 else self.import_ops(True), self.value(depth), 'BUILD']
        if kind == 'PERSID':
            return [('PERSID', rng.choice(['a', '', 'p' * 64, 'p' * 65, 'x"y', 'a\\b', 'a b', '5']))]
        return [self.value(depth), 'BINPERSID']

    def method_ops(self, depth=0):
        """An object made by a call, then BUILD (now and then with a state
        that plants a method or sets __class__), APPEND(S), ADDITEMS and
        SETITEM(S) on it: the calls CPython looks up on the instance."""
        rng = self.rng
        ops = [self.import_ops(True), rng.choice([['EMPTY_TUPLE', 'NEWOBJ'], ['EMPTY_TUPLE', 'REDUCE'],
                                                  [self.args_tuple(depth + 1), 'REDUCE']])]
        for _ in range(rng.randint(1, 4)):
            r = rng.random()
            if r < 0.4:
                state = ['EMPTY_DICT']
                for _ in range(rng.randint(0, 2)):
                    key = rng.choice(['x', 'extend', 'add', '__class__', '__setstate__', 'append',
                                      '__setitem__', '__new__', '__dict__'])
                    state += [u(key), self.import_ops(True) if rng.random() < 0.7 else self.value(depth + 1),
                              'SETITEM']
                if rng.random() < 0.5:
                    state = ['NONE' if rng.random() < 0.7 else 'EMPTY_DICT', state, 'TUPLE2']
                ops += [state if rng.random() < 0.85 else self.value(depth + 1), 'BUILD']
            elif r < 0.6:
                ops += ['MARK'] + [self.value(depth + 1) for _ in range(rng.randint(0, 2))] + ['APPENDS']
            elif r < 0.7:
                ops += [self.value(depth + 1), 'APPEND']
            elif r < 0.8:
                ops += ['MARK', self.int_ops(), 'ADDITEMS']
            elif r < 0.9:
                ops += ['MARK', u('k'), self.value(depth + 1), 'SETITEMS']
            else:
                ops += [self.str_ops(), self.value(depth + 1), 'SETITEM']
        return ops

    def program(self):
        """One pickle of calls, or a stream whose leading pickles only fill
        the memo (a scan cuts the stream after a denied pickle, so only the
        last one calls)."""
        rng = self.rng
        out = []
        n = rng.choice([1, 1, 1, 2, 2, 3])
        for k in range(n):
            body = []
            self.proto = rng.choice([None, 0, 2, 3, 4, 5])
            if self.proto is not None:
                body.append(('PROTO', self.proto))
            if rng.random() < 0.3:      # what a message memo knows
                self.memo = {}
            if k < n - 1:
                for _ in range(rng.randint(1, 5)):
                    body.append(self.value(0, pure=True))
                    body.append('POP')
            else:
                for _ in range(rng.randint(1, 4)):
                    body.append(self.call_ops(0) if rng.random() < 0.75 else self.method_ops())
                    body.append('POP')
            body.append(self.value(0, pure=k < n - 1))
            inner = asm(body[1:] if self.proto is not None else body, 'STOP')
            head = asm(body[0]) if self.proto is not None else b''
            if rng.random() < 0.2:
                out.append(head + asm(frame(inner)))
            else:
                out.append(head + inner)
        return b''.join(out)


def args_programs(count, seed):
    rng = random.Random(seed)
    out = []
    for i in range(count):
        data = _ArgsGen(rng).program()
        out.append(Case('argsgen/%05d' % i, 'argsgen', data, 'args program, seed %d #%d' % (seed, i),
                        curated=False))
    return out


MAX_SOURCE_BYTES = 2048


def mutations(cases, count, seed):
    """`count` mutants of the raw-framed corpus pickles, deterministic in
    `seed`; each applies 1-3 random edits."""
    rng = random.Random(seed)
    corpus = [c.data for c in cases if c.framing == 'raw' and 0 < len(c.data) <= MAX_SOURCE_BYTES]
    # Half the mutants start from a crafted case: they sit next to the
    # semantics that matter (memo, marks, frames, names).
    crafted = [c.data for c in cases if c.framing == 'raw' and c.group not in ('benign', 'traffic')
               and 0 < len(c.data) <= MAX_SOURCE_BYTES]
    def mutant():
        data = rng.choice(crafted if rng.random() < 0.5 else corpus)
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            data = _mutate_once(rng, data, corpus)
        return data or b'.'

    out = []
    for i in range(count):
        framing = 'raw' if rng.random() < 0.9 else rng.choice(['len32', 'mp'])
        if framing == 'raw' and rng.random() < 0.3:
            data = random_program(rng)
            if rng.random() < 0.3:
                data = _mutate_once(rng, data, corpus)
        elif framing == 'raw':
            data = mutant()
        else:
            data = b''.join(_framed(rng, framing, mutant()) for _ in range(rng.randint(1, 3)))
        out.append(Case('mutation/%05d' % i, 'mutation', data, 'seed %d #%d' % (seed, i),
                        framing=framing, curated=False))
    return out


def _framed(rng, framing, payload):
    """One message around `payload`, its length field now and then wrong."""
    size = len(payload)
    if rng.random() < 0.2:
        size = max(0, size + rng.choice([-3, -1, 1, 2, 1000]))
    if framing == 'len32':
        return struct.pack('>I', size) + payload
    if rng.random() < 0.2:
        return struct.pack('>iQ', -1, size) + payload
    if rng.random() < 0.05:
        return struct.pack('>i', rng.choice([-2, -(1 << 31)])) + payload
    return struct.pack('>i', size) + payload


if __name__ == '__main__':
    # gen.py: list the curated cases with the opcodes they use.
    for c in curated_cases():
        print('%-60s %6d  %s' % (c.name, len(c.data), c.about))
