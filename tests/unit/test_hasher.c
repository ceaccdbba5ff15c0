/*
 * The hashing worker: hashes are those of the bytes given, in the order
 * given, the bound on held bytes holds, and nothing is lost at the end.
 */

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hasher.h"
#include "unit.h"

/* SHA-256 of "" and of "abc" (FIPS 180-2, appendix B.1). */
#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA256 \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

START_TEST(sha256_of_known_strings)
{
	char hex[SHA256_HEX_SIZE];

	ck_assert_int_eq(sha256_hex((const uint8_t *)"", 0, hex), 0);
	ck_assert_str_eq(hex, EMPTY_SHA256);
	ck_assert_int_eq(sha256_hex((const uint8_t *)"abc", 3, hex), 0);
	ck_assert_str_eq(hex, ABC_SHA256);
}
END_TEST

/* Every length around the block boundaries and every digit value: the
 * digest and its hex are those of OpenSSL's EVP interface and printf. */
START_TEST(sha256_agrees_with_evp_at_every_length)
{
	uint8_t bytes[300], md[EVP_MAX_MD_SIZE];
	char hex[SHA256_HEX_SIZE], want[SHA256_HEX_SIZE];
	unsigned int md_len, i;
	size_t len;

	for (len = 0; len < sizeof(bytes); len++)
		bytes[len] = (uint8_t)(len * 131 + 7);
	for (len = 0; len <= sizeof(bytes); len++) {
		ck_assert_int_eq(EVP_Digest(bytes, len, md, &md_len,
		    EVP_sha256(), NULL), 1);
		ck_assert_uint_eq(md_len, 32);
		for (i = 0; i < md_len; i++)
			snprintf(want + 2 * i, 3, "%02x", md[i]);
		ck_assert_int_eq(sha256_hex(bytes, len, hex), 0);
		ck_assert_str_eq(hex, want);
	}
}
END_TEST

START_TEST(jobs_come_back_in_order_with_their_hashes)
{
	struct pw_error err;
	struct hasher *h = hasher_new(1 << 20, &err);
	char hex[SHA256_HEX_SIZE], want[SHA256_HEX_SIZE];
	uint8_t big[100000];
	uint64_t id;
	size_t i;

	ck_assert_ptr_nonnull(h);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	/* The copy is hashed: the caller's buffer may change at once. */
	ck_assert_int_eq(hasher_submit(h, big, sizeof(big), &id), 0);
	ck_assert_uint_eq(id, 1);
	ck_assert_int_eq(sha256_hex(big, sizeof(big), want), 0);
	memset(big, 0, sizeof(big));
	ck_assert_int_eq(hasher_submit(h, (const uint8_t *)"abc", 3, &id), 0);
	ck_assert_uint_eq(id, 2);
	ck_assert_int_eq(hasher_submit(h, (const uint8_t *)"", 0, &id), 0);
	ck_assert_uint_eq(id, 3);
	ck_assert_uint_eq(hasher_pending(h), 3);

	ck_assert_int_eq(hasher_take(h, true, &id, hex), 1);
	ck_assert_uint_eq(id, 1);
	ck_assert_str_eq(hex, want);
	ck_assert_int_eq(hasher_take(h, true, &id, hex), 1);
	ck_assert_uint_eq(id, 2);
	ck_assert_str_eq(hex, ABC_SHA256);
	ck_assert_int_eq(hasher_take(h, true, &id, hex), 1);
	ck_assert_uint_eq(id, 3);
	ck_assert_str_eq(hex, EMPTY_SHA256);
	ck_assert_int_eq(hasher_take(h, true, &id, hex), 0);
	ck_assert_uint_eq(hasher_pending(h), 0);
	hasher_free(h);
}
END_TEST

START_TEST(descriptor_polls_readable_when_a_job_is_done)
{
	struct pw_error err;
	struct hasher *h = hasher_new(1024, &err);
	struct pollfd pfd;
	char hex[SHA256_HEX_SIZE];
	uint64_t id;

	ck_assert_ptr_nonnull(h);
	pfd.fd = hasher_fd(h);
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_int_eq(hasher_submit(h, (const uint8_t *)"abc", 3, &id), 0);
	ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
	ck_assert_int_eq(hasher_take(h, false, &id, hex), 1);
	ck_assert_str_eq(hex, ABC_SHA256);
	/* Taken: nothing left to report. */
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_int_eq(hasher_take(h, false, &id, hex), 0);
	hasher_free(h);
}
END_TEST

START_TEST(a_job_past_the_bound_is_refused_until_bytes_are_taken_back)
{
	struct pw_error err;
	struct hasher *h = hasher_new(10, &err);
	char hex[SHA256_HEX_SIZE];
	uint64_t id = 0;

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(hasher_submit(h, (const uint8_t *)"0123456789a", 11,
	    &id), -1);
	ck_assert_int_eq(hasher_submit(h, (const uint8_t *)"0123456", 7, &id),
	    0);
	ck_assert_uint_eq(id, 1);
	/* Done or not, a job holds its bytes until it is taken back. */
	ck_assert_int_eq(hasher_submit(h, (const uint8_t *)"0123", 4, &id),
	    -1);
	ck_assert_int_eq(hasher_submit(h, (const uint8_t *)"012", 3, &id), 0);
	ck_assert_uint_eq(id, 2);
	ck_assert_int_eq(hasher_take(h, true, &id, hex), 1);
	ck_assert_int_eq(hasher_submit(h, (const uint8_t *)"0123456", 7, &id),
	    0);
	ck_assert_uint_eq(id, 3);
	hasher_free(h);
}
END_TEST

/* Freed with jobs queued, done or not: no leak, no hang (LSan and the
 * test's own timeout watch). */
START_TEST(free_with_jobs_outstanding)
{
	struct pw_error err;
	struct hasher *h = hasher_new(64 << 20, &err);
	uint8_t *big = calloc(1, 4 << 20);
	uint64_t id;
	int i;

	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(hasher_submit(h, big, 4 << 20, &id), 0);
	free(big);
	hasher_free(h);
}
END_TEST

/* The proxy reads its signals from a signalfd, which works only if every
 * thread blocks them: a signal sent to the process while a worker runs
 * stays pending for the thread that waits for it, instead of killing the
 * process through a worker that left it unblocked. */
START_TEST(worker_takes_no_signal)
{
	struct pw_error err;
	struct hasher *h;
	struct timespec wait = { 10, 0 }, settle = { 0, 200000000 };
	sigset_t usr1, old;
	uint64_t id;
	char hex[SHA256_HEX_SIZE];

	/* Made before the caller blocks the signal, as the proxy makes it
	 * before its loop blocks them. */
	ck_assert_ptr_nonnull(h = hasher_new(1024, &err));
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0);
	ck_assert_int_eq(hasher_submit(h, (const uint8_t *)"abc", 3, &id), 0);
	ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
	/* Time for a worker that would take it to do so (and die of it):
	 * taken at once here, it would never have the chance. */
	ck_assert_int_eq(nanosleep(&settle, NULL), 0);
	ck_assert_int_eq(sigtimedwait(&usr1, NULL, &wait), SIGUSR1);
	ck_assert_int_eq(hasher_take(h, true, &id, hex), 1);
	hasher_free(h);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}
END_TEST

static Suite *
hasher_suite(void)
{
	Suite *s = suite_create("hasher");
	TCase *tc = tcase_create("hasher");

	tcase_add_test(tc, sha256_of_known_strings);
	tcase_add_test(tc, sha256_agrees_with_evp_at_every_length);
	tcase_add_test(tc, jobs_come_back_in_order_with_their_hashes);
	tcase_add_test(tc, descriptor_polls_readable_when_a_job_is_done);
	tcase_add_test(tc,
	    a_job_past_the_bound_is_refused_until_bytes_are_taken_back);
	tcase_add_test(tc, free_with_jobs_outstanding);
	tcase_add_test(tc, worker_takes_no_signal);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_SUITE(hasher_suite)
