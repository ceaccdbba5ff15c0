/*
 * UTF-8 validation of str payloads: every implementation of long runs
 * (pvm_text_utf8_impl) against a reference written from Unicode table 3-7,
 * at every length and offset around the block sizes (16, 32, 64), whole
 * and streamed, and through the analyzer.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvm.h"
#include "pvm_text.h"
#include "unit.h"

/* Well-formed UTF-8 per Unicode table 3-7; with ${surrogates}, encoded
 * surrogates (ED A0-BF xx) too, as the surrogatepass handler takes them. */
static bool
reference_utf8(const uint8_t *s, size_t n, bool surrogates)
{
	size_t i = 0, need, k;
	uint8_t c, lo, hi;

	while (i < n) {
		c = s[i];
		lo = 0x80;
		hi = 0xBF;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c == 0xE0) {
			need = 2;
			lo = 0xA0;
		} else if (c >= 0xE1 && c <= 0xEF) {
			need = 2;
			if (c == 0xED && !surrogates)
				hi = 0x9F;
		} else if (c == 0xF0) {
			need = 3;
			lo = 0x90;
		} else if (c >= 0xF1 && c <= 0xF3) {
			need = 3;
		} else if (c == 0xF4) {
			need = 3;
			hi = 0x8F;
		} else {
			return false;
		}
		if (n - i - 1 < need || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (k = 2; k <= need; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		i += need + 1;
	}
	return true;
}

/* ${s} checked whole, and streamed in pieces of ${step} bytes. */
static void
check_one(const uint8_t *s, size_t n, size_t step)
{
	struct pvm_text_utf8 st;
	uint8_t *copy;
	bool surrogates, ok, expect;
	size_t i, k;

	/* An exact-size heap copy: ASan sees any read past either end. */
	copy = malloc(n > 0 ? n : 1);
	ck_assert_ptr_nonnull(copy);
	if (n > 0)
		memcpy(copy, s, n);
	for (k = 0; k < 2; k++) {
		surrogates = k == 1;
		expect = reference_utf8(copy, n, surrogates);
		ck_assert_msg(pvm_text_is_utf8((const char *)copy, n,
		    surrogates) == expect, "length %zu, surrogates %d: "
		    "expected %d", n, (int)surrogates, (int)expect);
	}
	expect = reference_utf8(copy, n, true);
	pvm_text_utf8_init(&st);
	ok = true;
	for (i = 0; i < n && ok; i += step)
		ok = pvm_text_utf8_feed(&st, copy + i,
		    n - i < step ? n - i : step);
	ok = ok && pvm_text_utf8_end(&st);
	ck_assert_msg(ok == expect, "length %zu streamed by %zu: expected %d",
	    n, step, (int)expect);
	free(copy);
}

/* Runs ${body} once for every implementation the CPU can run, then puts
 * the default back. */
#define FOR_EACH_IMPL(k, r)						\
	for ((k) = 0; ((r) = pvm_text_utf8_impl(k)) >= 0; (k)++)	\
		if ((r) == 1)

static const char *const bad_pieces[] = {
	"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc3", "\xe2\x82",
	"\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x8f\xbf\xbf",
	"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8", "\xff", "\xc3\x41",
	"\xe2\x41\x82", "\xf0\x9f\x41\x80",
};

START_TEST(utf8_implementations_agree_with_reference_at_every_offset)
{
	uint8_t buf[256];
	size_t k, len, at, b;
	int r;

	FOR_EACH_IMPL(k, r) {
		/* Plain ASCII and one bad piece at every offset, lengths
		 * 0..200: every position modulo 8, 16, 32 and 64. */
		for (len = 0; len <= 200; len++) {
			memset(buf, 'a', len);
			check_one(buf, len, 7);
			for (b = 0; b < sizeof(bad_pieces) /
			    sizeof(bad_pieces[0]); b++) {
				size_t plen = strlen(bad_pieces[b]);

				for (at = 0; at + plen <= len; at++) {
					memset(buf, 'a', len);
					memcpy(buf + at, bad_pieces[b], plen);
					check_one(buf, len, 64);
				}
			}
		}
	}
}
END_TEST

START_TEST(utf8_implementations_agree_with_reference_on_mixed_text)
{
	/* Valid characters of every length, and broken ones, in runs long
	 * enough for every block size. */
	static const char *const pieces[] = { "a", "abcdefg ", "\xc3\xa9",
	    "\xe2\x86\x92", "\xf0\x9f\x98\x80", "\xed\xa0\x80", "\xef\xbf\xbf",
	    "\xf4\x8f\xbf\xbf", "\xe0\xa0\x80", "\xf0\x90\x80\x80",
	    "\xc2\x80", "\x80", "\xc3", "\xe0\x80\x80", "\xf4\x90\x80\x80",
	    "\xed\xa0", "\xff" };
	const size_t n_pieces = sizeof(pieces) / sizeof(pieces[0]);
	uint32_t seed = 20240611;
	uint8_t buf[600];
	size_t k, round, len, target, plen;
	int r;

	FOR_EACH_IMPL(k, r) {
		for (round = 0; round < 6000; round++) {
			seed = seed * 1103515245 + 12345;
			target = (seed >> 8) % 500;
			for (len = 0; len < target;) {
				const char *piece;

				seed = seed * 1103515245 + 12345;
				/* Mostly valid; now and then broken. */
				piece = pieces[(seed >> 16) %
				    (round % 5 ? 11 : n_pieces)];
				plen = strlen(piece);
				memcpy(buf + len, piece, plen);
				len += plen;
			}
			check_one(buf, len, 1 + round % 67);
		}
	}
}
END_TEST

START_TEST(utf8_character_cut_by_the_end_is_invalid_at_every_length)
{
	static const char *const chars[] = { "\xc3\xa9", "\xe2\x86\x92",
	    "\xf0\x9f\x98\x80" };
	uint8_t buf[160];
	size_t k, c, len, cut;
	int r;

	FOR_EACH_IMPL(k, r) {
		for (c = 0; c < 3; c++) {
			size_t clen = strlen(chars[c]);

			for (len = clen; len <= 150; len++) {
				memset(buf, 'x', len);
				memcpy(buf + len - clen, chars[c], clen);
				check_one(buf, len, 13);
				for (cut = 1; cut < clen; cut++)
					check_one(buf, len - cut, 13);
			}
		}
	}
}
END_TEST

/* "X" + u32 length + text + "." through one pvm: fed whole, or one byte
 * per call. */
static enum pvm_status
analyze_binunicode(const uint8_t *text, size_t n, bool bytewise,
    enum pw_code *code)
{
	struct pvm *vm = pvm_new(NULL, PVM_MEMO_PER_MESSAGE);
	uint8_t *msg = malloc(n + 6);
	enum pvm_status st = PVM_NEED_MORE;
	size_t used, i;

	ck_assert_ptr_nonnull(vm);
	ck_assert_ptr_nonnull(msg);
	msg[0] = 'X';
	msg[1] = (uint8_t)n;
	msg[2] = (uint8_t)(n >> 8);
	msg[3] = (uint8_t)(n >> 16);
	msg[4] = (uint8_t)(n >> 24);
	memcpy(msg + 5, text, n);
	msg[n + 5] = '.';
	pvm_begin(vm);
	if (!bytewise)
		st = pvm_feed(vm, msg, n + 6, &used);
	for (i = 0; bytewise && i < n + 6 && st == PVM_NEED_MORE; i++)
		st = pvm_feed(vm, msg + i, 1, &used);
	*code = pvm_report(vm)->n_reasons > 0 ?
	    pvm_report(vm)->reasons[0].code : PW_OK;
	pvm_free(vm);
	free(msg);
	return st;
}

START_TEST(binunicode_is_checked_the_same_whole_and_streamed)
{
	uint8_t text[5000];
	size_t lens[] = { 0, 5, 31, 32, 33, 64, 100, 4095, 4096, 4097, 4999 };
	size_t k, l, at;
	enum pw_code code;
	int r;

	FOR_EACH_IMPL(k, r) {
		for (l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			size_t n = lens[l];

			memset(text, 'q', n);
			ck_assert_int_eq(analyze_binunicode(text, n, false,
			    &code), PVM_DONE);
			for (at = 0; n >= 3 && at < n; at += n / 7 + 1) {
				/* A lone surrogate passes (surrogatepass), an
				 * overlong form does not. */
				memset(text, 'q', n);
				memcpy(text + (at < n - 3 ? at : n - 3),
				    "\xed\xa0\x80", 3);
				ck_assert_int_eq(analyze_binunicode(text, n,
				    false, &code), PVM_DONE);
				ck_assert_int_eq(analyze_binunicode(text, n,
				    true, &code), PVM_DONE);
				memcpy(text + (at < n - 3 ? at : n - 3),
				    "\xe0\x80\x80", 3);
				ck_assert_int_eq(analyze_binunicode(text, n,
				    false, &code), PVM_FAILED);
				ck_assert_int_eq(code, PW_BAD_ENCODING);
				ck_assert_int_eq(analyze_binunicode(text, n,
				    true, &code), PVM_FAILED);
				ck_assert_int_eq(code, PW_BAD_ENCODING);
			}
		}
	}
}
END_TEST

static Suite *
pvm_text_suite(void)
{
	Suite *s = suite_create("pvm_text");
	TCase *tc = tcase_create("utf8");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    utf8_implementations_agree_with_reference_at_every_offset);
	tcase_add_test(tc,
	    utf8_implementations_agree_with_reference_on_mixed_text);
	tcase_add_test(tc,
	    utf8_character_cut_by_the_end_is_invalid_at_every_length);
	tcase_add_test(tc, binunicode_is_checked_the_same_whole_and_streamed);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_SUITE(pvm_text_suite)
