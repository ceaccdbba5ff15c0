/*
 * The argument-shape notation (rules/REFERENCE.md, "args SHAPE"): what
 * parses, where a syntax error is reported, what a rule shape admits and
 * when one rule shape covers another.  One behaviour per test; shapes are
 * written out as a rule or the audit log would write them.
 */

#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "shape.h"
#include "unit.h"

#define ROOM (1ULL << 20)

static struct arena *arena;

static void
setup(void)
{
	arena = arena_new();
	ck_assert_ptr_nonnull(arena);
}

static void
teardown(void)
{
	arena_free(arena);
	arena = NULL;
}

/* Parse all of ${text} as a rule's shape (or a call's, if !${for_rule}). */
static const struct shape *
parse_all(const char *text, bool for_rule)
{
	const struct shape *s = NULL;
	size_t pos = 0, err_pos = 0;
	char err[256];
	int rc;

	rc = shape_parse(text, strlen(text), &pos, for_rule, arena, ROOM, &s,
	    &err_pos, err);
	ck_assert_msg(rc == 0, "\"%s\": %d at %zu: %s", text, rc, err_pos, err);
	ck_assert_msg(pos == strlen(text), "\"%s\": parsed %zu of %zu bytes",
	    text, pos, strlen(text));
	ck_assert_ptr_nonnull(s);
	return s;
}

static const struct shape *
rule(const char *text)
{
	return parse_all(text, true);
}

static const struct shape *
call(const char *text)
{
	return parse_all(text, false);
}

static bool
matches(const char *rule_text, const char *call_text)
{
	return shape_match(rule(rule_text), call(call_text));
}

static bool
covers(const char *a, const char *b)
{
	return shape_covers(rule(a), rule(b));
}

/*
 * Parsing ${text} fails with a syntax error at byte ${pos} whose message
 * starts with ${message}.
 */
static void
assert_syntax_error(const char *text, bool for_rule, size_t pos,
    const char *message)
{
	const struct shape *s = NULL;
	size_t at = 0, err_pos = 12345;
	char err[256];

	ck_assert_int_eq(shape_parse(text, strlen(text), &at, for_rule, arena,
	    ROOM, &s, &err_pos, err), -1);
	ck_assert_str_starts(err, message);
	ck_assert_msg(err_pos == pos, "\"%s\": error at %zu, expected %zu (%s)",
	    text, err_pos, pos, err);
	/* A failed parse leaves the position where it was. */
	ck_assert_uint_eq(at, 0);
}

/* ---- parsing ---------------------------------------------------------- */

START_TEST(every_type_name_parses)
{
	static const char *const types[] = {
		"None", "bool", "int", "float", "str", "bytes", "bytearray",
		"memoryview", "tuple", "list", "dict", "set", "frozenset",
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		ck_assert(matches(types[i], types[i]));
		ck_assert(!matches(types[i], i == 0 ? "bool" : "None"));
	}
}
END_TEST

START_TEST(parse_advances_past_the_shape_and_its_blanks)
{
	const char *text = "(int, str)   (rest";
	const struct shape *s = NULL;
	size_t pos = 0, err_pos;
	char err[256];

	ck_assert_int_eq(shape_parse(text, strlen(text), &pos, true, arena,
	    ROOM, &s, &err_pos, err), 0);
	ck_assert_uint_eq(pos, 13);
}
END_TEST

START_TEST(parse_starts_at_the_given_position)
{
	const char *text = "args  (bytes,)";
	const struct shape *s = NULL;
	size_t pos = 4, err_pos;
	char err[256];

	ck_assert_int_eq(shape_parse(text, strlen(text), &pos, true, arena,
	    ROOM, &s, &err_pos, err), 0);
	ck_assert_uint_eq(pos, strlen(text));
	ck_assert(shape_match(s, call("(bytes,)")));
}
END_TEST

START_TEST(call_shape_stops_at_a_bar)
{
	const char *text = "int|str";
	const struct shape *s = NULL;
	size_t pos = 0, err_pos;
	char err[256];

	/* `|` belongs to rules; in a call's shape it ends the shape. */
	ck_assert_int_eq(shape_parse(text, strlen(text), &pos, false, arena,
	    ROOM, &s, &err_pos, err), 0);
	ck_assert_uint_eq(pos, 3);
}
END_TEST

START_TEST(rule_shape_may_span_lines_with_comments)
{
	ck_assert(matches("(int,  # the count\n\t str # the name\n)",
	    "(int, str)"));
}
END_TEST

START_TEST(call_shape_is_one_line)
{
	assert_syntax_error("(int,\nstr)", false, 5, "expected a type");
}
END_TEST

START_TEST(one_tuple_is_the_same_with_or_without_comma)
{
	ck_assert(matches("(bytes)", "(bytes,)"));
	ck_assert(matches("(bytes,)", "(bytes,)"));
	ck_assert(covers("(bytes)", "(bytes,)"));
	ck_assert(covers("(bytes,)", "(bytes)"));
	/* Parentheses never just group. */
	ck_assert(!matches("(bytes)", "bytes"));
}
END_TEST

START_TEST(trailing_comma_does_not_add_an_item)
{
	ck_assert(matches("(int, str,)", "(int, str)"));
	ck_assert(!matches("(int, str,)", "(int, str, None)"));
}
END_TEST

START_TEST(empty_tuple_parses_with_blanks_inside)
{
	ck_assert(matches("( )", "()"));
	ck_assert(!matches("()", "(int,)"));
}
END_TEST

START_TEST(str_text_keeps_escaped_quotes_and_backslashes)
{
	ck_assert(matches("\"a\\\"b\\\\\"", "\"a\\\"b\\\\\""));
	ck_assert(!matches("\"a\\\"b\"", "\"a\\\\b\""));
}
END_TEST

START_TEST(shape_is_any_only_for_any)
{
	ck_assert(shape_is_any(rule("any")));
	ck_assert(!shape_is_any(rule("(any,)")));
	ck_assert(!shape_is_any(rule("any|int")));
	ck_assert(!shape_is_any(rule("tuple")));
}
END_TEST

/* ---- syntax errors ---------------------------------------------------- */

START_TEST(empty_text_is_an_error_at_its_end)
{
	assert_syntax_error("", true, 0, "expected a shape");
	assert_syntax_error("   ", true, 3, "expected a shape");
}
END_TEST

START_TEST(unknown_type_is_an_error_at_the_word)
{
	assert_syntax_error("integer", true, 0, "unknown type in a shape");
	assert_syntax_error("(int, floaty)", true, 6,
	    "unknown type in a shape");
	/* `any` is a rule's word; the analyzer writes "?". */
	assert_syntax_error("any", false, 0, "unknown type in a shape");
}
END_TEST

START_TEST(unclosed_tuple_is_an_error_at_its_end)
{
	assert_syntax_error("(int", true, 4,
	    "expected ',' or ')' in a tuple shape");
	assert_syntax_error("(int,", true, 5,
	    "expected ')' to close the tuple shape");
	assert_syntax_error("((int,)", true, 7,
	    "expected ',' or ')' in a tuple shape");
}
END_TEST

START_TEST(missing_comma_is_an_error_at_the_second_item)
{
	assert_syntax_error("(int str)", true, 5,
	    "expected ',' or ')' in a tuple shape");
}
END_TEST

START_TEST(stray_comma_is_an_error_at_the_comma)
{
	assert_syntax_error("(,)", true, 1, "expected a type, a \"string\"");
	assert_syntax_error("(int,,)", true, 5,
	    "expected a type, a \"string\"");
}
END_TEST

START_TEST(bad_module_qualname_is_an_error_at_the_name)
{
	assert_syntax_error("(a:b:c,)", true, 1,
	    "expected module:qualname in a shape");
	assert_syntax_error(":b", true, 0,
	    "expected module:qualname in a shape");
	assert_syntax_error("(int, a:)", true, 6,
	    "expected module:qualname in a shape");
}
END_TEST

START_TEST(unterminated_string_is_an_error_at_the_end)
{
	assert_syntax_error("(\"abc,)", true, 7,
	    "unterminated string in a shape");
	assert_syntax_error("\"ab\\\"", true, 5,
	    "unterminated string in a shape");
}
END_TEST

START_TEST(unknown_string_escape_is_an_error_at_the_escape)
{
	assert_syntax_error("\"a\\nb\"", true, 3,
	    "only \\\\ and \\\" escapes are allowed in a shape string");
}
END_TEST

START_TEST(bar_without_alternative_is_an_error_at_the_end)
{
	assert_syntax_error("int|", true, 4, "expected a shape");
	assert_syntax_error("(int| ,)", true, 6, "expected a type");
}
END_TEST

START_TEST(bad_integer_is_an_error_at_the_offending_char)
{
	assert_syntax_error("-", true, 1, "expected digits after '-'");
	assert_syntax_error("(- 1,)", true, 2, "expected digits after '-'");
	assert_syntax_error("12abc", true, 2,
	    "unexpected character after an integer");
}
END_TEST

START_TEST(integer_beyond_int64_is_an_error_at_its_start)
{
	assert_syntax_error("9223372036854775808", true, 0,
	    "integer out of range");
	assert_syntax_error("(1, -99999999999999999999)", true, 4,
	    "integer out of range");
}
END_TEST

START_TEST(integer_that_wraps_past_2_to_the_64_is_an_error)
{
	/* 1844674407370955162 fits; times ten it is 2^64 + 4, which must
	 * not wrap to 4. */
	assert_syntax_error("18446744073709551620", true, 0,
	    "integer out of range");
	assert_syntax_error("-18446744073709551620", true, 0,
	    "integer out of range");
}
END_TEST

START_TEST(question_mark_is_refused_in_rules)
{
	assert_syntax_error("?", true, 0, "'?' is what the analyzer writes "
	    "for a value it cannot tell; a rule says 'any'");
	assert_syntax_error("(int, ?)", true, 6, "'?' is what the analyzer");
}
END_TEST

START_TEST(nesting_up_to_the_limit_parses)
{
	char text[80];

	/* 32 tuples around an int. */
	snprintf(text, sizeof(text), "%.32s%s%.32s",
	    "((((((((((((((((((((((((((((((((", "int",
	    "))))))))))))))))))))))))))))))))");
	ck_assert(matches(text, text));
}
END_TEST

START_TEST(nesting_beyond_the_limit_is_an_error_at_the_innermost)
{
	char text[80];

	/* 33 tuples around an int: the int is at depth 33. */
	snprintf(text, sizeof(text), "%.33s%s%.33s",
	    "(((((((((((((((((((((((((((((((((", "int",
	    ")))))))))))))))))))))))))))))))))");
	assert_syntax_error(text, true, 33, "shape nested too deeply");
}
END_TEST

START_TEST(tuple_of_256_items_parses_and_257_is_an_error)
{
	char text[2048];
	size_t n = 0, i;

	text[n++] = '(';
	for (i = 0; i < 256; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "int,");
	text[n++] = ')';
	text[n] = '\0';
	ck_assert(!shape_is_any(rule(text)));
	text[n - 1] = '\0';
	n += (size_t)snprintf(text + n - 1, sizeof(text) - n + 1, "int)") - 1;
	assert_syntax_error(text, true, 1025,
	    "more than 256 items in one tuple shape");
}
END_TEST

START_TEST(running_out_of_room_is_not_a_syntax_error)
{
	const char *text = "(int, str, bytes)";
	const struct shape *s = NULL;
	size_t pos = 0, err_pos = 0;
	char err[256];

	ck_assert_int_eq(shape_parse(text, strlen(text), &pos, true, arena,
	    16, &s, &err_pos, err), -2);
	ck_assert_uint_eq(pos, 0);
}
END_TEST

/* ---- matching --------------------------------------------------------- */

START_TEST(type_matches_only_its_type)
{
	ck_assert(matches("int", "int"));
	ck_assert(!matches("int", "float"));
	ck_assert(!matches("bytes", "bytearray"));
	ck_assert(!matches("list", "(int,)"));
}
END_TEST

START_TEST(str_type_matches_any_str_literal)
{
	ck_assert(matches("str", "\"utf-8\""));
	ck_assert(matches("str", "str"));
	ck_assert(!matches("str", "bytes"));
}
END_TEST

START_TEST(str_literal_matches_only_that_text)
{
	ck_assert(matches("\"utf-8\"", "\"utf-8\""));
	ck_assert(!matches("\"utf-8\"", "\"utf-16\""));
	ck_assert(!matches("\"utf-8\"", "\"utf-8 \""));
	/* A str the analyzer did not write out may be anything. */
	ck_assert(!matches("\"utf-8\"", "str"));
}
END_TEST

START_TEST(tuple_type_matches_any_tuple)
{
	ck_assert(matches("tuple", "()"));
	ck_assert(matches("tuple", "(int, (str,), ?)"));
	ck_assert(matches("tuple", "tuple"));
	ck_assert(!matches("tuple", "list"));
}
END_TEST

START_TEST(tuple_shape_matches_exactly_its_items)
{
	ck_assert(matches("(int, str)", "(int, \"x\")"));
	ck_assert(!matches("(int, str)", "(int,)"));
	ck_assert(!matches("(int, str)", "(int, str, str)"));
	ck_assert(!matches("(int, str)", "(str, int)"));
	ck_assert(!matches("(int, str)", "tuple"));
	ck_assert(matches("((int, str), list)", "((int, \"x\"), list)"));
	ck_assert(!matches("((int, str), list)", "(tuple, list)"));
}
END_TEST

START_TEST(alternatives_match_any_of_them)
{
	ck_assert(matches("int|str", "int"));
	ck_assert(matches("int | str", "\"x\""));
	ck_assert(!matches("int|str", "float"));
	ck_assert(matches("(bytes) | (bytes, a:tz())", "(bytes, a:tz())"));
	ck_assert(matches("(bytes) | (bytes, a:tz())", "(bytes,)"));
}
END_TEST

START_TEST(bar_binds_tighter_than_comma)
{
	ck_assert(matches("(bytes|bytearray, str)", "(bytearray, str)"));
	ck_assert(matches("(bytes|bytearray, str)", "(bytes, \"a\")"));
	ck_assert(!matches("(bytes|bytearray, str)", "(bytes,)"));
}
END_TEST

START_TEST(class_and_instance_differ)
{
	ck_assert(matches("a.b:C", "a.b:C"));
	ck_assert(matches("a.b:C()", "a.b:C()"));
	ck_assert(!matches("a.b:C", "a.b:C()"));
	ck_assert(!matches("a.b:C()", "a.b:C"));
	ck_assert(!matches("a.b:C", "a:b.C"));
	ck_assert(!matches("a.b:C()", "a.b:D()"));
}
END_TEST

START_TEST(unknown_value_is_matched_only_by_any)
{
	ck_assert(matches("any", "?"));
	ck_assert(matches("(any,)", "(?,)"));
	ck_assert(matches("(int, any)", "(int, ?)"));
	ck_assert(!matches("(int|str|tuple|list|dict,)", "(?,)"));
	ck_assert(!matches("tuple", "?"));
	ck_assert(!matches("a:C()", "?"));
}
END_TEST

START_TEST(int_literal_matches_only_that_value)
{
	ck_assert(matches("0", "0"));
	ck_assert(matches("(-1, 4095)", "(-1, 4095)"));
	ck_assert(matches("9223372036854775807", "9223372036854775807"));
	ck_assert(!matches("0", "1"));
	ck_assert(!matches("1", "-1"));
	/* An int the analyzer did not keep may be any value. */
	ck_assert(!matches("0", "int"));
}
END_TEST

START_TEST(int_type_matches_any_int_literal)
{
	ck_assert(matches("int", "0"));
	ck_assert(matches("int", "-256"));
	ck_assert(!matches("int", "True"));
	ck_assert(!matches("float", "0"));
}
END_TEST

START_TEST(bool_literal_matches_only_that_bool)
{
	ck_assert(matches("True", "True"));
	ck_assert(!matches("True", "False"));
	ck_assert(matches("bool", "False"));
	/* True == 1 in Python, but the shapes say which type it is. */
	ck_assert(!matches("True", "1"));
	ck_assert(!matches("1", "True"));
	ck_assert(!matches("True", "bool"));
}
END_TEST

START_TEST(any_matches_every_value)
{
	ck_assert(matches("any", "int"));
	ck_assert(matches("any", "()"));
	ck_assert(matches("any", "(a:C(), \"x\", (?,))"));
}
END_TEST

START_TEST(every_call_shape_written_as_a_rule_matches_itself)
{
	static const char *const shapes[] = {
		"None", "int", "\"\"", "\"x y\"", "()", "(int,)",
		"(bytes, a:tz())", "((int, (str, (float,))), list)",
		"m.n:Q.R", "m.n:Q.R()", "(\"a\\\"b\", frozenset)",
		"(0, -256, 4095, True, False)",
	};
	size_t i;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		ck_assert_msg(matches(shapes[i], shapes[i]), "%s", shapes[i]);
		ck_assert_msg(covers(shapes[i], shapes[i]), "%s", shapes[i]);
	}
}
END_TEST

/* ---- covering ------------------------------------------------------- */

START_TEST(any_covers_everything_and_nothing_else_covers_any)
{
	ck_assert(covers("any", "int|(str, any)"));
	ck_assert(covers("any", "any"));
	ck_assert(!covers("int", "any"));
	ck_assert(!covers("tuple", "any"));
	ck_assert(!covers("(any,)", "any"));
}
END_TEST

START_TEST(alternatives_cover_each_of_theirs)
{
	ck_assert(covers("int|str", "int"));
	ck_assert(covers("int|str", "str|int"));
	ck_assert(!covers("int", "int|str"));
	ck_assert(!covers("int|str", "int|float"));
}
END_TEST

START_TEST(type_covers_its_literals_not_the_reverse)
{
	ck_assert(covers("str", "\"x\""));
	ck_assert(!covers("\"x\"", "str"));
	ck_assert(covers("tuple", "(int, any)"));
	ck_assert(!covers("(int,)", "tuple"));
}
END_TEST

START_TEST(tuple_covers_item_by_item)
{
	ck_assert(covers("(any, str)", "(int, \"x\")"));
	ck_assert(covers("(int|str,)", "(\"x\",)"));
	ck_assert(!covers("(int, str)", "(int, any)"));
	ck_assert(!covers("(int, str)", "(int,)"));
	ck_assert(covers("((int|str,), bytes)", "((int,), bytes)"));
}
END_TEST

START_TEST(type_covers_its_int_and_bool_literals)
{
	ck_assert(covers("int", "0|-5"));
	ck_assert(!covers("0", "int"));
	ck_assert(covers("bool", "True|False"));
	ck_assert(!covers("True", "bool"));
	ck_assert(covers("(0|1, str)", "(1, \"x\")"));
}
END_TEST

START_TEST(class_does_not_cover_its_instance)
{
	ck_assert(!covers("a:C", "a:C()"));
	ck_assert(!covers("a:C()", "a:C"));
	ck_assert(covers("a:C()|a:C", "a:C"));
}
END_TEST

Suite *shape_suite(void);

Suite *
shape_suite(void)
{
	Suite *s = suite_create("shape");
	TCase *parse = tcase_create("parse");
	TCase *errors = tcase_create("errors");
	TCase *match = tcase_create("match");
	TCase *cover = tcase_create("covers");

	tcase_add_checked_fixture(parse, setup, teardown);
	tcase_add_test(parse, every_type_name_parses);
	tcase_add_test(parse, parse_advances_past_the_shape_and_its_blanks);
	tcase_add_test(parse, parse_starts_at_the_given_position);
	tcase_add_test(parse, call_shape_stops_at_a_bar);
	tcase_add_test(parse, rule_shape_may_span_lines_with_comments);
	tcase_add_test(parse, one_tuple_is_the_same_with_or_without_comma);
	tcase_add_test(parse, trailing_comma_does_not_add_an_item);
	tcase_add_test(parse, empty_tuple_parses_with_blanks_inside);
	tcase_add_test(parse, str_text_keeps_escaped_quotes_and_backslashes);
	tcase_add_test(parse, shape_is_any_only_for_any);
	tcase_add_test(parse, nesting_up_to_the_limit_parses);
	tcase_add_test(parse, running_out_of_room_is_not_a_syntax_error);
	suite_add_tcase(s, parse);

	tcase_add_checked_fixture(errors, setup, teardown);
	tcase_add_test(errors, call_shape_is_one_line);
	tcase_add_test(errors, empty_text_is_an_error_at_its_end);
	tcase_add_test(errors, unknown_type_is_an_error_at_the_word);
	tcase_add_test(errors, unclosed_tuple_is_an_error_at_its_end);
	tcase_add_test(errors, missing_comma_is_an_error_at_the_second_item);
	tcase_add_test(errors, stray_comma_is_an_error_at_the_comma);
	tcase_add_test(errors, bad_module_qualname_is_an_error_at_the_name);
	tcase_add_test(errors, unterminated_string_is_an_error_at_the_end);
	tcase_add_test(errors, unknown_string_escape_is_an_error_at_the_escape);
	tcase_add_test(errors, bar_without_alternative_is_an_error_at_the_end);
	tcase_add_test(errors, bad_integer_is_an_error_at_the_offending_char);
	tcase_add_test(errors, integer_beyond_int64_is_an_error_at_its_start);
	tcase_add_test(errors, integer_that_wraps_past_2_to_the_64_is_an_error);
	tcase_add_test(errors, question_mark_is_refused_in_rules);
	tcase_add_test(errors, nesting_beyond_the_limit_is_an_error_at_the_innermost);
	tcase_add_test(errors, tuple_of_256_items_parses_and_257_is_an_error);
	suite_add_tcase(s, errors);

	tcase_add_checked_fixture(match, setup, teardown);
	tcase_add_test(match, type_matches_only_its_type);
	tcase_add_test(match, str_type_matches_any_str_literal);
	tcase_add_test(match, str_literal_matches_only_that_text);
	tcase_add_test(match, tuple_type_matches_any_tuple);
	tcase_add_test(match, tuple_shape_matches_exactly_its_items);
	tcase_add_test(match, alternatives_match_any_of_them);
	tcase_add_test(match, bar_binds_tighter_than_comma);
	tcase_add_test(match, class_and_instance_differ);
	tcase_add_test(match, unknown_value_is_matched_only_by_any);
	tcase_add_test(match, int_literal_matches_only_that_value);
	tcase_add_test(match, int_type_matches_any_int_literal);
	tcase_add_test(match, bool_literal_matches_only_that_bool);
	tcase_add_test(match, any_matches_every_value);
	tcase_add_test(match, every_call_shape_written_as_a_rule_matches_itself);
	suite_add_tcase(s, match);

	tcase_add_checked_fixture(cover, setup, teardown);
	tcase_add_test(cover, any_covers_everything_and_nothing_else_covers_any);
	tcase_add_test(cover, alternatives_cover_each_of_theirs);
	tcase_add_test(cover, type_covers_its_literals_not_the_reverse);
	tcase_add_test(cover, tuple_covers_item_by_item);
	tcase_add_test(cover, type_covers_its_int_and_bool_literals);
	tcase_add_test(cover, class_does_not_cover_its_instance);
	suite_add_tcase(s, cover);
	return s;
}

UNIT_SUITE(shape_suite)
