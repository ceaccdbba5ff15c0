/*
 * The JSON writer, one behaviour per test.  Expected texts are written out
 * byte for byte; where a Python reader is the consumer, the comment says
 * what json.loads makes of it.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "unit.h"

/* The text of a writer holding the single string ${s} of ${len} bytes. */
static const char *
string_text(struct json *j, const char *s, size_t len)
{
	size_t out_len;

	json_reset(j);
	ck_assert_int_eq(json_string(j, s, len), 0);
	return json_data(j, &out_len);
}

#define S(lit) (lit), sizeof(lit) - 1

START_TEST(plain_ascii_is_copied)
{
	struct json *j = json_new(0);

	ck_assert_str_eq(string_text(j, S("os.system")), "\"os.system\"");
	json_free(j);
}
END_TEST

START_TEST(quote_and_backslash_are_escaped)
{
	struct json *j = json_new(0);

	ck_assert_str_eq(string_text(j, S("a\"b\\c")), "\"a\\\"b\\\\c\"");
	json_free(j);
}
END_TEST

/* Strings are scanned a word at a time: every ASCII byte at every
 * position of a 19-byte string (two words and a tail) comes out as the
 * byte-at-a-time rules say. */
START_TEST(every_ascii_byte_at_every_position)
{
	struct json *j = json_new(0);
	char in[19], want[64];
	unsigned b;
	size_t pos, at;

	for (b = 0; b < 0x80; b++) {
		for (pos = 0; pos < sizeof(in); pos++) {
			memset(in, 'a', sizeof(in));
			in[pos] = (char)b;
			at = 0;
			want[at++] = '"';
			memset(want + at, 'a', pos);
			at += pos;
			if (b == '"' || b == '\\')
				at += (size_t)snprintf(want + at, 8, "\\%c", b);
			else if (b < 0x20 || b == 0x7f)
				at += (size_t)snprintf(want + at, 8, "\\u%04x", b);
			else
				want[at++] = (char)b;
			memset(want + at, 'a', sizeof(in) - pos - 1);
			at += sizeof(in) - pos - 1;
			want[at++] = '"';
			want[at] = '\0';
			ck_assert_str_eq(string_text(j, in, sizeof(in)), want);
		}
	}
	json_free(j);
}
END_TEST

START_TEST(members_are_spliced_with_commas)
{
	struct json *j = json_new(0);
	size_t len;

	ck_assert_int_eq(json_object_begin(j), 0);
	ck_assert_int_eq(json_raw_members(j, S("\"a\":1,\"b\":\"x\"")), 0);
	ck_assert_int_eq(json_raw_members(j, "", 0), 0);
	ck_assert_int_eq(json_key(j, "c"), 0);
	ck_assert_int_eq(json_null(j), 0);
	ck_assert_int_eq(json_raw_members(j, S("\"d\":[]")), 0);
	ck_assert_int_eq(json_object_end(j), 0);
	ck_assert_str_eq(json_data(j, &len),
	    "{\"a\":1,\"b\":\"x\",\"c\":null,\"d\":[]}");
	/* Only inside an object, and not between a key and its value. */
	json_reset(j);
	ck_assert_int_eq(json_array_begin(j), 0);
	ck_assert_int_eq(json_raw_members(j, S("\"a\":1")), -1);
	json_reset(j);
	ck_assert_int_eq(json_object_begin(j), 0);
	ck_assert_int_eq(json_key(j, "k"), 0);
	ck_assert_int_eq(json_raw_members(j, S("\"a\":1")), -1);
	json_free(j);
}
END_TEST

START_TEST(keys_long_or_needing_escapes)
{
	struct json *j = json_new(0);
	char key[80];
	size_t len;

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	ck_assert_int_eq(json_object_begin(j), 0);
	ck_assert_int_eq(json_key(j, key), 0);
	ck_assert_int_eq(json_uint(j, 1), 0);
	ck_assert_int_eq(json_key(j, "a\"b"), 0);
	ck_assert_int_eq(json_uint(j, 2), 0);
	ck_assert_int_eq(json_key(j, ""), 0);
	ck_assert_int_eq(json_uint(j, 3), 0);
	ck_assert_int_eq(json_object_end(j), 0);
	ck_assert_str_eq(json_data(j, &len), "{\""
	    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	    "\":1,\"a\\\"b\":2,\"\":3}");
	json_free(j);
}
END_TEST

START_TEST(control_characters_are_u00xx)
{
	struct json *j = json_new(0);

	ck_assert_str_eq(string_text(j, S("\n\t\x01\x1f\x7f")),
	    "\"\\u000a\\u0009\\u0001\\u001f\\u007f\"");
	json_free(j);
}
END_TEST

START_TEST(nul_byte_is_kept_as_u0000)
{
	struct json *j = json_new(0);

	ck_assert_str_eq(string_text(j, S("os\0x")), "\"os\\u0000x\"");
	json_free(j);
}
END_TEST

START_TEST(valid_utf8_passes_unchanged)
{
	struct json *j = json_new(0);

	/* é (2 bytes), € (3 bytes), U+1F600 (4 bytes). */
	ck_assert_str_eq(string_text(j, S("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")),
	    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	json_free(j);
}
END_TEST

START_TEST(lone_surrogate_is_escaped_as_its_code_point)
{
	struct json *j = json_new(0);

	/* WTF-8 of U+D800 and U+DFFF; json.loads gives '\ud800x\udfff'. */
	ck_assert_str_eq(string_text(j, S("\xed\xa0\x80x\xed\xbf\xbf")),
	    "\"\\ud800x\\udfff\"");
	json_free(j);
}
END_TEST

START_TEST(surrogate_pair_is_two_escapes)
{
	struct json *j = json_new(0);

	/* U+D83D U+DE00 as two WTF-8 sequences: a JSON reader joins them
	 * into U+1F600, as Python's json.dumps output would be read. */
	ck_assert_str_eq(string_text(j, S("\xed\xa0\xbd\xed\xb8\x80")),
	    "\"\\ud83d\\ude00\"");
	json_free(j);
}
END_TEST

START_TEST(invalid_bytes_are_u00xx_of_the_byte)
{
	struct json *j = json_new(0);

	/* A stray continuation byte, a lead byte never valid, a truncated
	 * sequence at the end. */
	ck_assert_str_eq(string_text(j, S("a\x80" "b\xff" "c\xe2\x82")),
	    "\"a\\u0080b\\u00ffc\\u00e2\\u0082\"");
	json_free(j);
}
END_TEST

START_TEST(overlong_encoding_is_invalid)
{
	struct json *j = json_new(0);

	/* C0 AF would be an overlong '/'; E0 80 AF too. */
	ck_assert_str_eq(string_text(j, S("\xc0\xaf\xe0\x80\xaf")),
	    "\"\\u00c0\\u00af\\u00e0\\u0080\\u00af\"");
	json_free(j);
}
END_TEST

START_TEST(code_point_above_u10ffff_is_invalid)
{
	struct json *j = json_new(0);

	ck_assert_str_eq(string_text(j, S("\xf4\x90\x80\x80")),
	    "\"\\u00f4\\u0090\\u0080\\u0080\"");
	json_free(j);
}
END_TEST

START_TEST(line_separators_are_escaped)
{
	struct json *j = json_new(0);

	ck_assert_str_eq(string_text(j, S("\xe2\x80\xa8\xe2\x80\xa9")),
	    "\"\\u2028\\u2029\"");
	json_free(j);
}
END_TEST

START_TEST(object_with_members_gets_commas_and_colons)
{
	struct json *j = json_new(0);
	size_t len;

	ck_assert_int_eq(json_object_begin(j), 0);
	ck_assert_int_eq(json_key(j, "offset"), 0);
	ck_assert_int_eq(json_uint(j, 18446744073709551615ULL), 0);
	ck_assert_int_eq(json_key(j, "ext"), 0);
	ck_assert_int_eq(json_int(j, -2147483648LL), 0);
	ck_assert_int_eq(json_key(j, "calls"), 0);
	ck_assert_int_eq(json_array_begin(j), 0);
	ck_assert_int_eq(json_null(j), 0);
	ck_assert_int_eq(json_bool(j, true), 0);
	ck_assert_int_eq(json_cstring(j, "x"), 0);
	ck_assert_int_eq(json_array_end(j), 0);
	ck_assert_int_eq(json_key(j, "empty"), 0);
	ck_assert_int_eq(json_object_begin(j), 0);
	ck_assert_int_eq(json_object_end(j), 0);
	ck_assert_int_eq(json_object_end(j), 0);
	ck_assert_str_eq(json_data(j, &len),
	    "{\"offset\":18446744073709551615,\"ext\":-2147483648,"
	    "\"calls\":[null,true,\"x\"],\"empty\":{}}");
	ck_assert_uint_eq(len, strlen(json_data(j, &len)));
	json_free(j);
}
END_TEST

START_TEST(numbers_at_their_limits)
{
	struct json *j = json_new(0);
	size_t len;

	ck_assert_int_eq(json_array_begin(j), 0);
	ck_assert_int_eq(json_uint(j, 0), 0);
	ck_assert_int_eq(json_uint(j, 9), 0);
	ck_assert_int_eq(json_uint(j, 10), 0);
	ck_assert_int_eq(json_int(j, 0), 0);
	ck_assert_int_eq(json_int(j, -1), 0);
	ck_assert_int_eq(json_int(j, INT64_MIN), 0);
	ck_assert_int_eq(json_int(j, INT64_MAX), 0);
	ck_assert_int_eq(json_array_end(j), 0);
	ck_assert_str_eq(json_data(j, &len), "[0,9,10,0,-1,"
	    "-9223372036854775808,9223372036854775807]");
	json_free(j);
}
END_TEST

START_TEST(value_without_key_in_object_fails)
{
	struct json *j = json_new(0);
	size_t len;

	ck_assert_int_eq(json_object_begin(j), 0);
	ck_assert_int_eq(json_uint(j, 1), -1);
	/* The failure is sticky. */
	ck_assert_int_eq(json_key(j, "k"), -1);
	ck_assert_ptr_null(json_data(j, &len));
	json_free(j);
}
END_TEST

START_TEST(unfinished_value_has_no_data)
{
	struct json *j = json_new(0);
	size_t len;

	ck_assert_ptr_null(json_data(j, &len));
	ck_assert_int_eq(json_array_begin(j), 0);
	ck_assert_ptr_null(json_data(j, &len));
	json_free(j);
}
END_TEST

START_TEST(mismatched_end_fails)
{
	struct json *j = json_new(0);

	ck_assert_int_eq(json_array_begin(j), 0);
	ck_assert_int_eq(json_object_end(j), -1);
	json_free(j);
}
END_TEST

START_TEST(second_top_level_value_fails)
{
	struct json *j = json_new(0);

	ck_assert_int_eq(json_uint(j, 1), 0);
	ck_assert_int_eq(json_uint(j, 2), -1);
	json_free(j);
}
END_TEST

START_TEST(nesting_beyond_max_depth_fails)
{
	struct json *j = json_new(0);
	int i;

	for (i = 0; i < JSON_MAX_DEPTH; i++)
		ck_assert_int_eq(json_array_begin(j), 0);
	ck_assert_int_eq(json_array_begin(j), -1);
	json_free(j);
}
END_TEST

START_TEST(output_past_max_bytes_fails)
{
	struct json *j = json_new(8);
	size_t len;

	ck_assert_int_eq(json_cstring(j, "123456"), 0);	/* 8 bytes */
	ck_assert_str_eq(json_data(j, &len), "\"123456\"");
	json_reset(j);
	ck_assert_int_eq(json_cstring(j, "1234567"), -1);
	json_free(j);
}
END_TEST

START_TEST(reset_clears_a_failure)
{
	struct json *j = json_new(0);
	size_t len;

	ck_assert_int_eq(json_array_end(j), -1);
	json_reset(j);
	ck_assert_int_eq(json_uint(j, 7), 0);
	ck_assert_str_eq(json_data(j, &len), "7");
	json_free(j);
}
END_TEST

START_TEST(long_string_grows_the_buffer)
{
	static char big[100000];
	struct json *j = json_new(0);
	size_t len;

	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(json_string(j, big, sizeof(big)), 0);
	ck_assert_ptr_nonnull(json_data(j, &len));
	ck_assert_uint_eq(len, sizeof(big) + 2);
	json_free(j);
}
END_TEST

/* The text a caller assembles itself must be what the writer writes. */
START_TEST(formatted_numbers_are_those_of_the_writer)
{
	static const uint64_t us[] = { 0, 1, 9, 10, 99, 100, 4294967295U,
	    UINT64_C(9999999999999999999), UINT64_MAX };
	static const int64_t is[] = { 0, -1, 1, -10, 12345, INT64_MAX,
	    INT64_MIN };
	struct json *j = json_new(0);
	char text[JSON_NUMBER_MAX];
	const char *want;
	size_t i, n, len;

	for (i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
		json_reset(j);
		ck_assert_int_eq(json_uint(j, us[i]), 0);
		ck_assert_ptr_nonnull(want = json_data(j, &len));
		n = json_format_uint(text, us[i]);
		ck_assert_uint_le(n, JSON_NUMBER_MAX);
		ck_assert_uint_eq(n, len);
		ck_assert(memcmp(text, want, n) == 0);
	}
	for (i = 0; i < sizeof(is) / sizeof(is[0]); i++) {
		json_reset(j);
		ck_assert_int_eq(json_int(j, is[i]), 0);
		ck_assert_ptr_nonnull(want = json_data(j, &len));
		n = json_format_int(text, is[i]);
		ck_assert_uint_le(n, JSON_NUMBER_MAX);
		ck_assert_uint_eq(n, len);
		ck_assert(memcmp(text, want, n) == 0);
	}
	/* Around every power of ten and the 32-bit boundary. */
	for (i = 0; i < 64; i++) {
		uint64_t p = 1, v;
		size_t k;

		for (k = 0; k < i % 20; k++)
			p *= 10;
		v = i < 20 ? p - 1 : i < 40 ? p : i < 60 ? p + 1 :
		    (UINT64_C(1) << 32) + (uint64_t)(i - 62);
		json_reset(j);
		ck_assert_int_eq(json_uint(j, v), 0);
		ck_assert_ptr_nonnull(want = json_data(j, &len));
		n = json_format_uint(text, v);
		ck_assert_uint_eq(n, len);
		ck_assert(memcmp(text, want, n) == 0);
	}
	json_free(j);
}
END_TEST

START_TEST(quoted_keys_are_those_of_json_key)
{
	struct json *a = json_new(0), *b = json_new(0);
	const char *ta, *tb;
	size_t la, lb;

	ck_assert_int_eq(json_object_begin(a), 0);
	ck_assert_int_eq(json_key(a, "scan_us"), 0);
	ck_assert_int_eq(json_uint(a, 3), 0);
	ck_assert_int_eq(json_key(a, "msg_seq"), 0);
	ck_assert_int_eq(json_null(a), 0);
	ck_assert_int_eq(json_object_end(a), 0);
	ck_assert_int_eq(json_object_begin(b), 0);
	ck_assert_int_eq(JSON_KEY(b, "scan_us"), 0);
	ck_assert_int_eq(json_uint(b, 3), 0);
	ck_assert_int_eq(JSON_KEY(b, "msg_seq"), 0);
	ck_assert_int_eq(json_null(b), 0);
	ck_assert_int_eq(json_object_end(b), 0);
	ck_assert_ptr_nonnull(ta = json_data(a, &la));
	ck_assert_ptr_nonnull(tb = json_data(b, &lb));
	ck_assert_str_eq(ta, tb);
	/* Outside an object, or twice in a row, it fails as json_key(). */
	json_reset(b);
	ck_assert_int_eq(JSON_KEY(b, "k"), -1);
	json_reset(b);
	ck_assert_int_eq(json_object_begin(b), 0);
	ck_assert_int_eq(JSON_KEY(b, "k"), 0);
	ck_assert_int_eq(JSON_KEY(b, "k"), -1);
	json_free(a);
	json_free(b);
}
END_TEST

static Suite *
json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");

	tcase_add_test(tc, numbers_at_their_limits);
	tcase_add_test(tc, members_are_spliced_with_commas);
	tcase_add_test(tc, keys_long_or_needing_escapes);
	tcase_add_test(tc, every_ascii_byte_at_every_position);
	tcase_add_test(tc, plain_ascii_is_copied);
	tcase_add_test(tc, quote_and_backslash_are_escaped);
	tcase_add_test(tc, control_characters_are_u00xx);
	tcase_add_test(tc, nul_byte_is_kept_as_u0000);
	tcase_add_test(tc, valid_utf8_passes_unchanged);
	tcase_add_test(tc, lone_surrogate_is_escaped_as_its_code_point);
	tcase_add_test(tc, surrogate_pair_is_two_escapes);
	tcase_add_test(tc, invalid_bytes_are_u00xx_of_the_byte);
	tcase_add_test(tc, overlong_encoding_is_invalid);
	tcase_add_test(tc, code_point_above_u10ffff_is_invalid);
	tcase_add_test(tc, line_separators_are_escaped);
	tcase_add_test(tc, object_with_members_gets_commas_and_colons);
	tcase_add_test(tc, value_without_key_in_object_fails);
	tcase_add_test(tc, unfinished_value_has_no_data);
	tcase_add_test(tc, mismatched_end_fails);
	tcase_add_test(tc, second_top_level_value_fails);
	tcase_add_test(tc, nesting_beyond_max_depth_fails);
	tcase_add_test(tc, output_past_max_bytes_fails);
	tcase_add_test(tc, reset_clears_a_failure);
	tcase_add_test(tc, long_string_grows_the_buffer);
	tcase_add_test(tc, formatted_numbers_are_those_of_the_writer);
	tcase_add_test(tc, quoted_keys_are_those_of_json_key);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_SUITE(json_suite)
