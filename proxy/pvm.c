/*
 * pvm: an abstract interpreter of CPython's C unpickler.
 *
 * Reference: Modules/_pickle.c of Python 3.11 (load() and the load_*
 * functions it dispatches to).  Each handler below names the function it
 * models; where the two differ on purpose the comment says why.  The model
 * keeps, for every stack value, what a policy needs: the exact text of
 * strings, whether a container is a plain list/dict/set (so that
 * APPENDS/SETITEMS/ADDITEMS on it call no Python code), and for anything
 * produced by an import or a call, the name that produced it.
 *
 * Input is consumed in one pass with an explicit reader state, so that a
 * pickle split over any number of pvm_feed() calls costs the same as one
 * fed whole; bulk data (BINBYTES and friends) is skipped without copying.
 */

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "compat_pickle.h"
#include "pvm.h"
#include "pvm_memo.h"
#include "pvm_text.h"

/* ---- the opcode table ---------------------------------------------- */

#define PICKLE_HIGHEST_PROTOCOL 5

#define OPCODES(X)                                                         \
	X(MARK,             '(',  NONE,  0)                                \
	X(STOP,             '.',  NONE,  0)                                \
	X(POP,              '0',  NONE,  0)                                \
	X(POP_MARK,         '1',  NONE,  1)                                \
	X(DUP,              '2',  NONE,  0)                                \
	X(FLOAT,            'F',  LINE,  0)                                \
	X(INT,              'I',  LINE,  0)                                \
	X(BININT,           'J',  I4,    1)                                \
	X(BININT1,          'K',  U1,    1)                                \
	X(LONG,             'L',  LINE,  0)                                \
	X(BININT2,          'M',  U2,    1)                                \
	X(NONE,             'N',  NONE,  0)                                \
	X(PERSID,           'P',  LINE,  0)                                \
	X(BINPERSID,        'Q',  NONE,  1)                                \
	X(REDUCE,           'R',  NONE,  0)                                \
	X(STRING,           'S',  LINE,  0)                                \
	X(BINSTRING,        'T',  DATA4, 1)                                \
	X(SHORT_BINSTRING,  'U',  DATA1, 1)                                \
	X(UNICODE,          'V',  LINE,  0)                                \
	X(BINUNICODE,       'X',  DATA4, 1)                                \
	X(APPEND,           'a',  NONE,  0)                                \
	X(BUILD,            'b',  NONE,  0)                                \
	X(GLOBAL,           'c',  LINE2, 0)                                \
	X(DICT,             'd',  NONE,  0)                                \
	X(EMPTY_DICT,       '}',  NONE,  1)                                \
	X(APPENDS,          'e',  NONE,  1)                                \
	X(GET,              'g',  LINE,  0)                                \
	X(BINGET,           'h',  U1,    1)                                \
	X(INST,             'i',  LINE2, 0)                                \
	X(LONG_BINGET,      'j',  U4,    1)                                \
	X(LIST,             'l',  NONE,  0)                                \
	X(EMPTY_LIST,       ']',  NONE,  1)                                \
	X(OBJ,              'o',  NONE,  1)                                \
	X(PUT,              'p',  LINE,  0)                                \
	X(BINPUT,           'q',  U1,    1)                                \
	X(LONG_BINPUT,      'r',  U4,    1)                                \
	X(SETITEM,          's',  NONE,  0)                                \
	X(TUPLE,            't',  NONE,  0)                                \
	X(EMPTY_TUPLE,      ')',  NONE,  1)                                \
	X(SETITEMS,         'u',  NONE,  1)                                \
	X(BINFLOAT,         'G',  F8,    1)                                \
	X(PROTO,            0x80, U1,    2)                                \
	X(NEWOBJ,           0x81, NONE,  2)                                \
	X(EXT1,             0x82, U1,    2)                                \
	X(EXT2,             0x83, U2,    2)                                \
	X(EXT4,             0x84, I4,    2)                                \
	X(TUPLE1,           0x85, NONE,  2)                                \
	X(TUPLE2,           0x86, NONE,  2)                                \
	X(TUPLE3,           0x87, NONE,  2)                                \
	X(NEWTRUE,          0x88, NONE,  2)                                \
	X(NEWFALSE,         0x89, NONE,  2)                                \
	X(LONG1,            0x8a, LONG1, 2)                                \
	X(LONG4,            0x8b, LONG4, 2)                                \
	X(BINBYTES,         'B',  DATA4, 3)                                \
	X(SHORT_BINBYTES,   'C',  DATA1, 3)                                \
	X(SHORT_BINUNICODE, 0x8c, DATA1, 4)                                \
	X(BINUNICODE8,      0x8d, DATA8, 4)                                \
	X(BINBYTES8,        0x8e, DATA8, 4)                                \
	X(EMPTY_SET,        0x8f, NONE,  4)                                \
	X(ADDITEMS,         0x90, NONE,  4)                                \
	X(FROZENSET,        0x91, NONE,  4)                                \
	X(NEWOBJ_EX,        0x92, NONE,  4)                                \
	X(STACK_GLOBAL,     0x93, NONE,  4)                                \
	X(MEMOIZE,          0x94, NONE,  4)                                \
	X(FRAME,            0x95, U8,    4)                                \
	X(BYTEARRAY8,       0x96, DATA8, 5)                                \
	X(NEXT_BUFFER,      0x97, NONE,  5)                                \
	X(READONLY_BUFFER,  0x98, NONE,  5)

enum opcode {
#define OP_ENUM(name, code, arg, proto) OP_##name = code,
	OPCODES(OP_ENUM)
#undef OP_ENUM
};

/* Indexed by code byte; a row with a NULL name is an invalid load key. */
static const struct pvm_opinfo optable[256] = {
#define OP_ROW(name, code, arg, proto) \
	[code] = { code, #name, PVM_ARG_##arg, proto },
	OPCODES(OP_ROW)
#undef OP_ROW
};

/**
 * pvm_opinfo(code):
 * The table row for opcode byte ${code}, or NULL if CPython rejects it.
 */
const struct pvm_opinfo *
pvm_opinfo(uint8_t code)
{
	return optable[code].name != NULL ? &optable[code] : NULL;
}

/**
 * pvm_opinfo_at(i):
 * Row ${i} of the table in code order, for i in [0, count); NULL past the end.
 */
const struct pvm_opinfo *
pvm_opinfo_at(size_t i)
{
	size_t code, seen = 0;

	for (code = 0; code < 256; code++) {
		if (optable[code].name == NULL)
			continue;
		if (seen++ == i)
			return &optable[code];
	}
	return NULL;
}

/* Bytes of an opcode and its fixed argument, by code byte, plus HEAD_DATA
 * if counted data follows: what run_whole_opcodes() decodes in one step.
 * 0 for invalid codes and for line arguments, which only the reader's
 * state machine handles. */
#define HEAD_BYTES	0x0f
#define HEAD_DATA	0x80
#define HEAD_NONE	1
#define HEAD_U1		2
#define HEAD_U2		3
#define HEAD_I4		5
#define HEAD_U4		5
#define HEAD_U8		9
#define HEAD_F8		9
#define HEAD_LINE	0
#define HEAD_LINE2	0
#define HEAD_DATA1	(HEAD_DATA | 2)
#define HEAD_DATA4	(HEAD_DATA | 5)
#define HEAD_DATA8	(HEAD_DATA | 9)
#define HEAD_LONG1	(HEAD_DATA | 2)
#define HEAD_LONG4	(HEAD_DATA | 5)

static const uint8_t op_head_bytes[256] = {
#define OP_HEAD(name, code, arg, proto) [code] = HEAD_##arg,
	OPCODES(OP_HEAD)
#undef OP_HEAD
};

static uint64_t
le_uint(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = (v << 8) | p[n];
	return v;
}

/* le_uint for the sizes fixed arguments have, as single loads. */
static inline uint64_t
decode_fixed(const uint8_t *p, size_t n)
{
	switch (n) {
	case 1:
		return p[0];
	case 2:
		return (uint64_t)p[0] | (uint64_t)p[1] << 8;
	case 4:
		return (uint64_t)p[0] | (uint64_t)p[1] << 8 |
		    (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
	default:
		return le_uint(p, n);
	}
}

/* The fixed argument of an opcode of ${head} bytes (HEAD_BYTES) at ${q},
 * where ${have} bytes are readable: with nine or more, one unaligned load
 * and a mask instead of a switch over the size. */
static inline uint64_t
decode_head(const uint8_t *q, size_t head, size_t have)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	static const uint64_t mask[10] = {
		[2] = 0xff, [3] = 0xffff, [5] = 0xffffffff, [9] = UINT64_MAX,
	};
	uint64_t word;

	if (have >= 9) {
		memcpy(&word, q + 1, 8);
		return word & mask[head];
	}
#else
	(void)have;
#endif
	return decode_fixed(q + 1, head - 1);
}

static size_t
fixed_arg_bytes(enum pvm_arg arg)
{
	switch (arg) {
	case PVM_ARG_U1: case PVM_ARG_DATA1: case PVM_ARG_LONG1: return 1;
	case PVM_ARG_U2: return 2;
	case PVM_ARG_I4: case PVM_ARG_U4: case PVM_ARG_DATA4:
	case PVM_ARG_LONG4: return 4;
	case PVM_ARG_U8: case PVM_ARG_F8: case PVM_ARG_DATA8: return 8;
	default: return 0;
	}
}

static bool
arg_has_data(enum pvm_arg arg)
{
	return arg == PVM_ARG_DATA1 || arg == PVM_ARG_DATA4 ||
	    arg == PVM_ARG_DATA8 || arg == PVM_ARG_LONG1 ||
	    arg == PVM_ARG_LONG4;
}

/**
 * pvm_op_length(buf, len, oplen):
 * Decode the extent of the opcode at the start of ${buf}: on success set
 * *${oplen} to its total length (opcode, argument and data) and return 0;
 * return -1 if the opcode is unknown or ${len} bytes do not hold all of it.
 * For disassembly of bytes already analyzed; it checks no semantics.
 */
int
pvm_op_length(const uint8_t *buf, size_t len, size_t *oplen)
{
	const struct pvm_opinfo *info;
	size_t n, lines, i;
	uint64_t data;

	if (len == 0 || (info = pvm_opinfo(buf[0])) == NULL)
		return -1;
	n = 1 + fixed_arg_bytes(info->arg);
	if (n > len)
		return -1;
	if (info->arg == PVM_ARG_LINE || info->arg == PVM_ARG_LINE2) {
		lines = info->arg == PVM_ARG_LINE ? 1 : 2;
		for (i = 1; i < len && lines > 0; i++)
			if (buf[i] == '\n')
				lines--;
		if (lines > 0)
			return -1;
		*oplen = i;
		return 0;
	}
	if (arg_has_data(info->arg)) {
		data = le_uint(buf + 1, n - 1);
		if (info->arg == PVM_ARG_LONG4 && (data & 0x80000000U))
			return -1;
		if (data > len - n)
			return -1;
		n += (size_t)data;
	}
	*oplen = n;
	return 0;
}

/* ---- abstract values ----------------------------------------------- */

enum pv_kind {
	PV_NONE, PV_BOOL, PV_INT, PV_FLOAT, PV_STR, PV_BYTES, PV_BYTEARRAY,
	PV_MEMORYVIEW, PV_TUPLE, PV_LIST, PV_DICT, PV_SET, PV_FROZENSET,
	/* Anything below comes from an import or a call: its type and
	 * behaviour are only known at run time. */
	PV_GLOBAL,		/* what find_class returned */
	PV_OBJECT,		/* what a call returned */
};

#define PVF_UNHASHABLE	0x01	/* hashing it raises TypeError */
#define PVF_SUSPECT_KEYS 0x02	/* dict: a key may be "__setstate__" */
#define PVF_PLANTED	0x04	/* object: __setstate__ may be replaced */
#define PVF_HOLDS_OBJECT 0x08	/* tuple: an item is (or holds) an object */
#define PVF_HAS_ITEMS	0x10	/* dict: an opcode put items in it */
#define PVF_STATIC	0x20	/* a shared instance outside the arena */
#define PVF_MOVED	0x40	/* copied by arena_compact: see u.moved_to */
#define PVF_VALUE	0x80	/* PV_INT, PV_BOOL: u.value is exact */
#define PVF_SAFE_KEY	0x100	/* str: text known, and no method name
				 * (plants_a_method), so that a dict key
				 * costs one test (note_dict_key) */

struct pv {
	uint8_t kind;
	uint16_t flags;
	uint32_t depth;		/* container nesting below this value */
	union {
		struct pvm_str str;	/* PV_STR; ptr NULL: too long to keep */
		struct {
			struct pv **items;
			size_t n;
		} tuple;
		struct {
			const char *name; /* "module.qualname"; NULL unknown */
			size_t len;
			union {
				size_t module_len; /* name != NULL */
				const char *why;   /* why name is NULL */
			};
		} origin;		/* PV_GLOBAL, PV_OBJECT */
		struct {
			uint64_t calls_at_creation;	/* PV_DICT */
			uint64_t items;	/* put in by opcodes */
		} coll;			/* PV_LIST, PV_DICT, PV_SET, PV_FROZENSET */
		struct pv *moved_to;		/* PVF_MOVED */
		int64_t value;			/* PVF_VALUE */
	} u;
};

/* Values with no identity worth tracking share one instance each. */
static struct pv pv_none = { .kind = PV_NONE, .flags = PVF_STATIC };
static struct pv pv_true = { .kind = PV_BOOL,
    .flags = PVF_STATIC | PVF_VALUE, .u.value = 1 };
static struct pv pv_false = { .kind = PV_BOOL,
    .flags = PVF_STATIC | PVF_VALUE, .u.value = 0 };
static struct pv pv_int = { .kind = PV_INT, .flags = PVF_STATIC };

/*
 * Small ints keep their value, so that a rule can say which (a flags word
 * that must be 0, a version that must be 3), at no cost: they are shared
 * static values, like pv_int for the others.
 */
#define SMALL_INT_MIN	(-256)
#define SMALL_INT_MAX	4095
static struct pv pv_small_ints[SMALL_INT_MAX - SMALL_INT_MIN + 1];

static void init_small_ints(void) __attribute__((constructor));
static void
init_small_ints(void)
{
	int64_t i;

	for (i = SMALL_INT_MIN; i <= SMALL_INT_MAX; i++) {
		struct pv *v = &pv_small_ints[i - SMALL_INT_MIN];

		v->kind = PV_INT;
		v->flags = PVF_STATIC | PVF_VALUE;
		v->u.value = i;
	}
}

/*
 * Without a branch: in real data small and large ints come in random
 * order, and a mispredicted branch costs more than the rest of an int
 * opcode (compilers turn the plain conditional into one).  ${keep} is all
 * ones if ${i} is small, else 0: it picks the index (0 when out of range,
 * so that the address is formed either way) and then the address.
 */
static inline struct pv *
int_value(int64_t i)
{
	uint64_t index = (uint64_t)i - (uint64_t)SMALL_INT_MIN;
	uintptr_t keep = (uintptr_t)0 -
	    (uintptr_t)(index <= (uint64_t)(SMALL_INT_MAX - SMALL_INT_MIN));
	uintptr_t small_v = (uintptr_t)&pv_small_ints[index & keep];

	return (struct pv *)((small_v & keep) | ((uintptr_t)&pv_int & ~keep));
}
static struct pv pv_float = { .kind = PV_FLOAT, .flags = PVF_STATIC };
static struct pv pv_bytes = { .kind = PV_BYTES, .flags = PVF_STATIC };
static struct pv pv_empty_tuple = { .kind = PV_TUPLE, .flags = PVF_STATIC };
static struct pv pv_bytearray = { .kind = PV_BYTEARRAY,
    .flags = PVF_STATIC | PVF_UNHASHABLE };
static struct pv pv_memoryview = { .kind = PV_MEMORYVIEW,
    .flags = PVF_STATIC | PVF_UNHASHABLE };
static struct pv pv_long_str = { .kind = PV_STR, .flags = PVF_STATIC };

/*
 * What a GET yields when the server's memo may hold another value at that
 * index: an earlier import or call may have raised, and the server resumed
 * after it (pvm_set_resume).  It could be any value the memo ever held, so
 * it stands for an object of unknown origin: as data it passes, as a name,
 * callable or target of a method it is unknown.
 */
#define STALE_WHY "a memo entry that may hold another value in the " \
	"server: an earlier import or call may have raised, and a server " \
	"that resumes after the error skips the PUT or MEMOIZE that " \
	"followed it"
static struct pv pv_stale = { .kind = PV_OBJECT, .flags = PVF_STATIC,
    .u.origin = { .name = NULL, .why = STALE_WHY } };

static const char *const kind_names[] = {
	[PV_NONE] = "NoneType", [PV_BOOL] = "bool", [PV_INT] = "int",
	[PV_FLOAT] = "float", [PV_STR] = "str", [PV_BYTES] = "bytes",
	[PV_BYTEARRAY] = "bytearray", [PV_MEMORYVIEW] = "memoryview",
	[PV_TUPLE] = "tuple", [PV_LIST] = "list", [PV_DICT] = "dict",
	[PV_SET] = "set", [PV_FROZENSET] = "frozenset",
	[PV_GLOBAL] = "global", [PV_OBJECT] = "object",
};

static bool
pv_is_plain(const struct pv *v)
{
	return v->kind < PV_GLOBAL;
}

/* Strings longer than this are kept as "some str": a STACK_GLOBAL operand
 * that long is reported as unknown ("*") and denied. */
#define STR_KEEP_MAX 4096

/* ---- reader state ---------------------------------------------------- */

enum rstate {
	RS_OPCODE,		/* the next byte is an opcode */
	RS_FIXED,		/* collecting a fixed-size argument */
	RS_LINE,		/* collecting a '\n'-terminated line */
	RS_DATA,		/* skipping or keeping counted data */
	RS_END,			/* STOP executed or analysis failed */
};

/* How counted data is checked while it streams past. */
enum data_check {
	DATA_SKIP,		/* bytes, bytearray, long: any bytes */
	DATA_ASCII,		/* BINSTRING: decoded as ASCII, strict */
	DATA_UTF8,		/* BINUNICODE: UTF-8, surrogatepass */
};

struct pvm {
	struct pvm_limits limits;
	enum pvm_memo_model model;

	/* Reader. */
	enum rstate rstate;
	const struct pvm_opinfo *op;
	uint64_t op_pos;
	uint64_t pos;		/* bytes of this pickle consumed */
	uint8_t fixed[8];
	size_t fixed_have, fixed_need;
	uint64_t arg;		/* the decoded fixed argument */
	char *line;		/* current line(s), NUL-terminated copy */
	size_t line_len, line_cap;
	size_t line1_len;	/* LINE2: length of the first line incl. \n */
	unsigned lines_left;
	uint64_t data_left;
	enum data_check data_check;
	char *data_keep;	/* kept prefix of a string */
	size_t data_kept;
	bool data_keep_all;
	struct pvm_text_utf8 utf8;	/* streaming UTF-8 state */
	bool data_bad;

	/* Framing inside the pickle (the FRAME opcode). */
	bool in_frame;
	uint64_t frame_end;
	uint64_t bound;		/* the reader stops to check here: the frame
				 * end inside a frame, else the size limit */

	/* The VM. */
	int proto;
	struct pv **stack;
	size_t stack_len, stack_cap;
	size_t *marks;
	size_t n_marks, marks_cap;
	struct pvm_memo *memo;
	uint64_t calls_total;

	/* A server that resumes after an error (pvm_set_resume). */
	bool resume;
	bool may_have_failed;	/* this pickle: an import or call so far */
	bool memo_inexact;	/* GET, PUT, MEMOIZE take the slow path */
	uint64_t writes_since_failure; /* PUTs and MEMOIZEs since then */
	uint64_t stale_from;	/* persistent memo: indices at or above it
				 * may differ in the server; UINT64_MAX none */

	/* Memory. */
	struct arena *arena;
	uint64_t arena_bytes_kept;	/* after the last arena_compact */
	uint64_t vector_bytes;
	uint64_t memo_bytes;		/* pvm_memo_bytes(), kept current */

	/* Findings. */
	struct pvm_report report;
	struct pvm_import *imports;
	size_t imports_cap;
	struct pvm_call *calls;
	size_t calls_cap;
	struct pvm_reason reason;	/* the one that ended the analysis */
	char reason_detail[PW_ERROR_MESSAGE_MAX];

	/* EXT codes, as the server's copyreg registry maps them. */
	pvm_ext_lookup_fn *ext_lookup;
	void *ext_cookie;

	/* A call's argument shape, written here before it is kept. */
	char shape[PVM_SHAPE_MAX_BYTES];
	size_t shape_len;
	bool shape_overflow;
};

static int fail(struct pvm *vm, enum pw_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Turn an arena.h failure into the reason that ends the analysis. */
static int
memory_failure(struct pvm *vm, int r)
{
	if (r == -2)
		return fail(vm, PW_LIMIT_ANALYSIS_MEMORY,
		    "analysis memory above %llu bytes",
		    (unsigned long long)vm->limits.max_analysis_bytes);
	return fail(vm, PW_INTERNAL, "out of memory");
}

/* What the arena may hold, given what the rest already takes. */
static uint64_t
arena_room(const struct pvm *vm)
{
	uint64_t others = vm->vector_bytes + vm->memo_bytes;

	return others < vm->limits.max_analysis_bytes ?
	    vm->limits.max_analysis_bytes - others : 0;
}

static __attribute__((noinline)) void *
vm_alloc_slow(struct pvm *vm, size_t size)
{
	void *p;
	int r;

	if ((r = arena_alloc(vm->arena, size, arena_room(vm), &p)) != 0) {
		memory_failure(vm, r);
		return NULL;
	}
	return p;
}

/* The bound only matters when the arena needs a new chunk. */
static inline void *
vm_alloc(struct pvm *vm, size_t size)
{
	void *p = arena_alloc_fast(vm->arena, size);

	return p != NULL ? p : vm_alloc_slow(vm, size);
}

static char *
vm_strdup(struct pvm *vm, const char *s, size_t len)
{
	char *p;
	int r;

	if ((r = arena_strdup(vm->arena, s, len, arena_room(vm), &p)) != 0) {
		memory_failure(vm, r);
		return NULL;
	}
	return p;
}

static int
vm_grow(struct pvm *vm, void **array, size_t *cap, size_t need,
    size_t elem_size)
{
	uint64_t others = arena_bytes(vm->arena) + vm->memo_bytes;
	uint64_t room = others < vm->limits.max_analysis_bytes ?
	    vm->limits.max_analysis_bytes - others : 0;
	int r;

	if (need <= *cap)
		return 0;
	if ((r = arena_grow_array(array, cap, need, elem_size,
	    &vm->vector_bytes, room)) != 0)
		return memory_failure(vm, r);
	return 0;
}

/* ---- findings -------------------------------------------------------- */

static void
publish(struct pvm *vm)
{
	vm->report.imports = vm->imports;
	vm->report.calls = vm->calls;
	vm->report.reasons = &vm->reason;
}

/*
 * A pickle gets at most one reason from the pvm, the one that ended its
 * analysis (fail() and pvm_finish() each act only once), so the reason has
 * a slot of its own: reporting it can never fail for lack of memory, and a
 * failed report always says why.
 */
static void
add_reason(struct pvm *vm, enum pw_code code, uint64_t pos, const char *detail)
{
	snprintf(vm->reason_detail, sizeof(vm->reason_detail), "%s", detail);
	vm->reason.code = code;
	vm->reason.pos = pos;
	vm->reason.detail = vm->reason_detail;
	vm->report.n_reasons = 1;
	publish(vm);
}

/* Record a fatal reason at the current opcode and stop the analysis.
 * Returns -1 so that handlers can "return fail(...)". */
static int
fail(struct pvm *vm, enum pw_code code, const char *fmt, ...)
{
	char detail[PW_ERROR_MESSAGE_MAX];
	va_list ap;

	if (vm->report.failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	vm->report.failed = true;
	vm->rstate = RS_END;
	add_reason(vm, code, vm->op_pos, detail);
	return -1;
}

static const struct pvm_str unknown_str = { PVM_UNKNOWN_NAME, 1 };

/* "a" + "." + "b" in the arena. */
static const char *
join_name(struct pvm *vm, const char *a, size_t alen, const char *b,
    size_t blen, size_t *len)
{
	char *p;

	if (alen > SIZE_MAX - blen - 2 ||
	    (p = vm_alloc(vm, alen + blen + 2)) == NULL)
		return NULL;
	memcpy(p, a, alen);
	p[alen] = '.';
	memcpy(p + alen + 1, b, blen);
	p[alen + 1 + blen] = '\0';
	*len = alen + 1 + blen;
	return p;
}

/*
 * The names _compat_pickle maps (${module}, ${name}) to, as find_class does
 * at protocol < 3: *${to_module} and *${to_name} are the inputs where
 * nothing maps, and ptr NULL where the result is only known at run time.
 */
static void
compat_resolve(struct pvm_str module, struct pvm_str name,
    struct pvm_str *to_module, struct pvm_str *to_name)
{
	const char *m, *n;

	*to_module = module;
	*to_name = name;
	if (module.ptr != NULL && name.ptr != NULL) {
		if (compat_map_pair(module.ptr, module.len, name.ptr, name.len,
		    &m, &n)) {
			to_module->ptr = m;
			to_module->len = strlen(m);
			to_name->ptr = n;
			to_name->len = strlen(n);
		} else if (compat_map_module(module.ptr, module.len, &m)) {
			to_module->ptr = m;
			to_module->len = strlen(m);
		}
	} else if (module.ptr != NULL) {
		/* The pair table may map this module differently for some
		 * names: then the module is unknown too. */
		if (compat_module_has_pairs(module.ptr, module.len))
			to_module->ptr = NULL;
		else if (compat_map_module(module.ptr, module.len, &m)) {
			to_module->ptr = m;
			to_module->len = strlen(m);
		}
	} else if (name.ptr != NULL &&
	    compat_name_may_change(name.ptr, name.len)) {
		to_name->ptr = NULL;
	}
}

/* Append one import to the report: find_class received (${module},
 * ${name}) at protocol ${proto} and resolved them to the mapped pair. */
static int
add_import(struct pvm *vm, int proto, struct pvm_str module,
    struct pvm_str name, struct pvm_str mapped_module,
    struct pvm_str mapped_name, int64_t ext_code)
{
	struct pvm_import *imp;

	if (vm_grow(vm, (void **)&vm->imports, &vm->imports_cap,
	    vm->report.n_imports + 1, sizeof(*imp)) < 0)
		return -1;
	imp = &vm->imports[vm->report.n_imports++];
	memset(imp, 0, sizeof(*imp));
	imp->op = vm->op->code;
	imp->protocol = (uint8_t)proto;
	imp->pos = vm->op_pos;
	imp->module_known = mapped_module.ptr != NULL;
	imp->name_known = mapped_name.ptr != NULL;
	imp->module = mapped_module.ptr != NULL ? mapped_module : unknown_str;
	imp->name = mapped_name.ptr != NULL ? mapped_name : unknown_str;
	imp->raw_module = module.ptr != NULL ? module : unknown_str;
	imp->raw_name = name.ptr != NULL ? name : unknown_str;
	imp->remapped = imp->module.ptr != imp->raw_module.ptr ||
	    imp->name.ptr != imp->raw_name.ptr;
	imp->dotted = proto >= 4 && name.ptr != NULL &&
	    memchr(name.ptr, '.', name.len) != NULL;
	imp->ext_code = ext_code;
	publish(vm);
	return 0;
}

/*
 * An import or call was just recorded: CPython may raise there.  For a
 * server that resumes after errors, from here on memo writes may be
 * skipped (memo_write()) and imports may be read at protocol 0.  A
 * persistent memo stays inexact from its current length up for good: a
 * MEMOIZE the server skipped shifts every later one down by one.
 */
static void
note_may_fail(struct pvm *vm)
{
	size_t len;

	if (!vm->resume || vm->may_have_failed)
		return;
	vm->may_have_failed = true;
	vm->memo_inexact = true;
	vm->writes_since_failure = 0;
	vm->report.may_fail = true;
	vm->report.may_fail_pos = vm->op_pos;
	len = pvm_memo_len(vm->memo);
	if (vm->model == PVM_MEMO_PERSISTENT && len < vm->stale_from)
		vm->stale_from = len;
}

/*
 * Record one find_class() call with the raw names it receives (a name with
 * ptr NULL is only known at run time) and return the value it pushes.
 * Models _pickle_Unpickler_find_class_impl: the _compat_pickle mapping at
 * protocol < 3, then an attribute walk over dotted names at protocol >= 4.
 * A server that resumed after an earlier error in this pickle is at
 * protocol 0 again: where that maps the names differently, both readings
 * are recorded and the value's name is unknown.
 */
static struct pv *
record_import(struct pvm *vm, struct pvm_str module, struct pvm_str name,
    int64_t ext_code)
{
	struct pvm_str mapped_module = module, mapped_name = name;
	struct pvm_str module0, name0;
	bool two_readings = false;
	struct pv *v;

	if (vm->proto < 3)
		compat_resolve(module, name, &mapped_module, &mapped_name);
	if (add_import(vm, vm->proto, module, name, mapped_module,
	    mapped_name, ext_code) < 0)
		return NULL;
	if (vm->may_have_failed && vm->proto >= 3) {
		compat_resolve(module, name, &module0, &name0);
		two_readings = module0.ptr != module.ptr ||
		    name0.ptr != name.ptr;
		if (two_readings && add_import(vm, 0, module, name, module0,
		    name0, ext_code) < 0)
			return NULL;
	}
	note_may_fail(vm);

	if ((v = vm_alloc(vm, sizeof(*v))) == NULL)
		return NULL;
	memset(v, 0, sizeof(*v));
	v->kind = PV_GLOBAL;
	if (two_readings) {
		v->u.origin.why = "import a server that resumed after an "
		    "earlier error reads at protocol 0, under another name";
	} else if (mapped_module.ptr != NULL && mapped_name.ptr != NULL) {
		v->u.origin.name = join_name(vm, mapped_module.ptr,
		    mapped_module.len, mapped_name.ptr, mapped_name.len,
		    &v->u.origin.len);
		if (v->u.origin.name == NULL)
			return NULL;
		v->u.origin.module_len = mapped_module.len;
	} else {
		v->u.origin.why = ext_code != 0 ?
		    "extension code with no configured mapping" :
		    "import whose name is only known at run time";
	}
	return v;
}

/* Record a call; ${name} NULL means unknown, explained by ${why}.  Returns
 * the record, valid until the next call is recorded, or NULL on failure. */
static struct pvm_call *
record_call(struct pvm *vm, const char *name, size_t len, size_t module_len,
    const char *why)
{
	struct pvm_call *c;

	if (vm_grow(vm, (void **)&vm->calls, &vm->calls_cap,
	    vm->report.n_calls + 1, sizeof(*c)) < 0)
		return NULL;
	c = &vm->calls[vm->report.n_calls++];
	memset(c, 0, sizeof(*c));
	c->op = vm->op->code;
	c->pos = vm->op_pos;
	c->callable.ptr = name;
	c->callable.len = name != NULL ? len : 0;
	c->module_len = name != NULL ? module_len : 0;
	c->why = name != NULL ? NULL : why;
	vm->calls_total++;
	publish(vm);
	note_may_fail(vm);
	return c;
}

/* Record a call of ${callee} itself (REDUCE, NEWOBJ, OBJ, INST). */
static struct pvm_call *
record_call_of(struct pvm *vm, const struct pv *callee)
{
	if (callee == &pv_stale)
		return record_call(vm, NULL, 0, 0, STALE_WHY);
	if (callee->flags & PVF_PLANTED) {
		/* Its __new__ or __init__ may be anything now, and so may
		 * what it receives: no shape either. */
		struct pvm_call *c = record_call(vm, NULL, 0, 0, "an earlier "
		    "BUILD may have changed this class");

		if (c != NULL) {
			c->args.ptr = "?";
			c->args.len = 1;
		}
		return c;
	}
	if (callee->kind == PV_GLOBAL && callee->u.origin.name != NULL)
		return record_call(vm, callee->u.origin.name,
		    callee->u.origin.len, callee->u.origin.module_len, NULL);
	if (callee->kind == PV_GLOBAL)
		return record_call(vm, NULL, 0, 0, callee->u.origin.why);
	return record_call(vm, NULL, 0, 0, "callable is the result of a call");
}

/* Record a call of method ${method} of ${target} (BUILD, APPENDS, ...). */
static struct pvm_call *
record_method_call(struct pvm *vm, const struct pv *target, const char *method)
{
	const char *owner, *name;
	size_t owner_len, module_len, len;

	if (target == &pv_stale)
		return record_call(vm, NULL, 0, 0, STALE_WHY);
	if (target->flags & PVF_PLANTED)
		return record_call(vm, NULL, 0, 0,
		    "an earlier BUILD may have replaced this method");
	/* BUILD, APPENDS, SETITEMS, ADDITEMS on what find_class returned
	 * change a class, module or global the whole server shares (no
	 * pickler emits that), yet the method has the name it has on an
	 * instance: left unnamed, no rule written for instances allows it. */
	if (target->kind == PV_GLOBAL && strcmp(method, "__hash__") != 0)
		return record_call(vm, NULL, 0, 0, "a method of an imported "
		    "object itself, not of an instance made from it: it "
		    "changes state the whole server shares");
	if (pv_is_plain(target)) {
		owner = target->kind == PV_LIST ? "builtins.list" :
		    target->kind == PV_BYTEARRAY ? "builtins.bytearray" :
		    "builtins.object";
		owner_len = strlen(owner);
		module_len = strlen("builtins");
	} else if (target->u.origin.name != NULL) {
		owner = target->u.origin.name;
		owner_len = target->u.origin.len;
		module_len = target->u.origin.module_len;
	} else {
		return record_call(vm, NULL, 0, 0, target->kind == PV_GLOBAL ?
		    target->u.origin.why :
		    "method of an object whose origin is unknown");
	}
	if ((name = join_name(vm, owner, owner_len, method, strlen(method),
	    &len)) == NULL)
		return NULL;
	return record_call(vm, name, len, module_len, NULL);
}

/* ---- argument shapes (rules/REFERENCE.md) ---------------------------- */

static void
shape_put(struct pvm *vm, const char *p, size_t n)
{
	if (vm->shape_overflow || n > sizeof(vm->shape) - vm->shape_len) {
		vm->shape_overflow = true;
		return;
	}
	memcpy(vm->shape + vm->shape_len, p, n);
	vm->shape_len += n;
}

static void
shape_puts(struct pvm *vm, const char *z)
{
	shape_put(vm, z, strlen(z));
}

/* A str is written out only when a rule could name it: short, printable
 * ASCII. */
static bool
shape_str_printable(struct pvm_str s)
{
	size_t i;

	if (s.ptr == NULL || s.len > PVM_SHAPE_MAX_STR)
		return false;
	for (i = 0; i < s.len; i++)
		if ((unsigned char)s.ptr[i] < 0x20 ||
		    (unsigned char)s.ptr[i] > 0x7e)
			return false;
	return true;
}

/* A name is written out only when the notation can hold it (a name with
 * blanks or punctuation could be read back as something else). */
static bool
shape_name_writable(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c >= 0x80))
			return false;
	}
	return true;
}

static void shape_items(struct pvm *vm, struct pv *const *items, size_t n,
    unsigned depth);

static void
shape_value(struct pvm *vm, const struct pv *v, unsigned depth)
{
	size_t i;

	if (depth > PVM_SHAPE_MAX_DEPTH) {
		shape_puts(vm, "?");
		return;
	}
	switch (v->kind) {
	case PV_STR:
		if (!shape_str_printable(v->u.str)) {
			shape_puts(vm, "str");
			return;
		}
		shape_puts(vm, "\"");
		for (i = 0; i < v->u.str.len; i++) {
			if (v->u.str.ptr[i] == '"' || v->u.str.ptr[i] == '\\')
				shape_puts(vm, "\\");
			shape_put(vm, &v->u.str.ptr[i], 1);
		}
		shape_puts(vm, "\"");
		return;
	case PV_TUPLE:
		shape_items(vm, v->u.tuple.items, v->u.tuple.n, depth);
		return;
	case PV_NONE:
		shape_puts(vm, "None");
		return;
	case PV_BOOL:
		shape_puts(vm, v->u.value ? "True" : "False");
		return;
	case PV_INT:
		if (v->flags & PVF_VALUE) {
			char num[24];

			snprintf(num, sizeof(num), "%lld", (long long)v->u.value);
			shape_puts(vm, num);
		} else {
			shape_puts(vm, "int");
		}
		return;
	case PV_GLOBAL:
	case PV_OBJECT:
		/* An empty module or name (STACK_GLOBAL takes any str) has
		 * no "module:qualname" either. */
		if (v->u.origin.name == NULL ||
		    !shape_name_writable(v->u.origin.name, v->u.origin.len) ||
		    v->u.origin.module_len == 0 ||
		    v->u.origin.module_len + 1 >= v->u.origin.len) {
			shape_puts(vm, "?");
			return;
		}
		shape_put(vm, v->u.origin.name, v->u.origin.module_len);
		shape_puts(vm, ":");
		shape_put(vm, v->u.origin.name + v->u.origin.module_len + 1,
		    v->u.origin.len - v->u.origin.module_len - 1);
		if (v->kind == PV_OBJECT)
			shape_puts(vm, "()");
		return;
	default:
		shape_puts(vm, kind_names[v->kind]);
		return;
	}
}

static void
shape_items(struct pvm *vm, struct pv *const *items, size_t n, unsigned depth)
{
	size_t i;

	shape_puts(vm, "(");
	for (i = 0; i < n && !vm->shape_overflow; i++) {
		if (i > 0)
			shape_puts(vm, ", ");
		shape_value(vm, items[i], depth + 1);
	}
	shape_puts(vm, n == 1 ? ",)" : ")");
}

/* Keep the shape written since vm->shape_len was zeroed as ${c}'s args. */
static int
shape_keep(struct pvm *vm, struct pvm_call *c)
{
	const char *p;
	size_t n;

	if (vm->shape_overflow) {
		p = "?";
		n = 1;
	} else {
		p = vm->shape;
		n = vm->shape_len;
	}
	if ((c->args.ptr = vm_strdup(vm, p, n)) == NULL)
		return -1;
	c->args.len = n;
	return 0;
}

/* ${c} receives the tuple ${items}[0, ${n}). */
static int
set_args_items(struct pvm *vm, struct pvm_call *c, struct pv *const *items,
    size_t n)
{
	if (c->args.ptr != NULL)	/* already "?" */
		return 0;
	vm->shape_len = 0;
	vm->shape_overflow = false;
	shape_items(vm, items, n, 0);
	return shape_keep(vm, c);
}

/* ${c} receives ${v} (REDUCE's args, BUILD's state, a persistent id). */
static int
set_args_value(struct pvm *vm, struct pvm_call *c, const struct pv *v)
{
	if (c->args.ptr != NULL)	/* already "?" */
		return 0;
	vm->shape_len = 0;
	vm->shape_overflow = false;
	shape_value(vm, v, 1);
	return shape_keep(vm, c);
}

/* ---- stack, marks, memo ---------------------------------------------- */

static size_t
fence(const struct pvm *vm)
{
	return vm->n_marks ? vm->marks[vm->n_marks - 1] : 0;
}

static __attribute__((noinline)) int
push_grow(struct pvm *vm, struct pv *v)
{
	if (vm->stack_len >= vm->limits.max_stack_depth)
		return fail(vm, PW_LIMIT_STACK_DEPTH,
		    "stack deeper than %llu",
		    (unsigned long long)vm->limits.max_stack_depth);
	if (vm_grow(vm, (void **)&vm->stack, &vm->stack_cap,
	    vm->stack_len + 1, sizeof(*vm->stack)) < 0)
		return -1;
	/* Never let the capacity run past the limit, so that the check
	 * above is the only one on the hot path. */
	if (vm->stack_cap > vm->limits.max_stack_depth)
		vm->stack_cap = (size_t)vm->limits.max_stack_depth;
	vm->stack[vm->stack_len++] = v;
	return 0;
}

/* Inline for the common case of a stack with room. */
static inline int
push(struct pvm *vm, struct pv *v)
{
	if (v == NULL)
		return -1;
	if (vm->stack_len == vm->stack_cap)
		return push_grow(vm, v);
	vm->stack[vm->stack_len++] = v;
	return 0;
}

static __attribute__((noinline)) struct pv *
stack_underflow(struct pvm *vm)
{
	fail(vm, PW_STACK_UNDERFLOW, "%s: stack underflow", vm->op->name);
	return NULL;
}

/* PDATA_POP: never below the top MARK. */
static inline struct pv *
pop(struct pvm *vm)
{
	if (vm->stack_len <= fence(vm))
		return stack_underflow(vm);
	return vm->stack[--vm->stack_len];
}

static inline struct pv *
top(struct pvm *vm)
{
	if (vm->stack_len <= fence(vm))
		return stack_underflow(vm);
	return vm->stack[vm->stack_len - 1];
}

/* marker(): pop the top MARK and return the stack length it recorded. */
static int
marker(struct pvm *vm, size_t *mark)
{
	*mark = 0;
	if (vm->n_marks == 0)
		return fail(vm, PW_MARK_MISSING, "%s: could not find MARK",
		    vm->op->name);
	*mark = vm->marks[--vm->n_marks];
	return 0;
}

static int
check_depth(struct pvm *vm, uint64_t depth)
{
	if (depth > vm->limits.max_nesting)
		return fail(vm, PW_LIMIT_NESTING, "nesting deeper than %llu",
		    (unsigned long long)vm->limits.max_nesting);
	return 0;
}

static struct pv *
memo_get(struct pvm *vm, uint64_t key)
{
	return pvm_memo_get_fast(vm->memo, key);
}

/* _Unpickler_MemoPut: last write wins; a new index counts in memo_len. */
static int
memo_put(struct pvm *vm, uint64_t key, struct pv *value)
{
	uint64_t others, room;

	if (key >= vm->limits.max_memo_entries)
		return fail(vm, PW_LIMIT_MEMO,
		    "memo index %llu above the limit of %llu (the backend's "
		    "memo array would grow to twice the index)",
		    (unsigned long long)key,
		    (unsigned long long)vm->limits.max_memo_entries);
	if (pvm_memo_put_dense(vm->memo, key, value))
		return 0;
	others = arena_bytes(vm->arena) + vm->vector_bytes;
	room = others < vm->limits.max_analysis_bytes ?
	    vm->limits.max_analysis_bytes - others : 0;
	switch (pvm_memo_put(vm->memo, key, value,
	    room > SIZE_MAX ? SIZE_MAX : (size_t)room)) {
	case 0:
		vm->memo_bytes = pvm_memo_bytes(vm->memo);
		return 0;
	case -2:
		return fail(vm, PW_LIMIT_ANALYSIS_MEMORY,
		    "analysis memory above %llu bytes",
		    (unsigned long long)vm->limits.max_analysis_bytes);
	default:
		return fail(vm, PW_INTERNAL, "out of memory");
	}
}

/* ---- value constructors --------------------------------------------- */

static inline struct pv *
new_value(struct pvm *vm, enum pv_kind kind)
{
	struct pv *v = vm_alloc(vm, sizeof(*v));

	if (v == NULL)
		return NULL;
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	if (kind == PV_LIST || kind == PV_DICT || kind == PV_SET)
		v->flags = PVF_UNHASHABLE;
	if (kind == PV_DICT)
		v->u.coll.calls_at_creation = vm->calls_total;
	return v;
}

/* Attributes that, set on an instance by a default __setstate__, change
 * what a later opcode calls: the methods CPython looks up on the instance
 * (BUILD's __setstate__, APPENDS' extend and append, ADDITEMS' add), and
 * __class__ and __dict__, which a slot state's setattr can replace
 * wholesale.  (__setitem__, __hash__ and __buffer__ are type slots.)
 * By length, as they are looked up: at most two share one. */
#define PLANTED_PER_LEN 2
#define PLANTED_MAX_LEN 12
static const char *const planted_names[PLANTED_MAX_LEN + 1][PLANTED_PER_LEN] = {
	[3] = { "add" },
	[6] = { "extend", "append" },
	[8] = { "__dict__" },
	[9] = { "__class__" },
	[12] = { "__setstate__" },
};

/* Whether the str ${key} is one of planted_names. */
static inline bool
plants_a_method(struct pvm_str key)
{
	const char *const *names;
	size_t i;

	/* By length first: this runs for every str made. */
	if (key.len > PLANTED_MAX_LEN)
		return false;
	names = planted_names[key.len];
	for (i = 0; i < PLANTED_PER_LEN && names[i] != NULL; i++)
		if (memcmp(key.ptr, names[i], key.len) == 0)
			return true;
	return false;
}

/* A str whose text ${s} already lives in the arena (NULL: too long to
 * keep). */
static struct pv *
new_str(struct pvm *vm, const char *s, size_t len)
{
	struct pv *v;

	if (s == NULL)
		return &pv_long_str;
	if ((v = new_value(vm, PV_STR)) == NULL)
		return NULL;
	v->u.str.ptr = s;
	v->u.str.len = len;
	if (!plants_a_method(v->u.str))
		v->flags = PVF_SAFE_KEY;
	return v;
}

static struct pv *
new_object(struct pvm *vm, const struct pv *callee)
{
	struct pv *v = new_value(vm, PV_OBJECT);

	if (v == NULL)
		return NULL;
	if (callee != NULL && callee->kind == PV_GLOBAL &&
	    callee->u.origin.name != NULL && !(callee->flags & PVF_PLANTED)) {
		v->u.origin.name = callee->u.origin.name;
		v->u.origin.len = callee->u.origin.len;
		v->u.origin.module_len = callee->u.origin.module_len;
	} else {
		v->u.origin.why = "result of a call to an unknown callable";
	}
	return v;
}

/* A value that stands for whatever persistent_load() / next(buffers)
 * returns. */
static struct pv *
new_opaque(struct pvm *vm, const char *why)
{
	struct pv *v = new_value(vm, PV_OBJECT);

	if (v != NULL)
		v->u.origin.why = why;
	return v;
}

/* Pdata_poptuple(stack, start): the items from ${start} up as a tuple. */
static struct pv *
pop_tuple(struct pvm *vm, size_t start)
{
	size_t n = vm->stack_len - start, i;
	uint32_t depth = 0;
	struct pv *v;

	if (n == 0) {
		vm->stack_len = start;
		return &pv_empty_tuple;
	}
	if (n > vm->limits.max_container_items) {
		fail(vm, PW_LIMIT_CONTAINER_ITEMS,
		    "%s: more than %llu items in one tuple", vm->op->name,
		    (unsigned long long)vm->limits.max_container_items);
		return NULL;
	}
	if ((v = new_value(vm, PV_TUPLE)) == NULL)
		return NULL;
	if (n > SIZE_MAX / sizeof(*v->u.tuple.items) ||
	    (v->u.tuple.items = vm_alloc(vm,
	    n * sizeof(*v->u.tuple.items))) == NULL)
		return NULL;
	v->u.tuple.n = n;
	for (i = 0; i < n; i++) {
		v->u.tuple.items[i] = vm->stack[start + i];
		if (v->u.tuple.items[i]->flags & PVF_UNHASHABLE)
			v->flags |= PVF_UNHASHABLE;
		if (!pv_is_plain(v->u.tuple.items[i]) ||
		    (v->u.tuple.items[i]->flags & PVF_HOLDS_OBJECT))
			v->flags |= PVF_HOLDS_OBJECT;
		if (v->u.tuple.items[i]->depth > depth)
			depth = v->u.tuple.items[i]->depth;
	}
	v->depth = depth + 1;
	if (check_depth(vm, v->depth) < 0)
		return NULL;
	vm->stack_len = start;
	return v;
}

/* ${container} is about to hold ${more} more items. */
static int
add_items(struct pvm *vm, struct pv *container, uint64_t more)
{
	if (more > vm->limits.max_container_items - container->u.coll.items)
		return fail(vm, PW_LIMIT_CONTAINER_ITEMS,
		    "%s: more than %llu items in one container", vm->op->name,
		    (unsigned long long)vm->limits.max_container_items);
	container->u.coll.items += more;
	return 0;
}

/* A container grew by ${item}: track its depth. */
static int
grow_depth(struct pvm *vm, struct pv *container, const struct pv *item)
{
	if (item->depth + 1 > container->depth) {
		container->depth = item->depth + 1;
		return check_depth(vm, container->depth);
	}
	return 0;
}

/* A dict or set is about to hash ${key}: builtin keys either hash or raise
 * TypeError; an object's __hash__ (and __eq__ on a collision) is a call,
 * and so is hashing a tuple, which hashes each item. */
static int
hash_key(struct pvm *vm, const struct pv *key)
{
	if (key->flags & PVF_UNHASHABLE)
		return fail(vm, PW_TYPE_ERROR, "%s: unhashable %s",
		    vm->op->name, kind_names[key->kind]);
	if (!pv_is_plain(key))
		return record_method_call(vm, key, "__hash__") == NULL ? -1 : 0;
	if (key->flags & PVF_HOLDS_OBJECT)
		return record_call(vm, NULL, 0, 0,
		    "__hash__ of an object inside a tuple key") == NULL ? -1 : 0;
	return 0;
}

/* A plain dict gained ${key}: could an instance dict or a slot state
 * built from it set a method a later opcode calls? */
static void
note_dict_key(struct pv *dict, const struct pv *key)
{
	dict->flags |= PVF_HAS_ITEMS;
	if (!(key->flags & PVF_SAFE_KEY))
		dict->flags |= PVF_SUSPECT_KEYS;
}

/* ---- opcode handlers -------------------------------------------------- */

/* Handlers stay out of line: execute() is then a jump table that saves no
 * registers, instead of the union of every handler's prologue. */
#define PVM_HANDLER static __attribute__((noinline))

/* load_counted_tuple / load_tuple. */
PVM_HANDLER int
op_tuple_n(struct pvm *vm, size_t n)
{
	if (vm->stack_len < n || vm->stack_len - n < fence(vm))
		return fail(vm, PW_STACK_UNDERFLOW, "%s: stack underflow",
		    vm->op->name);
	return push(vm, pop_tuple(vm, vm->stack_len - n));
}

PVM_HANDLER int
op_tuple(struct pvm *vm)
{
	size_t mark;

	if (marker(vm, &mark) < 0)
		return -1;
	return push(vm, pop_tuple(vm, mark));
}

PVM_HANDLER int
op_list(struct pvm *vm)
{
	struct pv *list;
	size_t mark, i;

	if (marker(vm, &mark) < 0)
		return -1;
	if ((list = new_value(vm, PV_LIST)) == NULL ||
	    add_items(vm, list, vm->stack_len - mark) < 0)
		return -1;
	for (i = mark; i < vm->stack_len; i++)
		if (grow_depth(vm, list, vm->stack[i]) < 0)
			return -1;
	vm->stack_len = mark;
	return push(vm, list);
}

/* load_dict: keys are hashed as they go in. */
PVM_HANDLER int
op_dict(struct pvm *vm)
{
	struct pv *dict;
	size_t mark, i;

	if (marker(vm, &mark) < 0)
		return -1;
	if ((vm->stack_len - mark) % 2 != 0)
		return fail(vm, PW_TYPE_ERROR, "odd number of items for DICT");
	if ((dict = new_value(vm, PV_DICT)) == NULL ||
	    add_items(vm, dict, (vm->stack_len - mark) / 2) < 0)
		return -1;
	for (i = mark; i < vm->stack_len; i += 2) {
		if (hash_key(vm, vm->stack[i]) < 0 ||
		    grow_depth(vm, dict, vm->stack[i + 1]) < 0)
			return -1;
		note_dict_key(dict, vm->stack[i]);
	}
	vm->stack_len = mark;
	return push(vm, dict);
}

PVM_HANDLER int
op_frozenset(struct pvm *vm)
{
	struct pv *set;
	size_t mark, i;

	if (marker(vm, &mark) < 0)
		return -1;
	if ((set = new_value(vm, PV_FROZENSET)) == NULL ||
	    add_items(vm, set, vm->stack_len - mark) < 0)
		return -1;
	for (i = mark; i < vm->stack_len; i++)
		if (hash_key(vm, vm->stack[i]) < 0 ||
		    grow_depth(vm, set, vm->stack[i]) < 0)
			return -1;
	vm->stack_len = mark;
	return push(vm, set);
}

/* do_append: a plain list takes the items; anything else has its extend
 * (or append) method called. */
PVM_HANDLER int
do_append(struct pvm *vm, size_t x)
{
	struct pv *target;
	size_t i;

	if (x > vm->stack_len || x <= fence(vm))
		return fail(vm, PW_STACK_UNDERFLOW, "%s: stack underflow",
		    vm->op->name);
	if (x == vm->stack_len)
		return 0;
	target = vm->stack[x - 1];
	if (target->kind == PV_LIST) {
		if (add_items(vm, target, vm->stack_len - x) < 0)
			return -1;
		for (i = x; i < vm->stack_len; i++)
			if (grow_depth(vm, target, vm->stack[i]) < 0)
				return -1;
	} else if (pv_is_plain(target) && target->kind != PV_BYTEARRAY) {
		return fail(vm, PW_TYPE_ERROR,
		    "%s: '%s' object has no attribute 'extend' or 'append'",
		    vm->op->name, kind_names[target->kind]);
	} else if (record_method_call(vm, target, "extend") == NULL) {
		return -1;
	}
	vm->stack_len = x;
	return 0;
}

PVM_HANDLER int
op_appends(struct pvm *vm)
{
	size_t mark;

	if (marker(vm, &mark) < 0)
		return -1;
	return do_append(vm, mark);
}

/* do_setitems: PyObject_SetItem on whatever is below the items. */
PVM_HANDLER int
do_setitems(struct pvm *vm, size_t x)
{
	struct pv *target;
	size_t i;

	if (x > vm->stack_len || x <= fence(vm))
		return fail(vm, PW_STACK_UNDERFLOW, "%s: stack underflow",
		    vm->op->name);
	if (x == vm->stack_len)
		return 0;
	if ((vm->stack_len - x) % 2 != 0)
		return fail(vm, PW_TYPE_ERROR, "odd number of items for SETITEMS");
	target = vm->stack[x - 1];
	if (target->kind == PV_DICT) {
		if (add_items(vm, target, (vm->stack_len - x) / 2) < 0)
			return -1;
		for (i = x; i < vm->stack_len; i += 2) {
			if (hash_key(vm, vm->stack[i]) < 0 ||
			    grow_depth(vm, target, vm->stack[i + 1]) < 0)
				return -1;
			note_dict_key(target, vm->stack[i]);
		}
	} else if (pv_is_plain(target) && target->kind != PV_LIST &&
	    target->kind != PV_BYTEARRAY) {
		return fail(vm, PW_TYPE_ERROR,
		    "%s: '%s' object does not support item assignment",
		    vm->op->name, kind_names[target->kind]);
	} else if (record_method_call(vm, target, "__setitem__") == NULL) {
		return -1;
	}
	vm->stack_len = x;
	return 0;
}

PVM_HANDLER int
op_setitems(struct pvm *vm)
{
	size_t mark;

	if (marker(vm, &mark) < 0)
		return -1;
	return do_setitems(vm, mark);
}

/* load_additems: a set (PySet_Check) is updated directly, anything else has
 * its add method called per item. */
PVM_HANDLER int
op_additems(struct pvm *vm)
{
	struct pv *target;
	size_t mark, i;

	if (marker(vm, &mark) < 0)
		return -1;
	if (mark > vm->stack_len || mark <= fence(vm))
		return fail(vm, PW_STACK_UNDERFLOW, "ADDITEMS: stack underflow");
	if (mark == vm->stack_len)
		return 0;
	target = vm->stack[mark - 1];
	if (target->kind == PV_SET) {
		if (add_items(vm, target, vm->stack_len - mark) < 0)
			return -1;
		for (i = mark; i < vm->stack_len; i++)
			if (hash_key(vm, vm->stack[i]) < 0 ||
			    grow_depth(vm, target, vm->stack[i]) < 0)
				return -1;
	} else if (pv_is_plain(target)) {
		return fail(vm, PW_TYPE_ERROR,
		    "ADDITEMS: '%s' object has no attribute 'add'",
		    kind_names[target->kind]);
	} else if (record_method_call(vm, target, "add") == NULL) {
		return -1;
	}
	vm->stack_len = mark;
	return 0;
}

/* Could ${state}, applied by a default __setstate__ (instance dict update,
 * then setattr of slot state), set an attribute named __setstate__?  Only
 * a plain dict whose keys are all known and no call could have touched is
 * known not to. */
static bool
state_dict_clean(const struct pvm *vm, const struct pv *d)
{
	return d->kind == PV_NONE ||
	    (d->kind == PV_DICT && !(d->flags & PVF_SUSPECT_KEYS) &&
	    d->u.coll.calls_at_creation == vm->calls_total);
}

/* A plain dict that no opcode filled and no call could have touched. */
static bool
dict_known_empty(const struct pvm *vm, const struct pv *d)
{
	return d->kind == PV_DICT && !(d->flags & PVF_HAS_ITEMS) &&
	    d->u.coll.calls_at_creation == vm->calls_total;
}

/* load_build. */
PVM_HANDLER int
op_build(struct pvm *vm)
{
	struct pv *state, *inst;
	struct pvm_call *call;
	bool clean;

	if (vm->stack_len < 2 || vm->stack_len - 2 < fence(vm))
		return fail(vm, PW_STACK_UNDERFLOW, "BUILD: stack underflow");
	state = vm->stack[--vm->stack_len];
	inst = vm->stack[vm->stack_len - 1];
	if (pv_is_plain(inst)) {
		/* Builtin values have no __setstate__ (3.11) and no __dict__:
		 * only a None state, or (None, empty slot state), leaves them
		 * alone; anything else raises. */
		if (state->kind == PV_NONE || (state->kind == PV_TUPLE &&
		    state->u.tuple.n == 2 &&
		    state->u.tuple.items[0]->kind == PV_NONE &&
		    dict_known_empty(vm, state->u.tuple.items[1])))
			return 0;
		return fail(vm, PW_TYPE_ERROR,
		    "BUILD: cannot set state on a '%s' object",
		    kind_names[inst->kind]);
	}
	/* Compute cleanliness before the call is counted. */
	clean = state_dict_clean(vm, state) ||
	    (state->kind == PV_TUPLE && state->u.tuple.n == 2 &&
	    state_dict_clean(vm, state->u.tuple.items[0]) &&
	    state_dict_clean(vm, state->u.tuple.items[1]));
	if ((call = record_method_call(vm, inst, "__setstate__")) == NULL ||
	    set_args_value(vm, call, state) < 0)
		return -1;
	/* State on a class or module is never clean: what it sets is shared
	 * by every later use of that name. */
	if (!clean || inst->kind == PV_GLOBAL)
		inst->flags |= PVF_PLANTED;
	return 0;
}

/* load_reduce: callable(*args). */
PVM_HANDLER int
op_reduce(struct pvm *vm)
{
	struct pv *args, *callable;
	struct pvm_call *call;

	if ((args = pop(vm)) == NULL || (callable = pop(vm)) == NULL)
		return -1;
	if (pv_is_plain(callable))
		return fail(vm, PW_TYPE_ERROR,
		    "REDUCE: '%s' object is not callable",
		    kind_names[callable->kind]);
	if (pv_is_plain(args) && args->kind != PV_TUPLE)
		return fail(vm, PW_TYPE_ERROR,
		    "REDUCE: argument list must be a tuple, not '%s'",
		    kind_names[args->kind]);
	if ((call = record_call_of(vm, callable)) == NULL ||
	    set_args_value(vm, call, args) < 0)
		return -1;
	return push(vm, new_object(vm, callable));
}

/* load_newobj / load_newobj_ex: cls.__new__(cls, *args[, **kwargs]). */
PVM_HANDLER int
op_newobj(struct pvm *vm, bool with_kwargs)
{
	struct pv *kwargs = NULL, *args, *cls;
	struct pvm_call *call;

	if (with_kwargs && (kwargs = pop(vm)) == NULL)
		return -1;
	if ((args = pop(vm)) == NULL || (cls = pop(vm)) == NULL)
		return -1;
	if (pv_is_plain(cls))
		return fail(vm, PW_TYPE_ERROR,
		    "%s class argument must be a type, not '%s'",
		    vm->op->name, kind_names[cls->kind]);
	if (pv_is_plain(args) && args->kind != PV_TUPLE)
		return fail(vm, PW_TYPE_ERROR,
		    "%s args argument must be a tuple, not '%s'",
		    vm->op->name, kind_names[args->kind]);
	if (kwargs != NULL && pv_is_plain(kwargs) && kwargs->kind != PV_DICT)
		return fail(vm, PW_TYPE_ERROR,
		    "%s kwargs argument must be a dict, not '%s'",
		    vm->op->name, kind_names[kwargs->kind]);
	if ((call = record_call_of(vm, cls)) == NULL)
		return -1;
	if (kwargs == NULL) {
		if (set_args_value(vm, call, args) < 0)
			return -1;
	} else if (set_args_items(vm, call, (struct pv *[]){ args, kwargs },
	    2) < 0) {
		return -1;
	}
	return push(vm, new_object(vm, cls));
}

/* load_obj: MARK cls args... OBJ. */
PVM_HANDLER int
op_obj(struct pvm *vm)
{
	struct pv *cls;
	struct pvm_call *call;
	size_t mark;

	if (marker(vm, &mark) < 0)
		return -1;
	if (vm->stack_len - mark < 1)
		return fail(vm, PW_STACK_UNDERFLOW, "OBJ: stack underflow");
	cls = vm->stack[mark];
	if (pv_is_plain(cls))
		return fail(vm, PW_TYPE_ERROR, "OBJ: '%s' object is not callable",
		    kind_names[cls->kind]);
	if ((call = record_call_of(vm, cls)) == NULL ||
	    set_args_items(vm, call, vm->stack + mark + 1,
	    vm->stack_len - mark - 1) < 0)
		return -1;
	vm->stack_len = mark;
	return push(vm, new_object(vm, cls));
}

static struct pvm_str
line_str(const char *p, size_t len)
{
	struct pvm_str s = { p, len };

	return s;
}

/*
 * load_global and load_inst decode the module line before they read the
 * name line: a bad one fails there, and a server that resumes after the
 * error reads the name line as opcodes.  Fail at the same point, so that
 * nothing after it is taken for read.
 */
static int
check_module_line(struct pvm *vm)
{
	const char *module = vm->line;
	size_t len = vm->line1_len - 1;

	if (len == 0)
		return fail(vm, PW_BAD_ARGUMENT, "%s: empty module or name",
		    vm->op->name);
	if (vm->op->code == OP_INST ? !pvm_text_is_ascii(module, len) :
	    !pvm_text_is_utf8(module, len, false))
		return fail(vm, PW_BAD_ENCODING, "%s: module is not %s",
		    vm->op->name, vm->op->code == OP_INST ? "ASCII" : "UTF-8");
	return 0;
}

/* load_global / load_inst: two lines, module and name. */
PVM_HANDLER int
op_global_or_inst(struct pvm *vm)
{
	struct pvm_str module = line_str(vm->line, vm->line1_len - 1);
	struct pvm_str name = line_str(vm->line + vm->line1_len,
	    vm->line_len - vm->line1_len - 1);
	bool inst = vm->op->code == OP_INST;
	struct pv *cls, *args;
	struct pvm_call *call;
	size_t mark = 0;

	/* load_inst finds its MARK before it reads the lines. */
	if (inst && marker(vm, &mark) < 0)
		return -1;
	/* So a server that resumed after an earlier error, with no MARK,
	 * fails here without reading them, and reads them as opcodes next.
	 * What it does then cannot be followed; the analysis goes on as for
	 * a server that did not resume. */
	if (inst && vm->may_have_failed && !vm->report.resume_lost) {
		vm->report.resume_lost = true;
		vm->report.resume_lost_pos = vm->op_pos;
	}
	if (module.len == 0 || name.len == 0)
		return fail(vm, PW_BAD_ARGUMENT, "%s: empty module or name",
		    vm->op->name);
	if (inst) {
		if (!pvm_text_is_ascii(module.ptr, module.len) ||
		    !pvm_text_is_ascii(name.ptr, name.len))
			return fail(vm, PW_BAD_ENCODING,
			    "INST: module or name is not ASCII");
	} else if (!pvm_text_is_utf8(module.ptr, module.len, false) ||
	    !pvm_text_is_utf8(name.ptr, name.len, false)) {
		return fail(vm, PW_BAD_ENCODING,
		    "GLOBAL: module or name is not UTF-8");
	}
	/* The names live in the line buffer, which the next opcode reuses. */
	if ((module.ptr = vm_strdup(vm, module.ptr, module.len)) == NULL ||
	    (name.ptr = vm_strdup(vm, name.ptr, name.len)) == NULL)
		return -1;
	if ((cls = record_import(vm, module, name, 0)) == NULL)
		return -1;
	if (!inst)
		return push(vm, cls);
	/* instantiate(): cls.__new__(cls) or cls(*args); a call either way. */
	if ((args = pop_tuple(vm, mark)) == NULL ||
	    (call = record_call_of(vm, cls)) == NULL ||
	    set_args_value(vm, call, args) < 0)
		return -1;
	return push(vm, new_object(vm, cls));
}

/* load_stack_global: both operands must be exact str objects. */
PVM_HANDLER int
op_stack_global(struct pvm *vm)
{
	struct pv *name, *module, *cls;
	struct pvm_str m = { NULL, 0 }, n = { NULL, 0 };

	if ((name = pop(vm)) == NULL || (module = pop(vm)) == NULL)
		return -1;
	if ((pv_is_plain(module) && module->kind != PV_STR) ||
	    (pv_is_plain(name) && name->kind != PV_STR))
		return fail(vm, PW_TYPE_ERROR, "STACK_GLOBAL requires str");
	/* Non-plain operands may be str at run time: unknown names. */
	if (module->kind == PV_STR)
		m = module->u.str;
	if (name->kind == PV_STR)
		n = name->u.str;
	if ((cls = record_import(vm, m, n, 0)) == NULL)
		return -1;
	return push(vm, cls);
}

/* load_extension: the copyreg registry of the server decides.  A code it
 * maps goes through find_class() like any (module, name) pair; without a
 * configured mapping the name is unknown. */
PVM_HANDLER int
op_ext(struct pvm *vm, int64_t code)
{
	struct pvm_str module = unknown_str, name = unknown_str;

	if (code <= 0)
		return fail(vm, PW_BAD_ARGUMENT, "%s specifies code <= 0",
		    vm->op->name);
	if (vm->ext_lookup != NULL &&
	    vm->ext_lookup(vm->ext_cookie, code, &module, &name) != 1) {
		module = unknown_str;
		name = unknown_str;
	}
	return push(vm, record_import(vm, module, name, code));
}

PVM_HANDLER int
op_persid(struct pvm *vm, bool binary)
{
	struct pv *pid;
	struct pvm_call *call;
	char *text;

	if (binary) {
		if ((pid = pop(vm)) == NULL)
			return -1;
	} else {
		if (!pvm_text_is_ascii(vm->line, vm->line_len - 1))
			return fail(vm, PW_BAD_ENCODING,
			    "PERSID: id is not ASCII");
		if (vm->line_len - 1 > STR_KEEP_MAX)
			pid = &pv_long_str;
		else if ((text = vm_strdup(vm, vm->line,
		    vm->line_len - 1)) == NULL ||
		    (pid = new_str(vm, text, vm->line_len - 1)) == NULL)
			return -1;
	}
	if ((call = record_call(vm, "persistent_load",
	    strlen("persistent_load"), 0, NULL)) == NULL ||
	    set_args_value(vm, call, pid) < 0)
		return -1;
	if (pid->kind == PV_STR)
		call->pid = pid->u.str;
	return push(vm, new_opaque(vm, "object from persistent_load"));
}

/* load_pop: a MARK on top of the stack is popped instead of a value. */
PVM_HANDLER int
op_pop(struct pvm *vm)
{
	if (vm->n_marks > 0 && vm->marks[vm->n_marks - 1] == vm->stack_len) {
		vm->n_marks--;
		return 0;
	}
	return pop(vm) == NULL ? -1 : 0;
}

PVM_HANDLER int
op_mark(struct pvm *vm)
{
	if (vm->n_marks == vm->marks_cap) {
		if (vm->n_marks + 1 > vm->limits.max_nesting)
			return fail(vm, PW_LIMIT_NESTING,
			    "more than %llu open MARKs",
			    (unsigned long long)vm->limits.max_nesting);
		if (vm_grow(vm, (void **)&vm->marks, &vm->marks_cap,
		    vm->n_marks + 1, sizeof(*vm->marks)) < 0)
			return -1;
		/* As for the stack: capacity never exceeds the limit. */
		if (vm->marks_cap > vm->limits.max_nesting)
			vm->marks_cap = (size_t)vm->limits.max_nesting;
	}
	vm->marks[vm->n_marks++] = vm->stack_len;
	return 0;
}

/*
 * Could the server's memo hold another value at ${idx} than ours, for a
 * server that resumes after errors?  A persistent memo may, at and above
 * stale_from: MEMOIZEs it skipped shift the later ones down.  A fresh
 * Unpickler per pickle that resumes (over a file without peek) starts
 * with an empty memo whose MEMOIZEs count from 0 again, so any index below
 * the number of memo writes since the possible failure may hold one of
 * theirs.  Entries written since then are &pv_stale already
 * (memo_write()).  Such a pickle is denied anyway (analysis.c:
 * resume_unknown); this keeps its list of imports whole.
 */
static bool
memo_stale(const struct pvm *vm, uint64_t idx)
{
	return idx >= vm->stale_from || (vm->may_have_failed &&
	    vm->model == PVM_MEMO_PER_MESSAGE &&
	    idx < vm->writes_since_failure);
}

PVM_HANDLER int
op_get(struct pvm *vm, uint64_t idx)
{
	struct pv *v = memo_get(vm, idx);

	if (v == NULL)
		return fail(vm, PW_MEMO_MISSING,
		    "%s: memo value not found at index %llu", vm->op->name,
		    (unsigned long long)idx);
	if (vm->memo_inexact && memo_stale(vm, idx))
		v = &pv_stale;
	return push(vm, v);
}

/*
 * PUT and MEMOIZE store the top of the stack.  After a possible failure in
 * this pickle a resuming server may run them on an empty stack, which
 * fails and leaves the entry as it was (and memo_len where it was): the
 * entry is then stale whatever we store.
 */
static int
memo_write(struct pvm *vm, uint64_t idx)
{
	struct pv *v = top(vm);

	if (v == NULL)
		return -1;
	if (vm->may_have_failed) {
		vm->writes_since_failure++;
		v = &pv_stale;
	}
	return memo_put(vm, idx, v);
}

PVM_HANDLER int
op_put(struct pvm *vm, uint64_t idx)
{
	return memo_write(vm, idx);
}

PVM_HANDLER int
op_readonly_buffer(struct pvm *vm)
{
	struct pv *v = top(vm);

	if (v == NULL)
		return -1;
	if (v->kind == PV_BYTES || v->kind == PV_MEMORYVIEW)
		return 0;
	if (v->kind == PV_BYTEARRAY) {
		vm->stack[vm->stack_len - 1] = &pv_memoryview;
		return 0;
	}
	if (pv_is_plain(v))
		return fail(vm, PW_TYPE_ERROR,
		    "READONLY_BUFFER: a bytes-like object is required, not '%s'",
		    kind_names[v->kind]);
	/* PyMemoryView_FromObject: __buffer__ of a Python class (3.12+). */
	return record_method_call(vm, v, "__buffer__") == NULL ? -1 : 0;
}

PVM_HANDLER int
op_frame(struct pvm *vm, uint64_t len)
{
	/* CPython only checks that ${len} bytes follow; frames that nest or
	 * straddle opcodes are read differently by loads() and by load()
	 * from a file, so we deny them (see PICKLE-NOTES 15). */
	if (vm->in_frame)
		return fail(vm, PW_LYING_FRAME, "FRAME inside a frame");
	if (len > vm->limits.max_message_bytes - vm->pos)
		return fail(vm, PW_LIMIT_MESSAGE_BYTES,
		    "FRAME of %llu bytes exceeds the message limit",
		    (unsigned long long)len);
	if (len > 0) {
		vm->in_frame = true;
		vm->frame_end = vm->pos + len;
		vm->bound = vm->frame_end;
	}
	return 0;
}

PVM_HANDLER int
op_stop(struct pvm *vm)
{
	if (pop(vm) == NULL)
		return -1;
	if (vm->in_frame && vm->frame_end != vm->pos)
		return fail(vm, PW_LYING_FRAME,
		    "FRAME extends %llu bytes past STOP",
		    (unsigned long long)(vm->frame_end - vm->pos));
	vm->report.complete = true;
	vm->rstate = RS_END;
	return 0;
}

/* ---- text arguments -------------------------------------------------- */

/* The line without its '\n', NUL-terminated in place (CPython parses a
 * NUL-terminated copy, so an embedded NUL ends the number). */
/* The value of "-?[1-9][0-9]*\n" or "0\n" if small; pv_int otherwise. */
static struct pv *
int_value_of_line(const char *line)
{
	const char *p = line + (line[0] == '-');
	int64_t v = 0;

	if (strcmp(p, "0\n") == 0)
		return int_value(0);
	if (*p < '1' || *p > '9')
		return &pv_int;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > SMALL_INT_MAX + 1)
			return &pv_int;
	}
	if (strcmp(p, "\n") != 0)
		return &pv_int;
	return int_value(line[0] == '-' ? -v : v);
}

PVM_HANDLER int
op_int(struct pvm *vm)
{
	if (vm->line_len < 2)
		return fail(vm, PW_BAD_ARGUMENT, "INT: pickle data was truncated");
	if (pvm_text_parse_int_opcode(vm->line) < 0)
		return fail(vm, PW_BAD_ARGUMENT, "INT: invalid literal");
	/* load_int: a two-character text that strtol (base 0) reads as 0 or
	 * 1 is a bool ("00", "01", "-0", "+1", " 1"); anything else an int.
	 * Only plain decimals get a value (no octal or hex doubt). */
	if (vm->line_len == 3) {
		char *end;
		long x;

		errno = 0;
		x = strtol(vm->line, &end, 0);
		if (errno == 0 && (*end == '\n' || *end == '\0') &&
		    (x == 0 || x == 1))
			return push(vm, x == 1 ? &pv_true : &pv_false);
	}
	return push(vm, int_value_of_line(vm->line));
}

PVM_HANDLER int
op_long(struct pvm *vm)
{
	if (vm->line_len < 2)
		return fail(vm, PW_BAD_ARGUMENT, "LONG: pickle data was truncated");
	/* load_long drops one 'L' right before the newline. */
	if (vm->line[vm->line_len - 2] == 'L')
		vm->line[vm->line_len - 2] = '\0';
	if (pvm_text_parse_pylong(vm->line, 0, NULL) < 0)
		return fail(vm, PW_BAD_ARGUMENT, "LONG: invalid literal");
	return push(vm, &pv_int);
}

PVM_HANDLER int
op_float(struct pvm *vm)
{
	if (vm->line_len < 2)
		return fail(vm, PW_BAD_ARGUMENT, "FLOAT: pickle data was truncated");
	if (pvm_text_parse_float(vm->line) < 0)
		return fail(vm, PW_BAD_ARGUMENT, "FLOAT: invalid literal");
	return push(vm, &pv_float);
}

/* load_put / load_get: PyLong_FromString(s, NULL, 10), then a Py_ssize_t. */
PVM_HANDLER int
op_text_memo(struct pvm *vm, bool put)
{
	uint64_t idx;
	int r;

	if (vm->line_len < 2)
		return fail(vm, PW_BAD_ARGUMENT, "%s: pickle data was truncated",
		    vm->op->name);
	if (put && top(vm) == NULL)
		return -1;
	r = pvm_text_parse_pylong(vm->line, 10, &idx);
	if (r < 0)
		return fail(vm, PW_BAD_ARGUMENT, "%s: invalid index", vm->op->name);
	if (r == 1 || idx > (uint64_t)PTRDIFF_MAX) {
		/* Negative or above Py_ssize_t: ValueError / OverflowError
		 * for PUT; GET of such an index finds nothing. */
		if (put)
			return fail(vm, PW_BAD_ARGUMENT, "PUT: index out of range");
		return fail(vm, PW_MEMO_MISSING, "GET: no memo entry at index");
	}
	return put ? op_put(vm, idx) : op_get(vm, idx);
}

static int
string_too_long(struct pvm *vm, size_t len)
{
	return fail(vm, PW_LIMIT_STRING_BYTES,
	    "%s of %zu bytes exceeds the string limit of %llu", vm->op->name,
	    len, (unsigned long long)vm->limits.max_string_bytes);
}

PVM_HANDLER int
op_string(struct pvm *vm)
{
	size_t len = vm->line_len - 1, out_len;
	char *s = vm->line;

	/* load_string: strip the newline, then exactly matching quotes. */
	if (len < 2 || s[0] != s[len - 1] || (s[0] != '\'' && s[0] != '"'))
		return fail(vm, PW_BAD_ARGUMENT,
		    "STRING: the argument must be quoted");
	if (pvm_text_decode_escape(s + 1, len - 2, s, &out_len) < 0)
		return fail(vm, PW_BAD_ARGUMENT, "STRING: invalid escape");
	/* Decoded with the unpickler's encoding, ASCII by default. */
	if (!pvm_text_is_ascii(s, out_len))
		return fail(vm, PW_BAD_ENCODING, "STRING: not ASCII");
	if (out_len > vm->limits.max_string_bytes)
		return string_too_long(vm, out_len);
	if (out_len > STR_KEEP_MAX)
		return push(vm, &pv_long_str);
	if ((s = vm_strdup(vm, s, out_len)) == NULL)
		return -1;
	return push(vm, new_str(vm, s, out_len));
}

PVM_HANDLER int
op_unicode(struct pvm *vm)
{
	size_t len = vm->line_len - 1, out_len;
	char *out = NULL;

	/* Decoding can double the length; long strings are only checked. */
	if (len <= STR_KEEP_MAX && (out = vm_alloc(vm, 2 * len + 1)) == NULL)
		return -1;
	if (pvm_text_decode_raw_unicode_escape(vm->line, len, out, &out_len) < 0)
		return fail(vm, PW_BAD_ENCODING, "UNICODE: invalid \\u escape");
	if (out_len > vm->limits.max_string_bytes)
		return string_too_long(vm, out_len);
	return push(vm, new_str(vm, out_len <= STR_KEEP_MAX ? out : NULL,
	    out_len));
}

/* ---- dispatch --------------------------------------------------------- */

PVM_HANDLER int
op_pop_mark(struct pvm *vm)
{
	size_t mark;

	if (marker(vm, &mark) < 0)
		return -1;
	vm->stack_len = mark;
	return 0;
}

PVM_HANDLER int
op_dup(struct pvm *vm)
{
	struct pv *v = top(vm);

	return v == NULL ? -1 : push(vm, v);
}

/* BINSTRING and friends: the reader has checked and kept the text. */
PVM_HANDLER int
op_counted_str(struct pvm *vm)
{
	return push(vm, new_str(vm, vm->data_keep_all ? vm->data_keep : NULL,
	    vm->data_kept));
}

PVM_HANDLER int
op_new_container(struct pvm *vm, enum pv_kind kind)
{
	return push(vm, new_value(vm, kind));
}

PVM_HANDLER int
op_proto(struct pvm *vm, uint64_t a)
{
	if (a > PICKLE_HIGHEST_PROTOCOL)
		return fail(vm, PW_BAD_PROTOCOL,
		    "unsupported pickle protocol: %u", (unsigned)a);
	vm->proto = (int)a;
	vm->report.protocol = (int)a;
	return 0;
}

PVM_HANDLER int
op_next_buffer(struct pvm *vm)
{
	/* Without buffers= CPython fails here; with it, next() is called on
	 * the server's iterable. */
	if (record_call(vm, "pickle.buffers.__next__",
	    strlen("pickle.buffers.__next__"), strlen("pickle"), NULL) == NULL)
		return -1;
	return push(vm, new_opaque(vm, "out-of-band buffer"));
}

PVM_HANDLER int
op_memoize(struct pvm *vm)
{
	return memo_write(vm, pvm_memo_len(vm->memo));
}

static int
execute(struct pvm *vm)
{
	uint64_t a = vm->arg;

	switch ((enum opcode)vm->op->code) {
	case OP_MARK: return op_mark(vm);
	case OP_STOP: return op_stop(vm);
	case OP_POP: return op_pop(vm);
	case OP_POP_MARK: return op_pop_mark(vm);
	case OP_DUP: return op_dup(vm);
	case OP_FLOAT: return op_float(vm);
	case OP_INT: return op_int(vm);
	case OP_BININT1: case OP_BININT2:
		return push(vm, int_value((int64_t)a));
	case OP_BININT:
		return push(vm, int_value((int64_t)(int32_t)(uint32_t)a));
	case OP_LONG1: case OP_LONG4:
		return push(vm, &pv_int);
	case OP_LONG: return op_long(vm);
	case OP_NONE: return push(vm, &pv_none);
	case OP_PERSID: return op_persid(vm, false);
	case OP_BINPERSID: return op_persid(vm, true);
	case OP_REDUCE: return op_reduce(vm);
	case OP_STRING: return op_string(vm);
	case OP_BINSTRING: case OP_SHORT_BINSTRING: case OP_UNICODE:
	case OP_BINUNICODE: case OP_SHORT_BINUNICODE: case OP_BINUNICODE8:
		if (vm->op->code == OP_UNICODE)
			return op_unicode(vm);
		return op_counted_str(vm);
	case OP_APPEND: return do_append(vm, vm->stack_len - 1);
	case OP_BUILD: return op_build(vm);
	case OP_GLOBAL: case OP_INST: return op_global_or_inst(vm);
	case OP_DICT: return op_dict(vm);
	case OP_EMPTY_DICT: return op_new_container(vm, PV_DICT);
	case OP_APPENDS: return op_appends(vm);
	case OP_GET: return op_text_memo(vm, false);
	case OP_BINGET: return op_get(vm, a);
	case OP_LONG_BINGET: return op_get(vm, a);
	case OP_LIST: return op_list(vm);
	case OP_EMPTY_LIST: return op_new_container(vm, PV_LIST);
	case OP_OBJ: return op_obj(vm);
	case OP_PUT: return op_text_memo(vm, true);
	case OP_BINPUT: return op_put(vm, a);
	case OP_LONG_BINPUT: return op_put(vm, a);
	case OP_SETITEM: return do_setitems(vm, vm->stack_len >= 2 ?
	    vm->stack_len - 2 : 0);
	case OP_TUPLE: return op_tuple(vm);
	case OP_EMPTY_TUPLE: return push(vm, &pv_empty_tuple);
	case OP_SETITEMS: return op_setitems(vm);
	case OP_BINFLOAT: return push(vm, &pv_float);
	case OP_PROTO: return op_proto(vm, a);
	case OP_NEWOBJ: return op_newobj(vm, false);
	case OP_EXT1: return op_ext(vm, (int64_t)a);
	case OP_EXT2: return op_ext(vm, (int64_t)a);
	case OP_EXT4: return op_ext(vm, (int32_t)(uint32_t)a);
	case OP_TUPLE1: return op_tuple_n(vm, 1);
	case OP_TUPLE2: return op_tuple_n(vm, 2);
	case OP_TUPLE3: return op_tuple_n(vm, 3);
	case OP_NEWTRUE: return push(vm, &pv_true);
	case OP_NEWFALSE: return push(vm, &pv_false);
	case OP_BINBYTES: case OP_SHORT_BINBYTES: case OP_BINBYTES8:
		return push(vm, &pv_bytes);
	case OP_EMPTY_SET: return op_new_container(vm, PV_SET);
	case OP_ADDITEMS: return op_additems(vm);
	case OP_FROZENSET: return op_frozenset(vm);
	case OP_NEWOBJ_EX: return op_newobj(vm, true);
	case OP_STACK_GLOBAL: return op_stack_global(vm);
	case OP_MEMOIZE: return op_memoize(vm);
	case OP_FRAME: return op_frame(vm, a);
	case OP_BYTEARRAY8: return push(vm, &pv_bytearray);
	case OP_NEXT_BUFFER: return op_next_buffer(vm);
	case OP_READONLY_BUFFER: return op_readonly_buffer(vm);
	}
	return fail(vm, PW_INTERNAL, "opcode 0x%02x has no handler",
	    vm->op->code);
}

/* ---- the reader ------------------------------------------------------- */

/* The checks load_counted_* makes on the count ${n} before reading the
 * data, and ours on the message and frame. */
static int
check_data_len(struct pvm *vm, uint64_t n)
{
	if (vm->op->arg == PVM_ARG_LONG4 && (n & 0x80000000U))
		return fail(vm, PW_BAD_ARGUMENT,
		    "LONG pickle has negative byte count");
	if (vm->op->arg == PVM_ARG_DATA8 && n > (uint64_t)PTRDIFF_MAX)
		return fail(vm, PW_BAD_ARGUMENT,
		    "%s exceeds system's maximum size", vm->op->name);
	if (n > vm->limits.max_message_bytes - vm->pos)
		return fail(vm, PW_LIMIT_MESSAGE_BYTES,
		    "%s of %llu bytes exceeds the message limit of %llu",
		    vm->op->name, (unsigned long long)n,
		    (unsigned long long)vm->limits.max_message_bytes);
	if (n > vm->limits.max_string_bytes && vm->op->arg != PVM_ARG_LONG1 &&
	    vm->op->arg != PVM_ARG_LONG4)
		return fail(vm, PW_LIMIT_STRING_BYTES,
		    "%s of %llu bytes exceeds the string limit of %llu",
		    vm->op->name, (unsigned long long)n,
		    (unsigned long long)vm->limits.max_string_bytes);
	if (vm->in_frame && n > vm->frame_end - vm->pos)
		return fail(vm, PW_LYING_FRAME,
		    "%s of %llu bytes runs past the end of its FRAME",
		    vm->op->name, (unsigned long long)n);
	return 0;
}

/* Choose how the ${n} bytes of data are checked and where strings short
 * enough to keep go. */
static int
setup_data(struct pvm *vm, uint64_t n)
{
	uint8_t code = vm->op->code;

	vm->data_left = n;
	vm->data_check = DATA_SKIP;
	vm->data_kept = 0;
	vm->data_keep_all = false;
	vm->data_bad = false;
	if (code == OP_BINSTRING || code == OP_SHORT_BINSTRING)
		vm->data_check = DATA_ASCII;
	else if (code == OP_BINUNICODE || code == OP_SHORT_BINUNICODE ||
	    code == OP_BINUNICODE8)
		vm->data_check = DATA_UTF8;
	if (vm->data_check != DATA_SKIP && n <= STR_KEEP_MAX) {
		vm->data_keep_all = true;
		if ((vm->data_keep = vm_alloc(vm, (size_t)n + 1)) == NULL)
			return -1;
	}
	return 0;
}

/* After the fixed part of a counted argument: set up the data that
 * follows, or finish the opcode when there is none. */
static int
begin_data(struct pvm *vm)
{
	if (check_data_len(vm, vm->arg) < 0)
		return -1;
	pvm_text_utf8_init(&vm->utf8);
	if (setup_data(vm, vm->arg) < 0)
		return -1;
	vm->rstate = RS_DATA;
	return 0;
}

/* All the data has been read: refuse bad text, else run the opcode. */
static int
end_data(struct pvm *vm)
{
	if (vm->data_bad)
		return fail(vm, PW_BAD_ENCODING, "%s: invalid %s",
		    vm->op->name, vm->data_check == DATA_ASCII ?
		    "ASCII (the default encoding)" : "UTF-8");
	if (vm->data_keep_all)
		vm->data_keep[vm->data_kept] = '\0';
	return execute(vm);
}

static int
finish_data(struct pvm *vm)
{
	if (vm->data_check == DATA_UTF8 && !pvm_text_utf8_end(&vm->utf8))
		vm->data_bad = true;
	return end_data(vm);
}

/* Consume data bytes; returns bytes used. */
static size_t
feed_data(struct pvm *vm, const uint8_t *p, size_t n)
{
	if (n > vm->data_left)
		n = (size_t)vm->data_left;
	if (vm->data_check == DATA_ASCII && !vm->data_bad)
		vm->data_bad = !pvm_text_is_ascii((const char *)p, n);
	else if (vm->data_check == DATA_UTF8 && !vm->data_bad)
		vm->data_bad = !pvm_text_utf8_feed(&vm->utf8, p, n);
	if (vm->data_keep_all) {
		memcpy(vm->data_keep + vm->data_kept, p, n);
		vm->data_kept += n;
	} else if (vm->data_check != DATA_SKIP) {
		vm->data_kept += n;
	}
	vm->data_left -= n;
	return n;
}

/* All the data, vm->data_left bytes, is at ${p}: what feed_data() and then
 * finish_data()'s check do, in one go with no streaming state. */
static void
take_whole_data(struct pvm *vm, const uint8_t *p)
{
	size_t n = (size_t)vm->data_left, i;
	char *keep = vm->data_keep;
	uint8_t high = 0;
	bool ascii;

	vm->data_left = 0;
	if (vm->data_check == DATA_SKIP)
		return;
	vm->data_kept = n;
	if (vm->data_keep_all && n <= 16) {
		/* Short strings, the usual dict keys: one pass, no calls. */
		for (i = 0; i < n; i++) {
			high |= p[i];
			keep[i] = (char)p[i];
		}
		ascii = high < 0x80;
	} else {
		ascii = pvm_text_is_ascii((const char *)p, n);
		if (vm->data_keep_all)
			memcpy(keep, p, n);
	}
	if (vm->data_check == DATA_ASCII)
		vm->data_bad = !ascii;
	else
		vm->data_bad = !ascii &&
		    !pvm_text_is_utf8((const char *)p, n, true);
}

static int
line_append(struct pvm *vm, const uint8_t *p, size_t n)
{
	if (vm_grow(vm, (void **)&vm->line, &vm->line_cap,
	    vm->line_len + n + 1, 1) < 0)
		return -1;
	memcpy(vm->line + vm->line_len, p, n);
	vm->line_len += n;
	vm->line[vm->line_len] = '\0';
	return 0;
}

/* Start an opcode whose code byte has just been read. */
static int
begin_op(struct pvm *vm, uint8_t code)
{
	if ((vm->op = pvm_opinfo(code)) == NULL) {
		static const struct pvm_opinfo unknown = { 0, "?", 0, 0 };

		vm->op = &unknown;
		return fail(vm, PW_UNKNOWN_OPCODE, "invalid load key 0x%02x",
		    code);
	}
	if (++vm->report.opcodes > vm->limits.max_opcodes)
		return fail(vm, PW_LIMIT_OPCODES, "more than %llu opcodes",
		    (unsigned long long)vm->limits.max_opcodes);
	switch (vm->op->arg) {
	case PVM_ARG_NONE:
		return execute(vm);
	case PVM_ARG_LINE:
	case PVM_ARG_LINE2:
		/* load_inst looks for its MARK before it reads a line: a
		 * server that reads on after this error runs the lines. */
		if (code == OP_INST && vm->n_marks == 0)
			return fail(vm, PW_MARK_MISSING, "INST: could not find "
			    "MARK");
		vm->line_len = 0;
		vm->lines_left = vm->op->arg == PVM_ARG_LINE ? 1 : 2;
		vm->rstate = RS_LINE;
		return 0;
	default:
		vm->fixed_have = 0;
		vm->fixed_need = fixed_arg_bytes(vm->op->arg);
		vm->rstate = RS_FIXED;
		return 0;
	}
}

/* Counted data, all of it at ${p}, for the opcode run_whole_opcodes() has
 * just decoded: begin_data() and feed_data() in one step.  Returns -1 if
 * the opcode failed before its data was read. */
static __attribute__((noinline)) int
take_data(struct pvm *vm, const uint8_t *p)
{
	if (check_data_len(vm, vm->arg) < 0 || setup_data(vm, vm->arg) < 0)
		return -1;
	take_whole_data(vm, p);
	return 0;
}

/* ---- the fast path ---------------------------------------------------- */

/*
 * The opcodes that make up nearly all of real pickles are run by
 * run_whole_opcodes() itself, with the stack in registers, whenever they
 * can neither fail nor call anything: each fast path first checks
 * everything the handler would (limits, types, room in the arena chunk and
 * on the stack) and, if any check could go the other way, changes nothing
 * and hands the opcode to its handler, which then does exactly what it
 * always did, failure and reason included.
 */

#define HIGH_BITS64 0x8080808080808080ULL

/* Whether the ${n} <= 64 bytes at ${p} are all ASCII: whole words, the
 * last one overlapping the one before. */
static inline bool
short_is_ascii(const uint8_t *p, size_t n)
{
	uint64_t w, high = 0;
	uint32_t h;
	size_t i;

	if (n >= 8) {
		for (i = 0; i + 8 < n; i += 8) {
			memcpy(&w, p + i, 8);
			high |= w;
		}
		memcpy(&w, p + n - 8, 8);
		return ((high | w) & HIGH_BITS64) == 0;
	}
	if (n >= 4) {
		memcpy(&h, p, 4);
		high = h;
		memcpy(&h, p + n - 4, 4);
		return ((high | h) & 0x80808080U) == 0;
	}
	for (i = 0; i < n; i++)
		high |= p[i];
	return high < 0x80;
}

/* memcpy() of ${n} <= 64 bytes, as short_is_ascii() reads them (a call,
 * or the compiler's inline rep movs, costs more than the copy). */
static inline void
short_copy(char *dst, const uint8_t *src, size_t n)
{
	uint64_t w;
	uint32_t h;
	size_t i;

	if (n >= 8) {
		for (i = 0; i + 8 < n; i += 8) {
			memcpy(&w, src + i, 8);
			memcpy(dst + i, &w, 8);
		}
		memcpy(&w, src + n - 8, 8);
		memcpy(dst + n - 8, &w, 8);
	} else if (n >= 4) {
		memcpy(&h, src, 4);
		memcpy(dst, &h, 4);
		memcpy(&h, src + n - 4, 4);
		memcpy(dst + n - 4, &h, 4);
	} else {
		for (i = 0; i < n; i++)
			dst[i] = (char)src[i];
	}
}

/* memcpy() as libc does it: inlined, with a size it knows to be below
 * 4 KiB, the compiler emits rep movs, several times slower on a kept
 * string of a few KiB. */
static __attribute__((noinline)) void
long_copy(char *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
}

/* Whether ${n} bytes at ${p} are what load_binunicode decodes (UTF-8 with
 * surrogatepass). */
static inline bool
fast_utf8_ok(const uint8_t *p, size_t n)
{
	if (n <= 64 ? short_is_ascii(p, n) :
	    pvm_text_is_ascii((const char *)p, n))
		return true;
	return pvm_text_is_utf8((const char *)p, n, true);
}

/* SETITEM(S) of the ${n} (even, > 0) values at ${items} into the plain dict
 * ${d}: true when done; false, with nothing changed, when a key must be
 * hashed by a call or cannot be, or a limit would be passed. */
static inline bool
fast_dict_items(const struct pvm *vm, struct pv *d, struct pv *const *items,
    size_t n)
{
	uint32_t depth = d->depth;
	uint16_t flags = PVF_HAS_ITEMS;
	size_t i;

	if (n / 2 > vm->limits.max_container_items - d->u.coll.items)
		return false;
	for (i = 0; i < n; i += 2) {
		const struct pv *key = items[i], *value = items[i + 1];

		if (!pv_is_plain(key) ||
		    (key->flags & (PVF_UNHASHABLE | PVF_HOLDS_OBJECT)))
			return false;
		if (!(key->flags & PVF_SAFE_KEY))
			flags |= PVF_SUSPECT_KEYS;
		if (value->depth + 1 > depth)
			depth = value->depth + 1;
	}
	if (depth > d->depth && depth > vm->limits.max_nesting)
		return false;
	d->u.coll.items += n / 2;
	d->depth = depth;
	d->flags |= flags;
	return true;
}

/* APPEND(S) of the ${n} (> 0) values at ${items} to the plain list ${l}, as
 * fast_dict_items(). */
static inline bool
fast_list_items(const struct pvm *vm, struct pv *l, struct pv *const *items,
    size_t n)
{
	uint32_t depth = l->depth;
	size_t i;

	if (n > vm->limits.max_container_items - l->u.coll.items)
		return false;
	for (i = 0; i < n; i++)
		if (items[i]->depth + 1 > depth)
			depth = items[i]->depth + 1;
	if (depth > l->depth && depth > vm->limits.max_nesting)
		return false;
	l->u.coll.items += n;
	l->depth = depth;
	return true;
}

/* TUPLE1/2/3 of the ${n} values at ${items}, or NULL, with nothing
 * changed, when pop_tuple() must run. */
static inline struct pv *
fast_tuple(struct pvm *vm, struct pv *const *items, size_t n)
{
	uint32_t depth = 0;
	uint16_t any_flags = 0;
	uint8_t top_kind = 0;
	struct pv *v, **copy;
	size_t i;

	for (i = 0; i < n; i++) {
		any_flags |= items[i]->flags;
		if (items[i]->kind > top_kind)
			top_kind = items[i]->kind;
		if (items[i]->depth > depth)
			depth = items[i]->depth;
	}
	if (n > vm->limits.max_container_items ||
	    depth + 1 > vm->limits.max_nesting)
		return NULL;
	/* new_value() and the items, as two allocations would place them. */
	if ((v = arena_alloc_fast(vm->arena, arena_round(sizeof(*v)) +
	    arena_round(n * sizeof(*copy)))) == NULL)
		return NULL;
	copy = (struct pv **)(void *)((char *)v + arena_round(sizeof(*v)));
	memset(v, 0, sizeof(*v));
	v->kind = PV_TUPLE;
	v->flags = (any_flags & PVF_UNHASHABLE) |
	    ((any_flags & PVF_HOLDS_OBJECT) || top_kind >= PV_GLOBAL ?
	    PVF_HOLDS_OBJECT : 0);
	v->depth = depth + 1;
	for (i = 0; i < n; i++)
		copy[i] = items[i];
	v->u.tuple.items = copy;
	v->u.tuple.n = n;
	return v;
}

/* EMPTY_DICT, EMPTY_LIST, EMPTY_SET: new_value() when the chunk has room. */
static inline struct pv *
fast_container(struct pvm *vm, enum pv_kind kind)
{
	struct pv *v = arena_alloc_fast(vm->arena, sizeof(*v));

	if (v == NULL)
		return NULL;
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->flags = PVF_UNHASHABLE;
	if (kind == PV_DICT)
		v->u.coll.calls_at_creation = vm->calls_total;
	return v;
}

/*
 * A str of n < STR_WINDOW_BYTES bytes, as the STR_WINDOW_BYTES bytes at
 * its start with those from n on zeroed: so that it is checked (ASCII,
 * planted_names) with no branch on n.  Str lengths come in random order,
 * and branches on the length (short_is_ascii(), plants_a_method()) are
 * mispredicted then.
 */
#define STR_WINDOW_BYTES 16

struct str_window {
	uint64_t w[STR_WINDOW_BYTES / 8];
};

/* The window of the ${n} < STR_WINDOW_BYTES bytes at ${p}, where
 * STR_WINDOW_BYTES bytes are readable. */
static inline struct str_window
str_window(const uint8_t *p, size_t n)
{
	static const uint8_t first_n[2 * STR_WINDOW_BYTES] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	struct str_window win, mask;
	size_t i;

	memcpy(win.w, p, STR_WINDOW_BYTES);
	memcpy(mask.w, first_n + STR_WINDOW_BYTES - n, STR_WINDOW_BYTES);
	for (i = 0; i < STR_WINDOW_BYTES / 8; i++)
		win.w[i] &= mask.w[i];
	return win;
}

static inline bool
window_is_ascii(const struct str_window *win)
{
	return ((win->w[0] | win->w[1]) & HIGH_BITS64) == 0;
}

/*
 * planted_names as windows: [n][i] is the i-th name of n bytes or, where
 * there is none, a window that no str's matches (its last byte is set,
 * which a str shorter than the window has zeroed).
 */
static struct str_window planted_windows[STR_WINDOW_BYTES][PLANTED_PER_LEN];

static void init_planted_windows(void) __attribute__((constructor));
static void
init_planted_windows(void)
{
	uint8_t bytes[STR_WINDOW_BYTES];
	const char *name;
	size_t n, i;

	for (n = 0; n < STR_WINDOW_BYTES; n++) {
		for (i = 0; i < PLANTED_PER_LEN; i++) {
			name = n <= PLANTED_MAX_LEN ? planted_names[n][i] :
			    NULL;
			memset(bytes, 0, sizeof(bytes));
			if (name != NULL)
				memcpy(bytes, name, n);
			else
				bytes[STR_WINDOW_BYTES - 1] = 0xff;
			memcpy(planted_windows[n][i].w, bytes, sizeof(bytes));
		}
	}
}

/* plants_a_method() of the str of ${n} < STR_WINDOW_BYTES bytes whose
 * window is ${win}: the same answer, compared word by word. */
static inline bool
window_plants_a_method(const struct str_window *win, size_t n)
{
	const struct str_window *names = planted_windows[n];
	unsigned match = 0;
	size_t i;

	for (i = 0; i < PLANTED_PER_LEN; i++)
		match |= ((win->w[0] ^ names[i].w[0]) |
		    (win->w[1] ^ names[i].w[1])) == 0;
	return match != 0;
}

/* A counted str of ${n} bytes at ${p} (where ${room} >= ${n} bytes are
 * readable) short enough to keep, as take_data() + op_counted_str() make
 * it, or NULL, with nothing changed. */
static inline struct pv *
fast_str(struct pvm *vm, const uint8_t *p, size_t n, size_t room)
{
	struct str_window win;
	struct pv *v;
	char *keep;
	bool planted;
	/* Shorter than the window, with the whole window readable. */
	bool window = n < STR_WINDOW_BYTES && room >= STR_WINDOW_BYTES;

	/* Short enough to keep (STR_KEEP_MAX) and for arena_alloc_fast(). */
	if (n > STR_KEEP_MAX || arena_round(n + 1) + arena_round(sizeof(*v)) >
	    ARENA_FAST_MAX_BYTES || n > vm->limits.max_string_bytes)
		return NULL;
	if (window) {
		win = str_window(p, n);
		/* What fast_utf8_ok() says: all ASCII is UTF-8. */
		if (!window_is_ascii(&win) &&
		    !pvm_text_is_utf8((const char *)p, n, true))
			return NULL;
	} else if (!fast_utf8_ok(p, n)) {
		return NULL;
	}
	/* The text, then the value, as two allocations would place them. */
	if ((keep = arena_alloc_fast(vm->arena, arena_round(n + 1) +
	    arena_round(sizeof(*v)))) == NULL)
		return NULL;
	v = (struct pv *)(void *)(keep + arena_round(n + 1));
	/*
	 * The window fits in the allocation (n + 1 bytes rounded, then the
	 * value: more than STR_WINDOW_BYTES in all).  Past the text it
	 * writes the NUL's byte, padding no one reads and, with an
	 * alignment below STR_WINDOW_BYTES, the start of the value: all
	 * written below.
	 */
	if (window)
		memcpy(keep, p, STR_WINDOW_BYTES);
	else if (n <= 64)
		short_copy(keep, p, n);
	else
		long_copy(keep, p, n);
	keep[n] = '\0';
	memset(v, 0, sizeof(*v));
	v->kind = PV_STR;
	v->u.str.ptr = keep;
	v->u.str.len = n;
	planted = window ? window_plants_a_method(&win, n) :
	    plants_a_method(v->u.str);
	v->flags = (uint16_t)(PVF_SAFE_KEY * !planted);
	return v;
}

/* One opcode the fast path left to the handlers: decode it at ${q}, where
 * ${room} bytes are readable and the pickle is at ${pos}, and run it.
 * Returns the bytes it took (0: it is not whole in ${room}, or is a line
 * opcode: the state machine reads it), or -1 when the reader must stop
 * here (failure, STOP, a FRAME that moves the bound) after *${used}
 * bytes. */
static __attribute__((noinline)) ptrdiff_t
run_generic(struct pvm *vm, const uint8_t *q, size_t room, uint64_t pos,
    size_t *used)
{
	uint8_t code = *q, meta = op_head_bytes[code];
	size_t head = meta & HEAD_BYTES;
	uint64_t arg;

	*used = 0;
	if (head == 0 || room < head)
		return -1;
	arg = decode_head(q, head, room);
	if ((meta & HEAD_DATA) && arg > room - head)
		return -1;
	vm->report.opcodes++;
	vm->op = &optable[code];
	vm->op_pos = pos;
	vm->arg = arg;
	vm->pos = pos + head;
	*used = head;
	if (meta & HEAD_DATA) {
		if (take_data(vm, q + head) < 0)
			return -1;
		*used = head + (size_t)arg;
		vm->pos = pos + *used;
		if (end_data(vm) < 0 || vm->rstate == RS_END)
			return -1;
		return (ptrdiff_t)*used;
	}
	/* After FRAME the bound moves: let the reader recompute it. */
	if (execute(vm) < 0 || vm->rstate == RS_END || code == OP_FRAME)
		return -1;
	return (ptrdiff_t)head;
}

/* Picklers memoize nearly every str and container right after pushing it:
 * the MEMOIZE or BINPUT at ${q} (before ${end}) for the value ${v} just
 * pushed, run as the put fast path would.  Returns its length, or 0 if
 * there is none or it must go through the dispatch after all. */
static inline size_t
fused_put(struct pvm *vm, const uint8_t *q, const uint8_t *end,
    struct pv *v)
{
	uint64_t key;
	size_t len;

	if (q >= end || vm->memo_inexact)
		return 0;
	if (*q == OP_MEMOIZE) {
		key = pvm_memo_len(vm->memo);
		len = 1;
	} else if (*q == OP_BINPUT && end - q >= 2) {
		key = q[1];
		len = 2;
	} else {
		return 0;
	}
	if (key >= vm->limits.max_memo_entries ||
	    !pvm_memo_put_dense(vm->memo, key, v))
		return 0;
	return len;
}

/* The opcodes run_whole_opcodes() runs itself. */
#define FAST_OPS(X)							\
	X(BININT1) X(BININT2) X(BININT) X(BINFLOAT) X(NONE) X(NEWTRUE)	\
	X(NEWFALSE) X(EMPTY_TUPLE) X(EMPTY_DICT) X(EMPTY_LIST)		\
	X(EMPTY_SET) X(SHORT_BINUNICODE) X(BINUNICODE) X(SHORT_BINBYTES)	\
	X(BINBYTES) X(LONG1) X(BINGET) X(LONG_BINGET) X(MEMOIZE)	\
	X(BINPUT) X(LONG_BINPUT) X(MARK) X(TUPLE1) X(TUPLE2) X(TUPLE3)	\
	X(APPEND) X(SETITEM) X(APPENDS) X(SETITEMS) X(PROTO) X(FRAME)	\
	X(STOP)

/*
 * With GNU C (gcc, clang), each fast opcode ends in a jump of its own to
 * the next opcode's code ("threaded code"), so that the branch predictor
 * learns which opcode follows which; elsewhere one switch does it.
 */
#if defined(__GNUC__)
#define FAST_THREADED 1
#endif

#ifndef FAST_THREADED
enum fast_op {
	FAST_GENERIC,
#define FAST_ENUM(name) FAST_##name,
	FAST_OPS(FAST_ENUM)
#undef FAST_ENUM
};

/* A code byte's place in FAST_OPS, 0 (FAST_GENERIC) for all the others. */
static const uint8_t fast_index[256] = {
#define FAST_INDEX(name) [OP_##name] = FAST_##name,
	FAST_OPS(FAST_INDEX)
#undef FAST_INDEX
};
#endif

/* The stack of a pvm that has none yet: no room, so every push goes to
 * the handlers, which allocate one. */
static struct pv *no_stack[1];

/*
 * The common case: opcodes whose argument, if any, is fixed-size or counted
 * and whose bytes (data included) are all in ${p}.  The hot ones run here
 * (see "the fast path"); the others are decoded here and handed straight
 * to execute(), without a trip through the reader's state machine for
 * each.  Lines and opcodes split across calls are left to the state
 * machine.  Returns where it stopped in ${p}.
 *
 * Since ${avail} stops at vm->bound, data that fits in it can pass neither
 * the message limit nor the end of its frame: check_data_len() can only
 * refuse such data for the string limit (or LONG4's sign), which the fast
 * paths check themselves.
 */
static __attribute__((noinline)) const uint8_t *
run_whole_opcodes(struct pvm *vm, const uint8_t *p, size_t avail)
{
	/*
	 * Kept in registers: the stack as pointers (top, its end, the top
	 * MARK) and the count of opcodes run here.  The opcode last run is
	 * only worked out on the way out.
	 */
#define STACK_BASE() (vm->stack != NULL ? vm->stack : no_stack)
#define ROOM() ((size_t)(end - q))
#ifdef FAST_THREADED
	/*
	 * Indexed by the code byte itself: one load fewer between reading
	 * the byte and jumping, which is what a mispredicted jump waits
	 * for.  Every code is &&generic but the fast ones, which the
	 * designators after the range override (hence the pragma).
	 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
	static const void *const fast_label[256] = {
		[0 ... 255] = &&generic,
#define FAST_LABEL(name) [OP_##name] = &&fast_##name,
		FAST_OPS(FAST_LABEL)
#undef FAST_LABEL
	};
#pragma GCC diagnostic pop
#define FAST(name) fast_##name:
#define DISPATCH() goto *fast_label[*q]
#else
#define FAST(name) case FAST_##name:
#define DISPATCH() goto dispatch
#endif
	/* The fast opcode at q took ${h} bytes: on to the next one. */
#define DONE_NEXT(h) do {						\
		step = (h);						\
		q += step;						\
		ops++;							\
		if (q >= end)						\
			goto out_fast;					\
		DISPATCH();						\
	} while (0)
#define PUSH_NEXT(value, h) do {					\
		v = (value);						\
		if (top == stack_end)					\
			goto generic;					\
		*top++ = v;						\
		DONE_NEXT(h);						\
	} while (0)
	/* The same for a value that is usually memoized next. */
#define PUSH_PUT_NEXT(value, h) do {					\
		v = (value);						\
		if (top == stack_end)					\
			goto generic;					\
		*top++ = v;						\
		step = (h);						\
		q += step;						\
		ops++;							\
		if ((put = fused_put(vm, q, end, v)) > 0) {		\
			step = put;					\
			q += put;					\
			ops++;						\
		}							\
		if (q >= end)						\
			goto out_fast;					\
		DISPATCH();						\
	} while (0)
	const uint8_t *q = p, *end = p + avail, *last = NULL;
	struct pv **top, **stack_end, **fence_ptr, *v, *target;
	uint64_t left, ops = 0, key, n;
	size_t head, x, sp, used, put, step = 0;
	ptrdiff_t r;

	left = vm->report.opcodes < vm->limits.max_opcodes ?
	    vm->limits.max_opcodes - vm->report.opcodes : 0;
	/* An opcode takes a byte at least: stopping ${left} bytes on is
	 * stopping before the opcode limit, with no test per opcode (near
	 * the limit, the reader calls again or reads on byte by byte and
	 * fails at the same opcode). */
	if (left < avail)
		end = p + left;
	top = STACK_BASE() + vm->stack_len;
	stack_end = STACK_BASE() + vm->stack_cap;
	fence_ptr = STACK_BASE() + fence(vm);
	if (q >= end)
		goto out;

#ifndef FAST_THREADED
dispatch:
	switch (fast_index[*q]) {
	default:
		goto generic;
#endif
	DISPATCH();
	FAST(BININT1)
		if (ROOM() < 2)
			goto generic;
		/* 0 to 255: all small. */
		PUSH_NEXT(&pv_small_ints[q[1] - SMALL_INT_MIN], 2);
	FAST(BININT2)
		if (ROOM() < 3)
			goto generic;
		PUSH_NEXT(int_value((int64_t)decode_fixed(q + 1, 2)), 3);
	FAST(BININT)
		if (ROOM() < 5)
			goto generic;
		PUSH_NEXT(int_value((int32_t)(uint32_t)decode_fixed(q + 1, 4)),
		    5);
	FAST(BINFLOAT)
		if (ROOM() < 9)
			goto generic;
		PUSH_NEXT(&pv_float, 9);
	FAST(NONE)
		PUSH_NEXT(&pv_none, 1);
	FAST(NEWTRUE)
		PUSH_NEXT(&pv_true, 1);
	FAST(NEWFALSE)
		PUSH_NEXT(&pv_false, 1);
	FAST(EMPTY_TUPLE)
		PUSH_NEXT(&pv_empty_tuple, 1);
	FAST(EMPTY_DICT)
		if (top == stack_end ||
		    (v = fast_container(vm, PV_DICT)) == NULL)
			goto generic;
		PUSH_PUT_NEXT(v, 1);
	FAST(EMPTY_LIST)
		if (top == stack_end ||
		    (v = fast_container(vm, PV_LIST)) == NULL)
			goto generic;
		PUSH_PUT_NEXT(v, 1);
	FAST(EMPTY_SET)
		if (top == stack_end ||
		    (v = fast_container(vm, PV_SET)) == NULL)
			goto generic;
		PUSH_PUT_NEXT(v, 1);
	FAST(SHORT_BINUNICODE)
		if (ROOM() < 2)
			goto generic;
		n = q[1];
		head = 2;
		goto str;
	FAST(BINUNICODE)
		if (ROOM() < 5)
			goto generic;
		n = decode_fixed(q + 1, 4);
		head = 5;
	str:
		if (n > ROOM() - head || top == stack_end ||
		    (v = fast_str(vm, q + head, (size_t)n,
		    ROOM() - head)) == NULL)
			goto generic;
		PUSH_PUT_NEXT(v, head + (size_t)n);
	FAST(SHORT_BINBYTES)
		if (ROOM() < 2)
			goto generic;
		n = q[1];
		head = 2;
		goto bytes;
	FAST(BINBYTES)
		if (ROOM() < 5)
			goto generic;
		n = decode_fixed(q + 1, 4);
		head = 5;
	bytes:
		if (n > ROOM() - head || n > vm->limits.max_string_bytes)
			goto generic;
		PUSH_NEXT(&pv_bytes, head + (size_t)n);
	FAST(LONG1)
		if (ROOM() < 2 || q[1] > ROOM() - 2)
			goto generic;
		PUSH_NEXT(&pv_int, 2 + (size_t)q[1]);
	FAST(BINGET)
		if (ROOM() < 2 || vm->memo_inexact ||
		    q[1] >= vm->memo->dense_cap ||
		    (v = vm->memo->dense[q[1]]) == NULL)
			goto generic;
		PUSH_NEXT(v, 2);
	FAST(LONG_BINGET)
		if (ROOM() < 5 || vm->memo_inexact ||
		    (key = decode_fixed(q + 1, 4)) >= vm->memo->dense_cap ||
		    (v = vm->memo->dense[key]) == NULL)
			goto generic;
		PUSH_NEXT(v, 5);
	FAST(MEMOIZE)
		key = pvm_memo_len(vm->memo);
		head = 1;
		goto put;
	FAST(BINPUT)
		if (ROOM() < 2)
			goto generic;
		key = q[1];
		head = 2;
		goto put;
	FAST(LONG_BINPUT)
		if (ROOM() < 5)
			goto generic;
		key = decode_fixed(q + 1, 4);
		head = 5;
	put:
		if (top <= fence_ptr || vm->memo_inexact ||
		    key >= vm->limits.max_memo_entries ||
		    !pvm_memo_put_dense(vm->memo, key, top[-1]))
			goto generic;
		DONE_NEXT(head);
	FAST(MARK)
		if (vm->n_marks == vm->marks_cap)
			goto generic;
		vm->marks[vm->n_marks++] = (size_t)(top - STACK_BASE());
		fence_ptr = top;
		DONE_NEXT(1);
	FAST(TUPLE1)
		n = 1;
		goto tuple;
	FAST(TUPLE2)
		n = 2;
		goto tuple;
	FAST(TUPLE3)
		n = 3;
	tuple:
		if ((uint64_t)(top - fence_ptr) < n ||
		    (v = fast_tuple(vm, top - n, (size_t)n)) == NULL)
			goto generic;
		top -= n;
		PUSH_PUT_NEXT(v, 1);
	FAST(APPEND)
		/* do_append(vm, stack_len - 1). */
		if (top - fence_ptr <= 1 || (target = top[-2])->kind != PV_LIST ||
		    !fast_list_items(vm, target, top - 1, 1))
			goto generic;
		top--;
		DONE_NEXT(1);
	FAST(SETITEM)
		/* do_setitems(vm, stack_len - 2). */
		if (top - fence_ptr <= 2 || (target = top[-3])->kind != PV_DICT ||
		    !fast_dict_items(vm, target, top - 2, 2))
			goto generic;
		top -= 2;
		DONE_NEXT(1);
	FAST(APPENDS)
		/* The MARK goes; the fence becomes the one below. */
		if (vm->n_marks == 0)
			goto generic;
		x = vm->marks[vm->n_marks - 1];
		sp = (size_t)(top - STACK_BASE());
		if (x > sp || x <= (vm->n_marks > 1 ?
		    vm->marks[vm->n_marks - 2] : 0))
			goto generic;
		if (x < sp && ((target = STACK_BASE()[x - 1])->kind != PV_LIST ||
		    !fast_list_items(vm, target, STACK_BASE() + x, sp - x)))
			goto generic;
		goto pop_mark;
	FAST(SETITEMS)
		if (vm->n_marks == 0)
			goto generic;
		x = vm->marks[vm->n_marks - 1];
		sp = (size_t)(top - STACK_BASE());
		if (x > sp || x <= (vm->n_marks > 1 ?
		    vm->marks[vm->n_marks - 2] : 0))
			goto generic;
		if (x < sp && ((sp - x) % 2 != 0 ||
		    (target = STACK_BASE()[x - 1])->kind != PV_DICT ||
		    !fast_dict_items(vm, target, STACK_BASE() + x, sp - x)))
			goto generic;
	pop_mark:
		vm->n_marks--;
		top = STACK_BASE() + x;
		fence_ptr = STACK_BASE() + fence(vm);
		DONE_NEXT(1);
	FAST(PROTO)
		if (ROOM() < 2 || q[1] > PICKLE_HIGHEST_PROTOCOL)
			goto generic;
		vm->proto = q[1];
		vm->report.protocol = q[1];
		DONE_NEXT(2);
	FAST(FRAME)
		/* op_frame(), and the reader's new bound: the frame's end. */
		if (ROOM() < 9 || vm->in_frame)
			goto generic;
		n = decode_head(q, 9, ROOM());
		key = vm->pos + (uint64_t)(q + 9 - p);	/* pos after it */
		if (n > vm->limits.max_message_bytes - key)
			goto generic;
		if (n > 0) {
			vm->in_frame = true;
			vm->frame_end = key + n;
			vm->bound = vm->frame_end;
			if (n < (uint64_t)(end - (q + 9)))
				end = q + 9 + n;
		}
		DONE_NEXT(9);
	FAST(STOP)
		if (top <= fence_ptr || (vm->in_frame && vm->frame_end !=
		    vm->pos + (uint64_t)(q + 1 - p)))
			goto generic;
		top--;
		vm->report.complete = true;
		vm->rstate = RS_END;
		step = 1;
		q++;
		ops++;
		goto out_fast;
#ifndef FAST_THREADED
	}
#endif

generic:
	/* The handlers see the state as they always have. */
	vm->stack_len = (size_t)(top - STACK_BASE());
	vm->report.opcodes += ops;
	ops = 0;
	r = run_generic(vm, q, ROOM(), vm->pos + (uint64_t)(q - p), &used);
	if (used > 0) {
		/* Counted by run_generic(), which also moved pos and set
		 * vm->op. */
		step = 0;
		q += used;
		p = q;
	}
	top = STACK_BASE() + vm->stack_len;
	stack_end = STACK_BASE() + vm->stack_cap;
	fence_ptr = STACK_BASE() + fence(vm);
	if (r < 0 || q >= end)
		goto out;
	DISPATCH();

out_fast:
	/* The last opcode, ${step} bytes before q, was a fast one. */
	last = q - step;
	goto out_last;
out:
	if (step > 0)
		last = q - step;
out_last:
	vm->stack_len = (size_t)(top - STACK_BASE());
	vm->report.opcodes += ops;
	if (last != NULL) {
		/* As if it had been through the handlers. */
		vm->op = &optable[*last];
		vm->op_pos = vm->pos + (uint64_t)(last - p);
	}
	vm->pos += (uint64_t)(q - p);
	return q;
#undef STACK_BASE
#undef ROOM
#undef FAST
#undef DISPATCH
#undef DONE_NEXT
#undef PUSH_NEXT
#undef PUSH_PUT_NEXT
}

/* The reader reached vm->bound: the end of a frame, which is fine between
 * opcodes, or the size limit, which is not. */
static int
at_bound(struct pvm *vm)
{
	if (vm->in_frame) {
		if (vm->pos != vm->frame_end || vm->rstate != RS_OPCODE)
			return fail(vm, PW_LYING_FRAME,
			    "%s straddles the end of its FRAME", vm->op->name);
		vm->in_frame = false;
		vm->bound = vm->limits.max_message_bytes;
		if (vm->pos < vm->bound)
			return 0;
	}
	return fail(vm, PW_LIMIT_MESSAGE_BYTES, "pickle longer than %llu bytes",
	    (unsigned long long)vm->limits.max_message_bytes);
}

/**
 * pvm_feed(vm, buf, len, consumed):
 * Analyze the next ${len} bytes of the current pickle.  Sets *${consumed}
 * to the bytes used: all of them for PVM_NEED_MORE, up to and including
 * STOP for PVM_DONE, up to the failing opcode for PVM_FAILED.  After DONE or
 * FAILED, further calls return the same status and consume nothing until
 * pvm_begin().
 */
enum pvm_status
pvm_feed(struct pvm *vm, const uint8_t *buf, size_t len, size_t *consumed)
{
	size_t i = 0, n;
	const uint8_t *nl;

	while (i < len && vm->rstate != RS_END) {
		size_t avail = len - i;

		if (vm->pos >= vm->bound && at_bound(vm) < 0)
			break;
		if (avail > vm->bound - vm->pos)
			avail = (size_t)(vm->bound - vm->pos);

		switch (vm->rstate) {
		case RS_OPCODE:
			if ((n = (size_t)(run_whole_opcodes(vm, buf + i,
			    avail) - (buf + i))) > 0) {
				i += n;
				break;
			}
			/* Split across calls, a line, or a failure to come:
			 * one byte at a time through the state machine. */
			vm->op_pos = vm->pos;
			vm->pos++;
			i++;
			begin_op(vm, buf[i - 1]);
			break;
		case RS_FIXED:
			n = vm->fixed_need - vm->fixed_have;
			if (n > avail)
				n = avail;
			memcpy(vm->fixed + vm->fixed_have, buf + i, n);
			vm->fixed_have += n;
			vm->pos += n;
			i += n;
			if (vm->fixed_have < vm->fixed_need)
				break;
			vm->arg = decode_fixed(vm->fixed, vm->fixed_need);
			vm->rstate = RS_OPCODE;
			if (!arg_has_data(vm->op->arg))
				execute(vm);
			else if (begin_data(vm) == 0 && vm->data_left == 0) {
				vm->rstate = RS_OPCODE;
				finish_data(vm);
			}
			break;
		case RS_LINE:
			nl = memchr(buf + i, '\n', avail);
			n = nl != NULL ? (size_t)(nl - (buf + i)) + 1 : avail;
			if (line_append(vm, buf + i, n) < 0)
				break;
			vm->pos += n;
			i += n;
			if (nl == NULL)
				break;
			if (--vm->lines_left > 0) {
				vm->line1_len = vm->line_len;
				(void)check_module_line(vm);
				break;
			}
			vm->rstate = RS_OPCODE;
			execute(vm);
			break;
		case RS_DATA:
			n = feed_data(vm, buf + i, avail);
			vm->pos += n;
			i += n;
			if (vm->data_left > 0)
				break;
			vm->rstate = RS_OPCODE;
			finish_data(vm);
			break;
		case RS_END:
			break;
		}
	}
	*consumed = i;
	vm->report.length = vm->pos;
	if (vm->report.failed)
		return PVM_FAILED;
	return vm->report.complete ? PVM_DONE : PVM_NEED_MORE;
}

/**
 * pvm_finish(vm):
 * Tell ${vm} that the current pickle's input has ended.  Returns PVM_DONE
 * if STOP was executed, otherwise records a "truncated" reason (unless one
 * is there already) and returns PVM_FAILED.
 */
enum pvm_status
pvm_finish(struct pvm *vm)
{
	if (vm->report.complete)
		return PVM_DONE;
	if (!vm->report.failed) {
		vm->op_pos = vm->pos;
		vm->report.failed = true;
		vm->rstate = RS_END;
		add_reason(vm, PW_TRUNCATED, vm->pos,
		    vm->pos == 0 ? "empty input" :
		    "pickle data was truncated (no STOP)");
	}
	return PVM_FAILED;
}

/**
 * pvm_report(vm):
 * The findings for the current pickle so far; owned by ${vm} and valid until
 * the next pvm_feed(), pvm_begin() or pvm_free().
 */
const struct pvm_report *
pvm_report(const struct pvm *vm)
{
	return &vm->report;
}

/* Copy ${v} and what it refers to into the current arena, once. */
static struct pv *
copy_value(struct pvm *vm, struct pv *v)
{
	struct pv *n;
	size_t i;

	if (v->flags & PVF_STATIC)
		return v;
	if (v->flags & PVF_MOVED)
		return v->u.moved_to;
	if ((n = vm_alloc(vm, sizeof(*n))) == NULL)
		return NULL;
	*n = *v;
	switch (v->kind) {
	case PV_STR:
		if ((n->u.str.ptr = vm_strdup(vm, v->u.str.ptr,
		    v->u.str.len)) == NULL)
			return NULL;
		break;
	case PV_TUPLE:
		/* Tuples cannot contain themselves: this ends. */
		if ((n->u.tuple.items = vm_alloc(vm, v->u.tuple.n *
		    sizeof(*n->u.tuple.items))) == NULL)
			return NULL;
		for (i = 0; i < v->u.tuple.n; i++)
			if ((n->u.tuple.items[i] = copy_value(vm,
			    v->u.tuple.items[i])) == NULL)
				return NULL;
		break;
	case PV_GLOBAL:
	case PV_OBJECT:
		if (v->u.origin.name != NULL &&
		    (n->u.origin.name = vm_strdup(vm, v->u.origin.name,
		    v->u.origin.len)) == NULL)
			return NULL;
		break;
	default:
		break;
	}
	v->flags |= PVF_MOVED;
	v->u.moved_to = n;
	return n;
}

/* Below this much garbage a persistent memo's arena is left alone. */
#define ARENA_COMPACT_SLACK_BYTES (256 * 1024)

struct compaction {
	struct pvm *vm;
	bool failed;
};

static void *
copy_memo_value(void *value, void *cookie)
{
	struct compaction *c = cookie;
	struct pv *n;

	if (c->failed || (n = copy_value(c->vm, value)) == NULL) {
		c->failed = true;
		return value;
	}
	return n;
}

/*
 * A persistent memo keeps its values alive from pickle to pickle, but most
 * of the arena is garbage by then (stacks of finished pickles, values whose
 * memo slot was overwritten).  Copy what the memo reaches into fresh chunks
 * and free the rest.  Done only once the arena has doubled, so the cost is
 * linear in what was allocated.  If the copy fails the memo is dropped:
 * later GETs then fail and the stream is denied.
 */
static void
arena_compact(struct pvm *vm)
{
	struct arena *old = vm->arena, *fresh = arena_new();
	struct compaction comp = { vm, false };

	if (fresh == NULL) {
		comp.failed = true;
	} else {
		vm->arena = fresh;
		pvm_memo_rewrite(vm->memo, copy_memo_value, &comp);
		arena_free(old);
	}
	if (comp.failed) {
		pvm_memo_clear(vm->memo);
		vm->memo_bytes = pvm_memo_bytes(vm->memo);
		arena_reset(vm->arena);
	}
	vm->arena_bytes_kept = arena_bytes(vm->arena);
}

/**
 * pvm_begin(vm):
 * Start a new pickle: reset the stack, marks, protocol and report, as
 * CPython's load() does.  The memo is cleared too unless ${vm} was created
 * with PVM_MEMO_PERSISTENT.  After PVM_FAILED a persistent memo is kept as
 * CPython keeps it (the server may carry on).
 */
void
pvm_begin(struct pvm *vm)
{
	bool keep_memo = vm->model == PVM_MEMO_PERSISTENT &&
	    pvm_memo_len(vm->memo) > 0;

	if (!keep_memo) {
		pvm_memo_clear(vm->memo);
		vm->memo_bytes = pvm_memo_bytes(vm->memo);
		arena_reset(vm->arena);
		vm->arena_bytes_kept = 0;
	} else if (arena_bytes(vm->arena) > 2 * vm->arena_bytes_kept +
	    ARENA_COMPACT_SLACK_BYTES) {
		arena_compact(vm);
	}
	vm->rstate = RS_OPCODE;
	vm->pos = 0;
	vm->op_pos = 0;
	vm->op = NULL;
	vm->in_frame = false;
	vm->bound = vm->limits.max_message_bytes;
	vm->proto = 0;
	vm->stack_len = 0;
	vm->n_marks = 0;
	vm->may_have_failed = false;
	if (vm->model == PVM_MEMO_PER_MESSAGE)
		vm->stale_from = UINT64_MAX;
	vm->memo_inexact = vm->stale_from != UINT64_MAX;
	memset(&vm->report, 0, sizeof(vm->report));
	publish(vm);
}

/**
 * pvm_set_resume(vm, resume):
 * With ${resume} true, model a server that calls load() again on the same
 * stream after an unpickling error.
 */
void
pvm_set_resume(struct pvm *vm, bool resume)
{
	vm->resume = resume;
}

/**
 * pvm_limits_resolve(limits):
 * Replace every zero field of ${limits} by its default, computed from
 * ${limits}->max_message_bytes (itself defaulted first).
 */
void
pvm_limits_resolve(struct pvm_limits *limits)
{
	uint64_t msg;

	if (limits->max_message_bytes == 0)
		limits->max_message_bytes = PVM_DEFAULT_MAX_MESSAGE_BYTES;
	msg = limits->max_message_bytes;
	/* Every opcode takes a byte and pushes at most one value; a memo
	 * entry takes a value and a MEMOIZE. */
	if (limits->max_opcodes == 0)
		limits->max_opcodes = msg;
	if (limits->max_stack_depth == 0)
		limits->max_stack_depth = msg / 2 + 1024;
	if (limits->max_memo_entries == 0)
		limits->max_memo_entries = msg / 2 + 1024;
	if (limits->max_nesting == 0)
		limits->max_nesting = PVM_DEFAULT_MAX_NESTING;
	if (limits->max_container_items == 0)
		limits->max_container_items = msg;
	if (limits->max_string_bytes == 0)
		limits->max_string_bytes = msg;
	if (limits->max_analysis_bytes == 0)
		limits->max_analysis_bytes = msg > (UINT64_MAX - (1 << 20)) / 16 ?
		    UINT64_MAX : msg * 16 + (1 << 20);
}

/**
 * pvm_set_extensions(vm, lookup, cookie):
 * Resolve EXT1/EXT2/EXT4 codes with ${lookup}(${cookie}, ...) from the next
 * opcode on; NULL ${lookup}: every code is unknown (the default).
 */
void
pvm_set_extensions(struct pvm *vm, pvm_ext_lookup_fn *lookup, void *cookie)
{
	vm->ext_lookup = lookup;
	vm->ext_cookie = cookie;
}

/**
 * pvm_new(limits, model):
 * Create an analyzer with ${limits} (NULL: all defaults) and memo ${model}.
 * Returns NULL on allocation failure.  The caller frees it with pvm_free().
 */
struct pvm *
pvm_new(const struct pvm_limits *limits, enum pvm_memo_model model)
{
	struct pvm *vm;

	if ((vm = calloc(1, sizeof(*vm))) == NULL)
		return NULL;
	if ((vm->memo = pvm_memo_new()) == NULL ||
	    (vm->arena = arena_new()) == NULL) {
		pvm_memo_free(vm->memo);
		free(vm);
		return NULL;
	}
	if (limits != NULL)
		vm->limits = *limits;
	pvm_limits_resolve(&vm->limits);
	vm->model = model;
	vm->stale_from = UINT64_MAX;
	pvm_begin(vm);
	return vm;
}

/**
 * pvm_free(vm):
 * Release ${vm} and everything it owns, including any report.  NULL is a
 * no-op.
 */
void
pvm_free(struct pvm *vm)
{
	if (vm == NULL)
		return;
	arena_free(vm->arena);
	pvm_memo_free(vm->memo);
	free(vm->stack);
	free(vm->marks);
	free(vm->line);
	free(vm->imports);
	free(vm->calls);
	free(vm);
}
