"""The gadget names the rule tests feed to picklewall, and how to pickle them.

Shared by tests/rules/gadgets*/make.py (imported with sys.path).  Each entry
of GADGETS is (rule id, name, how):

  rule id  the rules/gadgets.rules rule expected to decide the import (the
           first denylist rule matching the name);
  name     "module:qualname" as picklewall reports it (after the
           _compat_pickle mapping at protocols 0-2); a dotted qualname is a
           protocol-4 attribute walk;
  how      "real": CPython's own pickler writes the import, from a class
           whose __reduce__ returns (the object, ()); used when the module
           imports cleanly in the producing interpreter, has no import-time
           side effect, and the object pickles by reference under exactly
           this name (otherwise the hand-assembled form is used, and make.py
           says so on stderr);
           "hand": assembled opcode by opcode: GLOBAL (protocols 0-3) or
           STACK_GLOBAL (4-5), an empty tuple, REDUCE, STOP.  For names
           CPython cannot pickle by reference (instances, dotted walks,
           Python 2 names, modules absent here or with side effects on
           import, third-party packages).

BENIGN lists names a benign policy may need; under an allow-everything
policy they must be allowed (the denylist must not match them).
BENIGN_REAL are values whose CPython pickles must likewise be allowed.

Nothing here unpickles anything.
"""

import importlib
import io
import pickle
import pickletools
import sys
import warnings

GADGETS = [
    # ---- 9000xx builtins
    (900000, "builtins:eval", "real"),
    (900000, "builtins:exec", "real"),
    (900000, "builtins:compile", "real"),
    (900000, "__builtin__:execfile", "hand"),      # Python 2
    (900000, "__builtin__:apply", "hand"),         # Python 2
    (900001, "builtins:__import__", "real"),
    (900001, "__builtin__:reload", "hand"),        # Python 2
    (900002, "builtins:getattr", "real"),
    (900002, "builtins:setattr", "real"),
    (900002, "builtins:delattr", "real"),
    (900002, "builtins:hasattr", "real"),
    (900003, "builtins:globals", "real"),
    (900003, "builtins:locals", "real"),
    (900003, "builtins:vars", "real"),
    (900004, "builtins:open", "hand"),             # open pickles as io.open
    (900004, "__builtin__:file", "hand"),          # Python 2
    (900005, "builtins:breakpoint", "real"),
    (900005, "builtins:input", "real"),
    (900005, "builtins:help", "hand"),             # a _Helper instance
    (900005, "builtins:exit", "hand"),             # a Quitter instance
    (900005, "__builtin__:raw_input", "hand"),     # Python 2
    (900006, "_sitebuiltins:_Helper", "real"),
    (900006, "_sitebuiltins:Quitter", "real"),
    # ---- 9001xx processes
    (900100, "posix:system", "real"),
    (900100, "os:popen", "real"),
    (900100, "posix:execv", "real"),
    (900100, "nt:system", "hand"),                 # Windows
    (900100, "os:path.os.system", "hand"),         # walk
    (900100, "random:_os.system", "hand"),         # walk through an alias
    (900100, "posixpath:os.remove", "hand"),       # walk
    (900101, "subprocess:Popen", "real"),
    (900101, "subprocess:check_output", "real"),
    (900101, "subprocess:getoutput", "real"),
    (900101, "_posixsubprocess:fork_exec", "real"),
    (900101, "commands:getstatusoutput", "hand"),  # Python 2 (subprocess at 0-2)
    (900101, "ensurepip:subprocess.run", "hand"),  # walk
    (900102, "pty:spawn", "real"),
    (900102, "pty:fork", "real"),
    (900103, "platform:_syscmd_file", "real"),
    (900103, "platform:popen", "hand"),            # Python <= 3.7
    (900103, "pkg_resources:platform.libc_ver", "hand"),  # walk
    (900104, "uuid:_get_command_stdout", "real"),
    (900104, "uuid:_find_mac_near_keyword", "real"),
    (900104, "uuid:_popen", "hand"),               # Python 3.6
    (900104, "app.models:uuid._get_command_stdout", "hand"),  # walk
    (900105, "_osx_support:_read_output", "real"),
    (900105, "_osx_support:_find_build_tool", "real"),
    (900105, "_aix_support:_read_cmd_output", "hand"),  # Python 3.12+
    (900106, "_pyrepl.pager:pipe_pager", "hand"),  # Python 3.13
    (900107, "multiprocessing.util:spawnv_passfds", "real"),
    (900107, "multiprocessing.spawn:prepare", "real"),
    (900107, "multiprocessing.spawn:import_main_path", "real"),
    (900107, "multiprocessing.popen_fork:Popen", "real"),
    (900107, "multiprocessing.resource_tracker:main", "real"),
    (900107, "multiprocessing.forkserver:main", "real"),
    (900108, "ensurepip:_run_pip", "real"),
    (900108, "venv:create", "real"),
    (900108, "pip:main", "hand"),
    (900109, "distutils.core:run_setup", "hand"),  # Python <= 3.11
    (900109, "distutils.file_util:write_file", "hand"),
    (900109, "distutils.spawn:spawn", "hand"),
    (900109, "setuptools.sandbox:run_setup", "hand"),
    (900109, "setuptools._distutils.spawn:spawn", "hand"),
    # ---- 9002xx source code
    (900200, "code:interact", "real"),
    (900200, "code:InteractiveInterpreter.runcode", "hand"),
    (900200, "codeop:compile_command", "real"),
    (900200, "codeop:CommandCompiler", "real"),
    (900200, "pdb:code.interact", "hand"),         # walk
    (900201, "runpy:run_path", "real"),
    (900201, "runpy:_run_code", "real"),
    (900201, "multiprocessing.spawn:runpy.run_path", "hand"),  # walk
    (900202, "marshal:loads", "real"),
    (900202, "marshal:load", "real"),
    (900202, "modulefinder:marshal.loads", "hand"),  # walk
    (900203, "types:CodeType", "hand"),            # the class is builtins.code
    (900203, "types:FunctionType", "hand"),
    (900203, "types:LambdaType", "hand"),
    (900203, "dis:types.FunctionType", "hand"),    # walk
    (900204, "timeit:timeit", "real"),
    (900204, "cProfile:run", "real"),
    (900204, "cProfile:runctx", "real"),
    (900204, "profile:run", "real"),
    (900204, "profile:Profile.runctx", "hand"),
    (900204, "trace:Trace.run", "hand"),
    (900204, "app.bench:timeit.timeit", "hand"),   # walk
    (900205, "pdb:run", "real"),
    (900205, "pdb:set_trace", "real"),
    (900205, "bdb:Bdb.run", "hand"),
    (900206, "doctest:debug_script", "real"),
    (900206, "doctest:run_docstring_examples", "real"),
    (900207, "idlelib.run:Executive.runcode", "hand"),
    (900207, "idlelib.pyshell:ModifiedInterpreter.runcommand", "hand"),
    (900207, "idlelib.calltip:get_entity", "hand"),
    (900208, "lib2to3.pgen2.pgen:ParserGenerator.make_label", "hand"),
    (900208, "lib2to3.pgen2.grammar:Grammar.loads", "hand"),
    (900209, "_xxsubinterpreters:run_string", "hand"),   # Python 3.12
    (900209, "_interpreters:run_string", "hand"),        # Python 3.13
    (900210, "test.support.script_helper:assert_python_ok", "hand"),
    (900210, "test.support.os_helper:rmtree", "hand"),
    (900211, "typing:_eval_type", "real"),
    (900211, "typing:get_type_hints", "real"),
    (900211, "typing:ForwardRef._evaluate", "hand"),
    (900211, "typing_extensions:get_type_hints", "hand"),
    (900212, "logging.config:dictConfig", "real"),
    (900212, "logging.config:fileConfig", "real"),
    (900212, "logging.config:listen", "real"),
    (900212, "concurrent.futures._base:logging.config.dictConfig", "hand"),  # walk
    (900213, "unittest.main:TestProgram", "real"),
    (900213, "unittest.mock:_get_target", "real"),
    (900213, "unittest:main", "hand"),
    # ---- 9003xx imports, reflection, interpreter state
    (900300, "importlib:import_module", "real"),
    (900300, "_frozen_importlib:module_from_spec", "real"),
    (900300, "_imp:create_dynamic", "real"),
    (900300, "imp:load_source", "hand"),           # Python <= 3.11
    (900300, "zipimport:zipimporter", "real"),
    (900300, "importlib.metadata:import_module", "hand"),  # alias
    (900300, "pkg_resources:importlib_machinery.SourceFileLoader", "hand"),  # walk
    (900301, "pkgutil:resolve_name", "real"),
    (900301, "pkgutil:get_data", "real"),
    (900301, "pkg_resources:pkgutil.resolve_name", "hand"),  # walk
    (900302, "pydoc:locate", "real"),
    (900302, "pydoc:pipepager", "real"),
    (900302, "cgitb:pydoc.locate", "hand"),        # walk
    (900303, "inspect:getattr_static", "real"),
    (900303, "inspect:getmembers", "real"),
    (900303, "dataclasses:inspect.getattr_static", "hand"),  # walk
    (900304, "operator:attrgetter", "real"),
    (900304, "operator:methodcaller", "real"),
    (900304, "_operator:itemgetter", "hand"),
    (900304, "pathlib:attrgetter", "hand"),        # alias
    (900304, "collections:_itemgetter", "hand"),   # alias
    (900305, "gc:get_objects", "real"),
    (900305, "gc:get_referents", "real"),
    (900305, "app.debug:gc.get_referrers", "hand"),  # walk
    (900306, "sys:modules", "hand"),               # a dict
    (900306, "sys:exit", "real"),
    (900306, "sys:settrace", "real"),
    (900306, "collections:_sys.modules", "hand"),  # walk through an alias
    (900306, "typing:sys.modules", "hand"),        # walk
    (900307, "_compat_pickle:NAME_MAPPING", "hand"),
    (900307, "_compat_pickle:IMPORT_MAPPING", "hand"),
    (900308, "copyreg:add_extension", "real"),
    (900308, "copyreg:_inverted_registry", "hand"),
    (900308, "copyreg:dispatch_table", "hand"),
    (900308, "copy_reg:add_extension", "hand"),    # Python 2 (copyreg at 0-2)
    (900309, "pickle:loads", "hand"),              # pickles as _pickle.loads
    (900309, "_pickle:loads", "real"),
    (900309, "_pickle:Unpickler", "real"),
    (900309, "cPickle:loads", "hand"),             # Python 2 (pickle at 0-2)
    (900309, "multiprocessing.reduction:ForkingPickler.loads", "hand"),
    (900309, "pickletools:pickle.loads", "hand"),  # walk
    (900310, "string:Formatter.get_field", "hand"),
    (900311, "ctypes:CDLL", "real"),
    (900311, "ctypes:string_at", "real"),
    (900311, "_ctypes:dlopen", "real"),
    (900311, "ctypes.util:find_library", "real"),
    (900312, "site:addpackage", "real"),
    (900312, "site:addsitedir", "real"),
    (900312, "app.boot:site.addsitedir", "hand"),  # walk
    # ---- 9004xx files
    (900400, "shutil:rmtree", "real"),
    (900400, "shutil:copyfile", "real"),
    (900400, "zipapp:shutil.copyfileobj", "hand"),  # walk
    (900401, "io:open", "real"),
    (900401, "_io:FileIO", "real"),
    (900401, "io:open_code", "real"),
    (900401, "codecs:open", "real"),
    (900401, "tokenize:open", "real"),
    (900401, "tarfile:bltn_open", "hand"),         # alias of io.open
    (900402, "tempfile:mkstemp", "real"),
    (900402, "tempfile:TemporaryDirectory", "real"),
    (900402, "cgi:tempfile.mkdtemp", "hand"),      # walk
    (900403, "tarfile:open", "hand"),              # a bound classmethod
    (900403, "zipfile:ZipFile", "real"),
    (900403, "gzip:open", "real"),
    (900403, "bz2:open", "real"),
    (900403, "lzma:open", "real"),
    (900403, "shelve:open", "real"),
    (900403, "dbm:open", "real"),
    (900403, "sqlite3:connect", "hand"),           # pickles as _sqlite3
    (900403, "pkg_resources:zipfile.ZipFile", "hand"),  # walk
    (900404, "linecache:getlines", "real"),
    (900404, "fileinput:input", "real"),
    (900404, "glob:glob", "real"),
    (900404, "netrc:netrc", "real"),
    (900404, "mmap:mmap", "real"),
    (900404, "pstats:Stats", "real"),
    (900404, "mimetypes:read_mime_types", "real"),
    (900404, "traceback:linecache.getlines", "hand"),  # walk
    (900405, "xml.etree.ElementTree:parse", "real"),
    (900405, "xml.dom.minidom:parse", "real"),
    (900405, "xml.sax:parse", "real"),
    (900405, "xml.etree.ElementInclude:include", "real"),
    (900406, "pathlib:Path.write_text", "hand"),
    (900406, "pathlib:PosixPath.unlink", "hand"),
    (900406, "pathlib:Path.read_bytes", "hand"),
    (900407, "logging:FileHandler", "real"),
    (900407, "logging.handlers:RotatingFileHandler", "real"),
    (900407, "logging.handlers:SysLogHandler", "real"),
    (900407, "logging:basicConfig", "real"),
    (900408, "logging:disable", "real"),
    (900408, "logging:error", "real"),
    (900408, "logging:root", "hand"),              # a RootLogger instance
    (900408, "logging:_handlers", "hand"),
    (900408, "logging:Logger.manager", "hand"),
    # ---- 9005xx network
    (900500, "socket:socket", "real"),
    (900500, "socket:create_connection", "real"),
    (900500, "ssl:get_server_certificate", "real"),
    (900500, "socketserver:TCPServer", "real"),
    (900500, "_socket:socket", "hand"),
    (900500, "email.utils:socket.getfqdn", "hand"),  # walk
    (900501, "urllib.request:urlopen", "real"),
    (900501, "urllib.request:urlretrieve", "real"),
    (900501, "http.client:HTTPConnection", "real"),
    (900501, "http.server:HTTPServer", "real"),
    (900501, "ftplib:FTP", "real"),
    (900501, "smtplib:SMTP", "real"),
    (900501, "imaplib:IMAP4_stream", "real"),
    (900501, "xmlrpc.client:ServerProxy", "real"),
    (900501, "urllib2:urlopen", "hand"),           # Python 2 (urllib.request at 0-2)
    (900501, "urllib:urlretrieve", "hand"),        # Python 2
    (900501, "telnetlib:Telnet", "hand"),          # Python <= 3.12
    (900502, "webbrowser:open", "real"),
    (900502, "webbrowser:get", "real"),
    (900502, "antigravity:geohash", "hand"),       # never imported here
    (900503, "asyncio.unix_events:_UnixSubprocessTransport._start", "hand"),
    (900503, "asyncio.base_subprocess:BaseSubprocessTransport", "real"),
    (900503, "asyncio.runners:run", "real"),
    (900503, "app.tasks:asyncio.unix_events._UnixSubprocessTransport", "hand"),  # walk
    (900504, "requests:get", "hand"),
    (900504, "requests.api:request", "hand"),
    (900504, "urllib3:request", "hand"),
    (900504, "aiohttp.client:ClientSession", "hand"),
    (900504, "app.client:requests.post", "hand"),  # walk
    (900505, "multiprocessing.connection:Client", "real"),
    (900505, "multiprocessing.connection:Listener", "real"),
    (900505, "multiprocessing.managers:Server", "real"),
    # ---- 9006xx process state
    (900600, "signal:raise_signal", "hand"),       # pickles as _signal
    (900600, "_signal:alarm", "real"),
    (900600, "faulthandler:_sigsegv", "real"),
    (900600, "multiprocessing.process:signal.alarm", "hand"),  # walk
    (900601, "_thread:interrupt_main", "real"),
    (900601, "atexit:register", "real"),
    (900601, "resource:setrlimit", "real"),
    (900601, "thread:start_new_thread", "hand"),   # Python 2 (_thread at 0-2)
    # ---- 9007xx third-party libraries
    (900700, "cloudpickle.cloudpickle:_make_function", "hand"),
    (900700, "cloudpickle.cloudpickle:subimport", "hand"),
    (900700, "dill._dill:_create_code", "hand"),
    (900700, "joblib.externals.cloudpickle.cloudpickle:_builtin_type", "hand"),
    (900701, "joblib:load", "hand"),
    (900701, "joblib.numpy_pickle:NumpyArrayWrapper.read_array", "hand"),
    (900701, "pandas:read_pickle", "hand"),
    (900701, "pandas.io.pickle:read_pickle", "hand"),
    (900702, "yaml:load", "hand"),
    (900702, "yaml:unsafe_load", "hand"),
    (900702, "yaml:full_load", "hand"),
    (900703, "werkzeug.utils:import_string", "hand"),
    (900703, "jinja2.utils:import_string", "hand"),
    (900703, "django.utils.module_loading:import_string", "hand"),
    (900704, "sympy:sympify", "hand"),
    (900704, "sympy.core.sympify:sympify", "hand"),
    (900704, "sympy.parsing.sympy_parser:parse_expr", "hand"),
    (900705, "torch:load", "hand"),
    (900705, "torch.serialization:load", "hand"),
    (900705, "torch.storage:_load_from_bytes", "hand"),
    (900705, "torch.hub:load", "hand"),
    (900705, "torch._inductor.codecache:compile_file", "hand"),
    (900705, "torch._dynamo.guards:GuardBuilder.get", "hand"),
    (900705, "torch.utils.collect_env:run", "hand"),
    (900705, "torch.utils.bottleneck.__main__:run_cprofile", "hand"),
    (900706, "numpy:load", "hand"),
    (900706, "numpy:fromfile", "hand"),
    (900706, "numpy:memmap", "hand"),
    (900706, "numpy:ndarray.tofile", "hand"),
    (900706, "numpy.core.records:fromfile", "hand"),
    (900706, "numpy.lib.format:read_array", "hand"),
    (900706, "numpy.testing._private.utils:runstring", "hand"),
    (900706, "numpy.ctypeslib:load_library", "hand"),
    (900706, "numpy.f2py.crackfortran:getlincoef", "hand"),
    # ---- 9009xx attribute walks
    (900900, "builtins:len.__self__", "hand"),
    (900900, "builtins:object.__subclasses__", "hand"),
    (900900, "string:Template.__init__.__globals__", "hand"),
    (900900, "json:__builtins__", "hand"),
    (900900, "collections:OrderedDict.__reduce_ex__", "hand"),
    (900900, "turtledemo.__main__:main", "hand"),
    (900900, "copyreg:__newobj__.__globals__", "hand"),
    (900901, "app.jobs:worker.gi_frame.f_globals", "hand"),
    (900901, "app.errors:last.tb_frame.f_back", "hand"),
    (900901, "app.legacy:handler.func_globals", "hand"),
    (900902, "codecs:builtins.eval", "hand"),
    (900902, "enum:bltns.exec", "hand"),
    (900902, "reprlib:builtins", "hand"),
]

# Names a benign policy may need: the denylist must let them through.
BENIGN = [
    "collections:OrderedDict", "builtins:set", "builtins:frozenset",
    "builtins:bytearray", "builtins:bytes", "builtins:complex",
    "builtins:slice", "builtins:range", "builtins:object", "builtins:type",
    "builtins:map", "builtins:int", "_codecs:encode",
    "copyreg:_reconstructor", "copyreg:__newobj__", "copyreg:__newobj_ex__",
    "datetime:datetime", "datetime:timedelta", "datetime:timezone",
    "decimal:Decimal", "fractions:Fraction", "uuid:UUID",
    "numpy.core.multiarray:_reconstruct", "numpy:ndarray", "numpy:dtype",
    "numpy.core.multiarray:scalar", "numpy.core.numeric:_frombuffer",
    "numpy._core.multiarray:_reconstruct",
    "numpy.random._pickle:__randomstate_ctor",
    "numpy.random._pickle:__bit_generator_ctor",
    "_operator:getitem", "typing:List", "functools:partial",
    "functools:reduce", "types:SimpleNamespace", "types:MethodType",
    "logging:getLogger", "logging:LogRecord", "logging:makeLogRecord",
    "pathlib:PosixPath", "pathlib:PurePosixPath",
    "xml.etree.ElementTree:Element", "zoneinfo:ZoneInfo._unpickle",
    "re:_compile", "http:HTTPStatus", "argparse:Namespace",
    "multiprocessing.managers:RebuildProxy",
    "multiprocessing.managers:Token", "multiprocessing.pool:mapstar",
    "multiprocessing.shared_memory:SharedMemory",
    "__main__:Point", "__mp_main__:Point",
    "torch._utils:_rebuild_tensor_v2", "torch:FloatStorage",
    "joblib.numpy_pickle:NumpyArrayWrapper",
    "pandas.core.frame:DataFrame", "sympy.core.numbers:Integer",
    # third-party paths that share a word with a denied module
    "scipy.signal._ltisys:TransferFunction",
    "sqlalchemy.ext.asyncio.session:AsyncSession",
    "redis.asyncio.client:Redis", "myapp.requests:OrderRequest",
    "myapp.commands:Deploy", "opentelemetry.trace.status:Status",
    "myapp.profile.models:Profile", "mylib.code:Model",
    "mylib.inspect:Report", "myapp.logging.config:Settings",
    "myapp.test:Fixture", "myapp.site:Page", "myapp.resource:Resource",
    "myapp.glob:Pattern", "myapp.gc:Collector", "mylib.platform:Target",
]


def benign_values():
    """(slug, value) pairs whose CPython pickles must be allowed."""
    import argparse
    import collections
    import datetime
    import decimal
    import fractions
    import functools
    import logging
    import pathlib
    import types
    import typing
    import uuid
    import xml.etree.ElementTree as ET
    rec = logging.LogRecord("n", 20, "f.py", 1, "m %s", ("a",), None)
    return [
        ("ordereddict", collections.OrderedDict(a=1, b=[2])),
        ("set", {1, 2}),
        ("frozenset", frozenset({3})),
        ("bytearray", bytearray(b"ab")),
        ("bytes", b"\x00\xff"),
        ("complex", complex(1, 2)),
        ("slice", slice(1, 5, 2)),
        ("range", range(3)),
        ("datetime", datetime.datetime(2024, 1, 2, 3, 4, 5, 6,
                                       tzinfo=datetime.timezone.utc)),
        ("timedelta", datetime.timedelta(days=1, seconds=2)),
        ("decimal", decimal.Decimal("1.10")),
        ("fraction", fractions.Fraction(1, 3)),
        ("uuid", uuid.UUID(int=12345)),
        ("typing-list", typing.List[int]),
        ("partial", functools.partial(max, 1)),
        ("namespace", types.SimpleNamespace(a=1)),
        ("argparse-namespace", argparse.Namespace(a=1)),
        ("logrecord", rec),
        ("purepath", pathlib.PurePosixPath("/tmp/x")),
        ("element", ET.Element("a", {"k": "v"})),
    ]


# ---- pickling -------------------------------------------------------------

PROTOCOLS = range(6)


def _pickle_str(s, proto):
    """A str for STACK_GLOBAL, as protocol 4/5 writes it."""
    b = s.encode("utf-8")
    if len(b) < 256:
        return b"\x8c" + bytes([len(b)]) + b
    return b"X" + len(b).to_bytes(4, "little") + b


def hand(name, proto):
    """GLOBAL/STACK_GLOBAL of name, (), REDUCE, STOP at protocol proto."""
    module, qualname = name.split(":", 1)
    if proto >= 4:
        body = _pickle_str(module, proto) + _pickle_str(qualname, proto) + b"\x93"
    else:
        body = b"c" + module.encode() + b"\n" + qualname.encode() + b"\n"
    head = b"\x80" + bytes([proto]) if proto >= 2 else b""
    return head + body + (b")R." if proto >= 1 else b"(tR.")


class _Reduce:
    def __init__(self, obj):
        self.obj = obj

    def __reduce__(self):
        return (self.obj, ())


def _resolve(name):
    module, qualname = name.split(":", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def imports_of(data):
    """The module:qualname of every GLOBAL/STACK_GLOBAL (no unpickling)."""
    out, strs, memo = [], [], {}
    for op, arg, _pos in pickletools.genops(data):
        if op.name == "GLOBAL":
            out.append(arg.replace(" ", ":", 1))
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE",
                         "BINUNICODE8"):
            strs.append(arg)
        elif op.name == "MEMOIZE" and strs:
            memo[len(memo)] = strs[-1]
        elif op.name in ("BINGET", "LONG_BINGET", "GET") and arg in memo:
            strs.append(memo[arg])
        elif op.name == "STACK_GLOBAL":
            out.append(strs[-2] + ":" + strs[-1])
    return out


_COMPAT = None


def _reported(name, proto):
    """name as picklewall reports it at proto (the _compat_pickle mapping)."""
    global _COMPAT
    if proto >= 3:
        return name
    if _COMPAT is None:
        import _compat_pickle
        _COMPAT = _compat_pickle
    module, qualname = name.split(":", 1)
    if (module, qualname) in _COMPAT.NAME_MAPPING:
        module, qualname = _COMPAT.NAME_MAPPING[(module, qualname)]
    elif module in _COMPAT.IMPORT_MAPPING:
        module = _COMPAT.IMPORT_MAPPING[module]
    return module + ":" + qualname


def real(name, proto):
    """CPython's pickle of (name's object)(), or None if it cannot write
    exactly this import."""
    try:
        obj = _resolve(name)
        data = pickle.dumps(_Reduce(obj), protocol=proto)
    except Exception:
        return None
    got = [_reported(n, proto) for n in imports_of(data)]
    if got not in ([name], [_reported(name, proto)]):
        return None
    return data


def gadget_pickle(name, how, proto, log=sys.stderr):
    if how == "real":
        data = real(name, proto)
        if data is not None:
            return data
        print("note: %s at protocol %d: CPython %s cannot pickle it under "
              "this name here; hand-assembled" % (name, proto,
                                                  sys.version.split()[0]),
              file=log)
    return hand(name, proto)


def slug(name):
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def write_gadgets(outdir):
    """Write one file per (gadget, protocol): g<rule>-<slug>-p<proto>.pkl"""
    import os
    outdir = os.path.abspath(outdir)    # an import below may chdir
    for rule, name, how in GADGETS:
        for proto in PROTOCOLS:
            data = gadget_pickle(name, how, proto)
            path = os.path.join(outdir, "g%d-%s-p%d.pkl" % (rule, slug(name), proto))
            with open(path, "wb") as f:
                f.write(data)


def write_benign(outdir):
    import os
    outdir = os.path.abspath(outdir)
    for name in BENIGN:
        for proto in PROTOCOLS:
            path = os.path.join(outdir, "ok-%s-p%d.pkl" % (slug(name), proto))
            with open(path, "wb") as f:
                f.write(hand(name, proto))
    for s, value in benign_values():
        for proto in PROTOCOLS:
            try:
                data = pickle.dumps(value, protocol=proto)
            except (TypeError, ValueError, pickle.PicklingError):
                continue        # Element before protocol 2; 5 before 3.8
            path = os.path.join(outdir, "okv-%s-p%d.pkl" % (s, proto))
            with open(path, "wb") as f:
                f.write(data)


def rule_ids():
    return sorted({r for r, _n, _h in GADGETS})
