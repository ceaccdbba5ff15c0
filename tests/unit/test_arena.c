/* The bounded arena and arrays shared by the analyzer and the analysis. */

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "unit.h"

START_TEST(allocations_are_aligned_and_distinct)
{
	struct arena *a = arena_new();
	void *p, *q;

	ck_assert_int_eq(arena_alloc(a, 1, UINT64_MAX, &p), 0);
	ck_assert_int_eq(arena_alloc(a, 3, UINT64_MAX, &q), 0);
	ck_assert_ptr_ne(p, q);
	ck_assert_uint_eq((uintptr_t)q % _Alignof(max_align_t), 0);
	arena_free(a);
}
END_TEST

START_TEST(alloc_past_the_bound_fails_and_changes_nothing)
{
	struct arena *a = arena_new();
	void *p;

	ck_assert_int_eq(arena_alloc(a, 1000, 100, &p), -2);
	ck_assert_uint_eq(arena_bytes(a), 0);
	ck_assert_int_eq(arena_alloc(a, 100, UINT64_MAX, &p), 0);
	ck_assert_int_eq(arena_alloc(a, 1 << 20, arena_bytes(a) + 1000, &p), -2);
	arena_free(a);
}
END_TEST

START_TEST(huge_sizes_fail_without_overflow)
{
	struct arena *a = arena_new();
	void *p;
	char *s;

	ck_assert_int_eq(arena_alloc(a, SIZE_MAX, UINT64_MAX, &p), -1);
	ck_assert_int_eq(arena_strdup(a, "x", SIZE_MAX, UINT64_MAX, &s), -1);
	arena_free(a);
}
END_TEST

START_TEST(strdup_keeps_embedded_nul_and_terminates)
{
	struct arena *a = arena_new();
	char *s;

	ck_assert_int_eq(arena_strdup(a, "a\0b", 3, UINT64_MAX, &s), 0);
	ck_assert_int_eq(memcmp(s, "a\0b\0", 4), 0);
	arena_free(a);
}
END_TEST

START_TEST(reset_releases_big_chunks_and_keeps_one)
{
	struct arena *a = arena_new();
	uint64_t one_chunk;
	void *p;

	ck_assert_int_eq(arena_alloc(a, 16, UINT64_MAX, &p), 0);
	one_chunk = arena_bytes(a);
	ck_assert_int_eq(arena_alloc(a, 1 << 20, UINT64_MAX, &p), 0);
	ck_assert_uint_gt(arena_bytes(a), one_chunk);
	arena_reset(a);
	ck_assert_uint_eq(arena_bytes(a), one_chunk);
	arena_free(a);
}
END_TEST

START_TEST(arrays_grow_by_doubling_within_the_bound)
{
	uint64_t charged = 0;
	size_t cap = 0;
	int *v = NULL;

	ck_assert_int_eq(arena_grow_array((void **)&v, &cap, 20, sizeof(*v),
	    &charged, UINT64_MAX), 0);
	ck_assert_uint_eq(cap, 32);
	ck_assert_uint_eq(charged, 32 * sizeof(*v));
	ck_assert_int_eq(arena_grow_array((void **)&v, &cap, 33, sizeof(*v),
	    &charged, charged + 8), -2);
	ck_assert_uint_eq(cap, 32);
	ck_assert_int_eq(arena_grow_array((void **)&v, &cap, SIZE_MAX, sizeof(*v),
	    &charged, UINT64_MAX), -1);
	free(v);
}
END_TEST

static Suite *
arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc = tcase_create("arena");

	tcase_add_test(tc, allocations_are_aligned_and_distinct);
	tcase_add_test(tc, alloc_past_the_bound_fails_and_changes_nothing);
	tcase_add_test(tc, huge_sizes_fail_without_overflow);
	tcase_add_test(tc, strdup_keeps_embedded_nul_and_terminates);
	tcase_add_test(tc, reset_releases_big_chunks_and_keeps_one);
	tcase_add_test(tc, arrays_grow_by_doubling_within_the_bound);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_SUITE(arena_suite)
