#ifndef PVM_H
#define PVM_H

/*
 * pvm: an abstract interpreter of the pickle virtual machine.
 *
 * It reads the opcode stream of one pickle at a time exactly as CPython's C
 * unpickler (Modules/_pickle.c, Python 3.11) would, without executing
 * anything, and records every import (find_class) and every call the real
 * unpickler would make.  It is fed bytes as they arrive and never re-reads
 * them: a message delivered one byte at a time costs the same total work as
 * one delivered whole.
 *
 * Memory: all state lives in one struct pvm; the report is valid until the
 * next pvm_begin() or pvm_free().  Memory grows with the message (and, with
 * a persistent memo, with the stream) and is bounded by the limits.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"

/* Limits on one message; a zero field takes the documented default.  The
 * defaults scale with max_message_bytes, so a large message that is within
 * the size limit is not denied by a fixed count. */
struct pvm_limits {
	uint64_t max_message_bytes;	/* default 64 MiB */
	uint64_t max_opcodes;		/* default max_message_bytes */
	uint64_t max_stack_depth;	/* default max_message_bytes/2 + 1024 */
	uint64_t max_memo_entries;	/* default max_message_bytes/2 + 1024;
					 * bounds the largest index too */
	uint64_t max_nesting;		/* MARK / container depth, default 1000 */
	uint64_t max_container_items;	/* items put into one list, dict, set
					 * or tuple; default max_message_bytes */
	uint64_t max_string_bytes;	/* one str, bytes or bytearray;
					 * default max_message_bytes */
	uint64_t max_analysis_bytes;	/* our own memory: 16 x msg + 1 MiB */
};

#define PVM_DEFAULT_MAX_MESSAGE_BYTES	(64ULL << 20)
#define PVM_DEFAULT_MAX_NESTING		1000ULL

/**
 * pvm_limits_resolve(limits):
 * Replace every zero field of ${limits} by its default, computed from
 * ${limits}->max_message_bytes (itself defaulted first).
 */
void pvm_limits_resolve(struct pvm_limits *limits);

/*
 * How the server reads a stream.  PER_MESSAGE: a fresh unpickler per
 * message (pickle.loads).  PERSISTENT: one Unpickler reads the stream in a
 * loop, so the memo survives from one pickle to the next.
 */
enum pvm_memo_model {
	PVM_MEMO_PER_MESSAGE,
	PVM_MEMO_PERSISTENT,
};

/* A byte string owned by the pvm: UTF-8 (surrogates as 3-byte WTF-8). */
struct pvm_str {
	const char *ptr;
	size_t len;
};

/* Strings that stand for values only known at run time. */
#define PVM_UNKNOWN_NAME "*"

struct pvm_import {
	uint8_t op;		/* opcode byte: GLOBAL, STACK_GLOBAL, INST, EXTn */
	uint8_t protocol;	/* protocol in force at the import */
	uint64_t pos;		/* offset of the opcode in the message */
	struct pvm_str module;	/* after _compat_pickle mapping; "*" unknown */
	struct pvm_str name;	/* qualname after mapping; "*" unknown */
	bool module_known;	/* false: module is "*" because it is only */
	bool name_known;	/* known at run time (not a literal "*") */
	bool remapped;		/* raw_* differ from module/name */
	struct pvm_str raw_module; /* as find_class receives them */
	struct pvm_str raw_name;
	bool dotted;		/* protocol >= 4: name is an attribute walk */
	int64_t ext_code;	/* EXT1/2/4 code, 0 for other opcodes */
};

struct pvm_call {
	uint8_t op;		/* REDUCE, NEWOBJ, BUILD, APPENDS, PERSID, ... */
	uint64_t pos;
	struct pvm_str callable; /* "module.qualname[.method]"; ptr NULL: unknown */
	size_t module_len;	/* callable.ptr[0, module_len) is the module; 0
				 * for persistent_load, which has none */
	const char *why;	/* static text saying why callable is unknown */
	struct pvm_str args;	/* shape of the arguments (rules/REFERENCE.md
				 * notation) for REDUCE, NEWOBJ, NEWOBJ_EX,
				 * OBJ, INST, BUILD (the state), PERSID and
				 * BINPERSID (the id); ptr NULL otherwise */
	struct pvm_str pid;	/* PERSID/BINPERSID: the persistent id when it
				 * is a str known exactly; ptr NULL otherwise */
};

/* Shapes longer than this, or nested deeper, are written "?". */
#define PVM_SHAPE_MAX_BYTES	1024
#define PVM_SHAPE_MAX_DEPTH	4
/* str values up to this long (printable ASCII) are written out. */
#define PVM_SHAPE_MAX_STR	64

struct pvm_reason {
	enum pw_code code;
	uint64_t pos;
	const char *detail;	/* owned by the pvm */
};

struct pvm_report {
	uint64_t length;	/* bytes of this message consumed so far */
	uint64_t opcodes;
	int protocol;		/* last PROTO argument, 0 if none */
	bool complete;		/* STOP was executed */
	bool failed;		/* a fatal reason ended the analysis */
	bool may_fail;		/* pvm_set_resume: an import or call the
				 * server may raise on, the first at: */
	uint64_t may_fail_pos;
	bool resume_lost;	/* pvm_set_resume: after one, an opcode a
				 * resumed server reads differently (INST,
				 * which needs a MARK before its lines): */
	uint64_t resume_lost_pos;
	size_t n_imports, n_calls, n_reasons;
	const struct pvm_import *imports;
	const struct pvm_call *calls;
	const struct pvm_reason *reasons;
};

enum pvm_status {
	PVM_NEED_MORE,		/* all input consumed; the pickle continues */
	PVM_DONE,		/* STOP executed */
	PVM_FAILED,		/* analysis ended on a fatal reason */
};

struct pvm;

/**
 * pvm_new(limits, model):
 * Create an analyzer with ${limits} (NULL: all defaults) and memo ${model}.
 * Returns NULL on allocation failure.  The caller frees it with pvm_free().
 */
struct pvm *pvm_new(const struct pvm_limits *limits, enum pvm_memo_model model);

/**
 * pvm_free(vm):
 * Release ${vm} and everything it owns, including any report.  NULL is a
 * no-op.
 */
void pvm_free(struct pvm *vm);

/**
 * pvm_begin(vm):
 * Start a new pickle: reset the stack, marks, protocol and report, as
 * CPython's load() does.  The memo is cleared too unless ${vm} was created
 * with PVM_MEMO_PERSISTENT.  After PVM_FAILED a persistent memo is kept as
 * CPython keeps it (the server may carry on).
 */
void pvm_begin(struct pvm *vm);

/**
 * pvm_feed(vm, buf, len, consumed):
 * Analyze the next ${len} bytes of the current pickle.  Sets *${consumed}
 * to the bytes used: all of them for PVM_NEED_MORE, up to and including
 * STOP for PVM_DONE, up to the failing opcode for PVM_FAILED.  After DONE or
 * FAILED, further calls return the same status and consume nothing until
 * pvm_begin().
 */
enum pvm_status pvm_feed(struct pvm *vm, const uint8_t *buf, size_t len,
    size_t *consumed);

/**
 * pvm_finish(vm):
 * Tell ${vm} that the current pickle's input has ended.  Returns PVM_DONE
 * if STOP was executed, otherwise records a "truncated" reason (unless one
 * is there already) and returns PVM_FAILED.
 */
enum pvm_status pvm_finish(struct pvm *vm);

/**
 * pvm_report(vm):
 * The findings for the current pickle so far; owned by ${vm} and valid until
 * the next pvm_feed(), pvm_begin() or pvm_free().
 */
const struct pvm_report *pvm_report(const struct pvm *vm);

/*
 * Resolves an extension code as the server's copyreg registry would
 * (copyreg.add_extension): returns 1 and sets *${module} and *${name}
 * (which must stay valid as long as the pvm), or 0 if ${code} is not
 * registered.
 */
typedef int pvm_ext_lookup_fn(void *cookie, int64_t code,
    struct pvm_str *module, struct pvm_str *name);

/**
 * pvm_set_extensions(vm, lookup, cookie):
 * Resolve EXT1/EXT2/EXT4 codes with ${lookup}(${cookie}, ...) from the next
 * opcode on; NULL ${lookup}: every code is unknown (the default).
 */
void pvm_set_extensions(struct pvm *vm, pvm_ext_lookup_fn *lookup,
    void *cookie);

/**
 * pvm_set_resume(vm, resume):
 * With ${resume} true, model a server that calls load() again on the same
 * stream after an unpickling error (raw framing).  One Unpickler resumes
 * right after the failing opcode, with an empty stack, no marks and
 * protocol 0, and with its memo as it stood; a fresh one per pickle (over
 * a file without peek) does too, with an empty memo.  Every import and
 * call may fail, so after the first one in a pickle: imports are also
 * resolved as at protocol 0, memo entries a skipped PUT or MEMOIZE may
 * have left different read back as values known only at run time, and an
 * INST, whose MARK the resumed server lacks, sets report.resume_lost.
 * The report's may_fail says where the first such import or call is (see
 * proxy/ANALYZER.md).  Off by default; set it before the first pvm_feed().
 */
void pvm_set_resume(struct pvm *vm, bool resume);

/* ---- the opcode table, shared by decoding, disassembly and tests ---- */

enum pvm_arg {
	PVM_ARG_NONE,
	PVM_ARG_U1, PVM_ARG_U2, PVM_ARG_I4, PVM_ARG_U4, PVM_ARG_U8,
	PVM_ARG_F8,
	PVM_ARG_LINE,		/* one '\n'-terminated line */
	PVM_ARG_LINE2,		/* two lines: module, name */
	PVM_ARG_DATA1,		/* u1 length + data */
	PVM_ARG_DATA4,		/* u4 length + data */
	PVM_ARG_DATA8,		/* u8 length + data */
	PVM_ARG_LONG1,		/* u1 length + little-endian int */
	PVM_ARG_LONG4,		/* i4 length + little-endian int */
};

struct pvm_opinfo {
	uint8_t code;
	const char *name;	/* as in pickletools */
	enum pvm_arg arg;
	uint8_t protocol;	/* protocol that introduced it */
};

/**
 * pvm_opinfo(code):
 * The table row for opcode byte ${code}, or NULL if CPython rejects it.
 */
const struct pvm_opinfo *pvm_opinfo(uint8_t code);

/**
 * pvm_opinfo_at(i):
 * Row ${i} of the table in code order, for i in [0, count); NULL past the end.
 */
const struct pvm_opinfo *pvm_opinfo_at(size_t i);

/**
 * pvm_op_length(buf, len, oplen):
 * Decode the extent of the opcode at the start of ${buf}: on success set
 * *${oplen} to its total length (opcode, argument and data) and return 0;
 * return -1 if the opcode is unknown or ${len} bytes do not hold all of it.
 * For disassembly of bytes already analyzed; it checks no semantics.
 */
int pvm_op_length(const uint8_t *buf, size_t len, size_t *oplen);

#endif /* !PVM_H */
