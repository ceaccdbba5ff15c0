#ifndef UNIT_H
#define UNIT_H

/*
 * Each tests/unit/test_*.c registers its Check suite with UNIT_SUITE(name),
 * so adding a test file needs no edit anywhere else: the runner (runner.c)
 * collects every registered suite at start-up.
 */

#include <check.h>

void unit_register(Suite *(*make)(void));

#define UNIT_SUITE(make)                                                    \
	static void unit_register_##make(void) __attribute__((constructor)); \
	static void unit_register_##make(void) { unit_register(make); }

#endif /* !UNIT_H */
