#ifndef PW_ERROR_H
#define PW_ERROR_H

/*
 * The one error convention of picklewall.  Functions return 0 / -1 (or a
 * pointer / NULL) and, where the caller needs detail, fill a caller-owned
 * struct pw_error.  The code is the stable machine-readable reason used in
 * verdicts, audit events and exit codes; its name (pw_code_name) is part of
 * the JSON interface and must never change once shipped.
 */

#include <stdint.h>

#define PW_CODES(X)                                                         \
	X(PW_OK,                "ok")                                       \
	/* The message is not a well-formed pickle as CPython reads it. */  \
	X(PW_TRUNCATED,         "truncated")                                \
	X(PW_UNKNOWN_OPCODE,    "unknown_opcode")                           \
	X(PW_STACK_UNDERFLOW,   "stack_underflow")                          \
	X(PW_MARK_MISSING,      "mark_missing")                             \
	X(PW_MEMO_MISSING,      "memo_missing")                             \
	X(PW_BAD_ARGUMENT,      "bad_argument")                             \
	X(PW_BAD_ENCODING,      "bad_encoding")                             \
	X(PW_BAD_PROTOCOL,      "bad_protocol")                             \
	X(PW_TYPE_ERROR,        "type_error")                               \
	X(PW_LYING_FRAME,       "lying_frame")                              \
	X(PW_TRAILING_BYTES,    "trailing_bytes")                           \
	X(PW_BAD_FRAMING,       "bad_framing")                              \
	X(PW_RESUME_UNKNOWN,    "resume_unknown")                           \
	/* A configured bound was exceeded. */                              \
	X(PW_LIMIT_MESSAGE_BYTES, "limit_message_bytes")                    \
	X(PW_LIMIT_OPCODES,     "limit_opcodes")                            \
	X(PW_LIMIT_STACK_DEPTH, "limit_stack_depth")                        \
	X(PW_LIMIT_MEMO,        "limit_memo")                               \
	X(PW_LIMIT_NESTING,     "limit_nesting")                            \
	X(PW_LIMIT_CONTAINER_ITEMS, "limit_container_items")                \
	X(PW_LIMIT_STRING_BYTES, "limit_string_bytes")                      \
	X(PW_LIMIT_ANALYSIS_MEMORY, "limit_analysis_memory")                \
	/* Policy: the message is well formed but not allowed. */           \
	X(PW_IMPORT,            "import")                                   \
	X(PW_CALL,              "call")                                     \
	X(PW_MESSAGE,           "message")                                  \
	/* A rule file or configuration is wrong. */                        \
	X(PW_CONFIG,            "config_error")                             \
	/* Environment. */                                                  \
	X(PW_IO,                "io_error")                                 \
	X(PW_USAGE,             "usage")                                    \
	X(PW_INTERNAL,          "internal_error")

enum pw_code {
#define PW_CODE_ENUM(sym, name) sym,
	PW_CODES(PW_CODE_ENUM)
#undef PW_CODE_ENUM
	PW_CODE_COUNT
};

#define PW_ERROR_MESSAGE_MAX 192

struct pw_error {
	enum pw_code code;
	uint64_t position;	/* byte offset in the message or file */
	char message[PW_ERROR_MESSAGE_MAX];
};

/**
 * pw_code_name(code):
 * Return the stable snake_case name of ${code} ("truncated", ...); never NULL.
 */
const char *pw_code_name(enum pw_code code);

/**
 * pw_error_set(err, code, position, fmt, ...):
 * Fill ${err} (which may be NULL, then nothing happens) with ${code},
 * ${position} and a printf-formatted message, truncated to fit.  Returns -1
 * so that callers can write "return pw_error_set(...)".
 */
int pw_error_set(struct pw_error *err, enum pw_code code, uint64_t position,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif /* !PW_ERROR_H */
