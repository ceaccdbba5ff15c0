#ifndef SHAPE_H
#define SHAPE_H

/*
 * shape: the argument-shape notation of rules/REFERENCE.md.
 *
 * The pvm writes what a call receives as text ("(numpy:ndarray, (int,),
 * bytes)"); a rule's `args` is the same notation plus `any` and `|`.  Both
 * parse into the same tree, and a rule's tree matches a call's tree.  One
 * parser serves both so that what the audit log shows is exactly what a
 * rule can say.
 */

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"

struct shape;

/**
 * shape_parse(text, len, pos, for_rule, arena, room, out, err_pos, err):
 * Parse one shape from ${text}[*${pos}, ${len}) and advance *${pos} past it
 * (and past the blanks after it).  ${for_rule} admits `any`, `|` and, in
 * blanks, newlines and `#` comments; without it the text is a call's shape
 * and may hold `?`.  Nodes come from ${arena}, within ${room} bytes.  On
 * success sets *${out} and returns 0.  On a syntax error returns -1 with
 * *${err_pos} at the offending byte and ${err} (256 bytes) saying what was
 * expected; returns -2 when memory ran out.
 */
int shape_parse(const char *text, size_t len, size_t *pos, bool for_rule,
    struct arena *arena, uint64_t room, const struct shape **out,
    size_t *err_pos, char err[256]);

/**
 * shape_match(rule, value):
 * Whether the call shape ${value} is one the rule shape ${rule} admits.
 * "?" in ${value} is admitted only by `any`.
 */
bool shape_match(const struct shape *rule, const struct shape *value);

/**
 * shape_is_any(s):
 * Whether the rule shape ${s} is `any`.
 */
bool shape_is_any(const struct shape *s);

/**
 * shape_covers(a, b):
 * Whether the rule shape ${a} admits everything the rule shape ${b} admits,
 * as far as can be told without enumerating (used to warn about rules that
 * can never match; false when unsure).
 */
bool shape_covers(const struct shape *a, const struct shape *b);

#endif /* !SHAPE_H */
