#ifndef UNIT_H
#define UNIT_H

/*
 * Each tests/unit/test_*.c registers its Check suite with UNIT_SUITE(name),
 * so adding a test file needs no edit anywhere else: the runner (runner.c)
 * collects every registered suite at start-up.
 */

#include <check.h>
#include <string.h>

void unit_register(Suite *(*make)(void));

#define UNIT_SUITE(make)                                                    \
	static void unit_register_##make(void) __attribute__((constructor)); \
	static void unit_register_##make(void) { unit_register(make); }

/* ${s} begins with ${prefix}; says both when it does not. */
#define ck_assert_str_starts(s, prefix)                                     \
	ck_assert_msg(strncmp((s), (prefix), strlen(prefix)) == 0,          \
	    "\"%s\" does not start with \"%s\"", (s), (prefix))

#endif /* !UNIT_H */
