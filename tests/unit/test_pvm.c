/*
 * The pickle analyzer, one behaviour per test.  Byte strings are written
 * as CPython reads them; the expected behaviour of CPython 3.11 is in the
 * test name and, where it is not obvious, in a comment.  The soundness
 * suite (tests/soundness) checks the same ground against real CPython.
 */

#include <stdlib.h>
#include <string.h>

#include "pvm.h"
#include "pvm_text.h"
#include "unit.h"

#define P(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static struct pvm *vm;

static void
setup(void)
{
	vm = pvm_new(NULL, PVM_MEMO_PER_MESSAGE);
	ck_assert_ptr_nonnull(vm);
}

static void
teardown(void)
{
	pvm_free(vm);
	vm = NULL;
}

/* Feed ${buf} whole into ${v}, end the input, and return the report. */
static const struct pvm_report *
run_on(struct pvm *v, const uint8_t *buf, size_t len)
{
	size_t used;

	pvm_begin(v);
	if (pvm_feed(v, buf, len, &used) == PVM_NEED_MORE)
		pvm_finish(v);
	return pvm_report(v);
}

static const struct pvm_report *
run(const uint8_t *buf, size_t len)
{
	return run_on(vm, buf, len);
}

static bool
str_is(struct pvm_str s, const char *z)
{
	return s.ptr != NULL && s.len == strlen(z) && memcmp(s.ptr, z, s.len) == 0;
}

static void
assert_import(const struct pvm_report *r, size_t i, const char *module,
    const char *name)
{
	ck_assert_uint_gt(r->n_imports, i);
	ck_assert_msg(str_is(r->imports[i].module, module) &&
	    str_is(r->imports[i].name, name), "import %zu is %.*s.%.*s, not %s.%s",
	    i, (int)r->imports[i].module.len, r->imports[i].module.ptr,
	    (int)r->imports[i].name.len, r->imports[i].name.ptr, module, name);
}

static void
assert_call(const struct pvm_report *r, size_t i, const char *callable)
{
	ck_assert_uint_gt(r->n_calls, i);
	if (callable == NULL) {
		ck_assert_ptr_null(r->calls[i].callable.ptr);
		ck_assert_ptr_nonnull(r->calls[i].why);
	} else {
		ck_assert_msg(str_is(r->calls[i].callable, callable),
		    "call %zu is %.*s, not %s", i, (int)r->calls[i].callable.len,
		    r->calls[i].callable.ptr ? r->calls[i].callable.ptr : "(null)",
		    callable);
	}
}

static void
assert_clean(const struct pvm_report *r)
{
	ck_assert_msg(r->complete && !r->failed, "not complete: %s",
	    r->n_reasons ? r->reasons[0].detail : "");
	ck_assert_uint_eq(r->n_imports, 0);
	ck_assert_uint_eq(r->n_calls, 0);
	ck_assert_uint_eq(r->n_reasons, 0);
}

static void
assert_fails(const struct pvm_report *r, enum pw_code code)
{
	ck_assert(r->failed);
	ck_assert_uint_eq(r->n_reasons, 1);
	ck_assert_msg(r->reasons[0].code == code, "reason is %s (%s), not %s",
	    pw_code_name(r->reasons[0].code), r->reasons[0].detail,
	    pw_code_name(code));
}

/* ---- argument shapes ---- */

static void
assert_args(const struct pvm_report *r, size_t i, const char *shape)
{
	ck_assert_uint_gt(r->n_calls, i);
	ck_assert_msg(str_is(r->calls[i].args, shape), "call %zu args %.*s, "
	    "not %s", i, (int)r->calls[i].args.len,
	    r->calls[i].args.ptr ? r->calls[i].args.ptr : "(null)", shape);
}

START_TEST(int_text_of_two_characters_worth_0_or_1_is_a_bool)
{
	/* load_int: len == 3 and strtol gives 0 or 1 -> bool. */
	assert_args(run(P("c__builtin__\nslice\n(I-0\nI+1\nI 1\nI00\nI1\ntR.")),
	    0, "(False, True, True, False, 1)");
}
END_TEST

START_TEST(small_ints_keep_their_value_and_others_show_int)
{
	/* BININT1 5, BININT2 4095, BININT -256, BININT 4096, LONG1 1 */
	assert_args(run(P("\x80\x02" "c__builtin__\nslice\n(K\x05M\xff\x0fJ"
	    "\x00\xff\xff\xffJ\x00\x10\x00\x00\x8a\x01\x01tR.")), 0,
	    "(5, 4095, -256, int, int)");
}
END_TEST

START_TEST(args_shape_names_classes_instances_and_short_strings)
{
	/* REDUCE of dict with (X, X(), "a\"b", long str, (1,)) */
	const struct pvm_report *r = run(P("\x80\x02" "cm\nX\n" "q\x00"
	    "(h\x00h\x00)R" "U\x03" "a\"b" "U\x41"
	    "0123456789012345678901234567890123456789012345678901234567890123X"
	    "K\x01\x85tb."));

	assert_args(r, 0, "()");
	assert_args(r, 1, "(m:X, m:X(), \"a\\\"b\", str, (1,))");
}
END_TEST

START_TEST(persistent_id_text_is_the_pid)
{
	const struct pvm_report *r = run(P("Puser:42\n."));

	ck_assert_uint_eq(r->n_calls, 1);
	ck_assert(str_is(r->calls[0].pid, "user:42"));
	assert_args(r, 0, "\"user:42\"");
	ck_assert_uint_eq(r->calls[0].module_len, 0);
}
END_TEST

/* ---- the opcode table ---- */

START_TEST(table_has_the_68_opcodes_of_pickletools)
{
	size_t n = 0;

	while (pvm_opinfo_at(n) != NULL)
		n++;
	ck_assert_uint_eq(n, 68);
	ck_assert_str_eq(pvm_opinfo(0x93)->name, "STACK_GLOBAL");
	ck_assert_ptr_null(pvm_opinfo(0xff));
}
END_TEST

START_TEST(op_length_covers_lines_and_counted_data)
{
	size_t n;

	ck_assert_int_eq(pvm_op_length(P("cos\nsystem\n."), &n), 0);
	ck_assert_uint_eq(n, 11);
	ck_assert_int_eq(pvm_op_length(P("C\x03" "abc."), &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(pvm_op_length(P("C\x05" "abc"), &n), -1);
}
END_TEST

/* ---- pure data ---- */

START_TEST(protocol_0_data_is_clean)
{
	assert_clean(run(P("(lp0\nI1\naF2.5\naS'a'\np1\naVb\naNa(dp2\nI1\nI2\nsa.")));
}
END_TEST

START_TEST(protocol_5_data_is_clean)
{
	/* pickle.dumps([1, {'k': (1, 2)}, {1, 2}, frozenset(), b'x'], 5) */
	assert_clean(run(P("\x80\x05\x95#\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01}"
	    "\x94\x8c\x01k\x94K\x01K\x02\x86\x94s\x8f\x94(K\x01K\x02\x90(\x91\x94"
	    "C\x01x\x94" "e.")));
}
END_TEST

START_TEST(int_text_forms_follow_strtol_then_int)
{
	assert_clean(run(P("I010\n.")));	/* octal 8 */
	assert_clean(run(P("I0x10\n.")));
	assert_clean(run(P("I1_0\n.")));	/* strtol stops, int() accepts */
	assert_clean(run(P("I 7\n.")));
	assert_clean(run(P("I99999999999999999999999\n.")));
	assert_fails(run(P("Iabc\n.")), PW_BAD_ARGUMENT);
	assert_fails(run(P("I\n.")), PW_BAD_ARGUMENT);
}
END_TEST

START_TEST(int_with_more_than_4300_digits_fails)
{
	size_t n = 4400, i;
	uint8_t *b = malloc(n + 3);

	b[0] = 'I';
	for (i = 1; i <= n; i++)
		b[i] = '1';
	b[n + 1] = '\n';
	b[n + 2] = '.';
	assert_fails(run(b, n + 3), PW_BAD_ARGUMENT);
	free(b);
}
END_TEST

START_TEST(long_strips_one_trailing_L)
{
	assert_clean(run(P("L12L\n.")));
	assert_clean(run(P("L12\n.")));
	assert_fails(run(P("LL\n.")), PW_BAD_ARGUMENT);
	assert_fails(run(P("L12LL\n.")), PW_BAD_ARGUMENT);
}
END_TEST

START_TEST(float_text_forms_follow_pyos_string_to_double)
{
	assert_clean(run(P("F2.5\n.")));
	assert_clean(run(P("F-inf\n.")));
	assert_clean(run(P("Fnan\n.")));
	assert_clean(run(P("F1.5\0junk\n.")));
	assert_fails(run(P("F1e500\n.")), PW_BAD_ARGUMENT);	/* OverflowError */
	assert_fails(run(P("F 1.0\n.")), PW_BAD_ARGUMENT);
	assert_fails(run(P("F1_0\n.")), PW_BAD_ARGUMENT);
	assert_fails(run(P("F0x1p3\n.")), PW_BAD_ARGUMENT);
}
END_TEST

START_TEST(string_must_be_quoted_and_ascii)
{
	assert_clean(run(P("S'a\\x41\\101'\n.")));
	assert_fails(run(P("S'abc\"\n.")), PW_BAD_ARGUMENT);
	assert_fails(run(P("Sabc\n.")), PW_BAD_ARGUMENT);
	assert_fails(run(P("S'\\x4'\n.")), PW_BAD_ARGUMENT);
	assert_fails(run(P("S'\\x80'\n.")), PW_BAD_ENCODING);
	assert_fails(run(P("U\x01\x80.")), PW_BAD_ENCODING);
}
END_TEST

START_TEST(binunicode_allows_lone_surrogates_but_not_bad_utf8)
{
	assert_clean(run(P("X\x03\x00\x00\x00\xed\xa0\x80.")));
	assert_fails(run(P("X\x02\x00\x00\x00\xc0\x80.")), PW_BAD_ENCODING);
	assert_fails(run(P("\x8c\x01\xe2.")), PW_BAD_ENCODING);
}
END_TEST

START_TEST(unicode_rejects_truncated_escape)
{
	assert_clean(run(P("V\\u00e9\\U0001F600\\x\n.")));
	assert_fails(run(P("V\\u12\n.")), PW_BAD_ENCODING);
	assert_fails(run(P("V\\U00110000\n.")), PW_BAD_ENCODING);
}
END_TEST

START_TEST(utf8_check_whole_equals_byte_by_byte)
{
	/* Pieces that put non-ASCII bytes at every offset of a word. */
	static const char *const pieces[] = { "a", "abcdefg", "\xc3\xa9",
	    "\xe2\x86\x92", "\xf0\x9f\x98\x80", "\xed\xa0\x80", "\xc0\x80",
	    "\xe0\x80\x80", "\xf4\x90\x80\x80", "\x80", "\xc3", "\xff" };
	const size_t n_pieces = sizeof(pieces) / sizeof(pieces[0]);
	uint32_t seed = 12345;
	char buf[256];
	size_t len, i, round;

	for (round = 0; round < 20000; round++) {
		struct pvm_text_utf8 st;
		bool ok = true;

		for (len = 0; len < 200;) {
			const char *piece;

			seed = seed * 1103515245 + 12345;
			/* Mostly ASCII and valid characters, rarely broken. */
			piece = pieces[(seed >> 16) % (round % 7 ? 5 : n_pieces)];
			memcpy(buf + len, piece, strlen(piece));
			len += strlen(piece);
		}
		pvm_text_utf8_init(&st);
		for (i = 0; i < len && ok; i++)
			ok = pvm_text_utf8_feed(&st, (const uint8_t *)buf + i, 1);
		ok = ok && pvm_text_utf8_end(&st);
		ck_assert_int_eq(pvm_text_is_utf8(buf, len, true), ok);
	}
}
END_TEST

/* ---- imports ---- */

START_TEST(global_is_an_import)
{
	const struct pvm_report *r = run(P("\x80\x03" "cos\nsystem\n."));

	ck_assert(r->complete);
	ck_assert_uint_eq(r->n_imports, 1);
	assert_import(r, 0, "os", "system");
	ck_assert(!r->imports[0].remapped);
	ck_assert_uint_eq(r->imports[0].pos, 2);
}
END_TEST

START_TEST(global_at_protocol_below_3_is_remapped)
{
	const struct pvm_report *r = run(P("c__builtin__\neval\n."));

	assert_import(r, 0, "builtins", "eval");
	ck_assert(r->imports[0].remapped);
	ck_assert(str_is(r->imports[0].raw_module, "__builtin__"));
	assert_import(run(P("ccommands\ngetoutput\n.")), 0, "subprocess",
	    "getoutput");
	assert_import(run(P("c__builtin__\nreduce\n.")), 0, "functools", "reduce");
	assert_import(run(P("ccopy_reg\n_reconstructor\n.")), 0, "copyreg",
	    "_reconstructor");
	assert_import(run(P("ccPickle\nloads\n.")), 0, "pickle", "loads");
}
END_TEST

START_TEST(global_at_protocol_3_is_not_remapped)
{
	assert_import(run(P("\x80\x03" "c__builtin__\neval\n.")), 0,
	    "__builtin__", "eval");
}
END_TEST

START_TEST(proto_mid_stream_decides_the_mapping)
{
	const struct pvm_report *r = run(P("\x80\x03" "c__builtin__\neval\n0"
	    "\x80\x02" "c__builtin__\neval\n."));

	assert_import(r, 0, "__builtin__", "eval");
	assert_import(r, 1, "builtins", "eval");
	ck_assert_int_eq(r->protocol, 2);
}
END_TEST

START_TEST(proto_above_5_fails)
{
	assert_fails(run(P("\x80\x06N.")), PW_BAD_PROTOCOL);
}
END_TEST

START_TEST(global_lines_are_utf8_and_not_stripped)
{
	assert_import(run(P("\x80\x03" "cos\r\nsystem\n.")), 0, "os\r", "system");
	assert_fails(run(P("cos\xff\nsystem\n.")), PW_BAD_ENCODING);
	assert_fails(run(P("c\nsystem\n.")), PW_BAD_ARGUMENT);
	assert_fails(run(P("cos\nsystem")), PW_TRUNCATED);
}
END_TEST

START_TEST(stack_global_takes_any_string_opcode)
{
	assert_import(run(P("\x80\x04S'o\\x73'\nS'system'\n\x93.")), 0, "os",
	    "system");
	assert_import(run(P("\x80\x04T\x02\x00\x00\x00osU\x06system\x93.")), 0,
	    "os", "system");
	assert_import(run(P("\x80\x04V\\u006fs\nVsystem\n\x93.")), 0, "os",
	    "system");
	assert_import(run(P("\x80\x04\x8d\x02\x00\x00\x00\x00\x00\x00\x00os"
	    "\x8c\x06system\x93.")), 0, "os", "system");
}
END_TEST

START_TEST(stack_global_works_without_proto)
{
	assert_import(run(P("Vos\nVsystem\n\x93.")), 0, "os", "system");
}
END_TEST

START_TEST(stack_global_operand_from_a_call_is_unknown)
{
	/* builtins.str('os') is 'os' at run time. */
	const struct pvm_report *r = run(P("\x80\x04\x8c\x08" "builtins\x8c\x03str"
	    "\x93\x8c\x02os\x85R\x8c\x06system\x93."));

	assert_import(r, 1, "*", "system");
	ck_assert(!r->imports[1].module_known);
	ck_assert(r->imports[1].name_known);
}
END_TEST

START_TEST(stack_global_operand_from_a_module_attribute_is_unknown)
{
	assert_import(run(P("\x80\x04" "cos\n__name__\n\x8c\x06system\x93.")),
	    1, "*", "system");
}
END_TEST

START_TEST(stack_global_of_non_str_fails)
{
	assert_fails(run(P("\x80\x04K\x01\x8c\x06system\x93.")), PW_TYPE_ERROR);
	assert_fails(run(P("\x80\x04\x43\x02os\x8c\x06system\x93.")),
	    PW_TYPE_ERROR);
}
END_TEST

START_TEST(stack_global_with_unknown_name_at_protocol_2_keeps_known_module)
{
	/* __builtin__ has pair mappings (reduce -> functools): unknown. */
	assert_import(run(P("\x80\x02\x8c\x0b__builtin__" "cos\nname\n\x93.")),
	    1, "*", "*");
	/* copy_reg has none: the module mapping applies. */
	assert_import(run(P("\x80\x02\x8c\x08" "copy_reg" "cos\nname\n\x93.")),
	    1, "copyreg", "*");
}
END_TEST

START_TEST(stack_global_long_string_is_unknown)
{
	size_t n = 5000, len = 0;
	uint8_t *b = malloc(n + 64);

	memcpy(b, "\x80\x04X\x88\x13\x00\x00", 7);
	len = 7;
	memset(b + len, 'a', n);
	len += n;
	memcpy(b + len, "\x8c\x01x\x93.", 5);
	len += 5;
	assert_import(run(b, len), 0, "*", "x");
	free(b);
}
END_TEST

START_TEST(dotted_name_at_protocol_4_is_an_attribute_walk)
{
	const struct pvm_report *r = run(P("\x80\x04\x8c\x02os\x8c\x0bpath.system"
	    "\x93."));

	assert_import(r, 0, "os", "path.system");
	ck_assert(r->imports[0].dotted);
	r = run(P("\x80\x04" "cos\npath.join\n."));
	ck_assert(r->imports[0].dotted);
	r = run(P("\x80\x03" "cos\npath.join\n."));
	ck_assert(!r->imports[0].dotted);
}
END_TEST

START_TEST(inst_imports_then_calls)
{
	const struct pvm_report *r = run(P("(S'id'\nios\nsystem\n."));

	assert_import(r, 0, "os", "system");
	assert_call(r, 0, "os.system");
	ck_assert_uint_eq(r->calls[0].op, 'i');
	assert_fails(run(P("ios\nsystem\n.")), PW_MARK_MISSING);
	assert_fails(run(P("(i\xc3\xa9\nx\n.")), PW_BAD_ENCODING);
}
END_TEST

START_TEST(ext_codes_are_unknown_imports)
{
	const struct pvm_report *r = run(P("\x80\x02\x83\x01\x02."));

	assert_import(r, 0, "*", "*");
	ck_assert_int_eq(r->imports[0].ext_code, 0x0201);
	r = run(P("\x80\x02\x84\xff\xff\xff\x7f."));
	ck_assert_int_eq(r->imports[0].ext_code, 0x7fffffff);
	assert_fails(run(P("\x80\x02\x82\x00.")), PW_BAD_ARGUMENT);
	/* EXT4 is signed. */
	assert_fails(run(P("\x80\x02\x84\xff\xff\xff\xff.")), PW_BAD_ARGUMENT);
}
END_TEST

/* ---- calls ---- */

START_TEST(reduce_calls_its_callable)
{
	const struct pvm_report *r = run(P("cos\nsystem\n(S'id'\ntR."));

	assert_call(r, 0, "os.system");
	ck_assert_uint_eq(r->calls[0].op, 'R');
}
END_TEST

START_TEST(reduce_on_plain_values_fails)
{
	assert_fails(run(P("K\x01)R.")), PW_TYPE_ERROR);
	assert_fails(run(P("cos\nsystem\nK\x01R.")), PW_TYPE_ERROR);
}
END_TEST

START_TEST(call_of_a_call_result_is_unknown)
{
	const struct pvm_report *r = run(P("cos\nsystem\n)R)R."));

	assert_call(r, 1, NULL);
}
END_TEST

START_TEST(newobj_and_newobj_ex_call_new)
{
	assert_call(run(P("\x80\x02" "ccollections\nOrderedDict\n)\x81.")), 0,
	    "collections.OrderedDict");
	assert_call(run(P("\x80\x04" "ccollections\nOrderedDict\n)}\x92.")), 0,
	    "collections.OrderedDict");
	assert_fails(run(P("\x80\x02K\x01)\x81.")), PW_TYPE_ERROR);
	assert_fails(run(P("\x80\x02" "cx\ny\nK\x01\x81.")), PW_TYPE_ERROR);
	assert_fails(run(P("\x80\x04" "cx\ny\n)K\x01\x92.")), PW_TYPE_ERROR);
}
END_TEST

START_TEST(obj_calls_its_class)
{
	const struct pvm_report *r = run(P("(cos\nsystem\nS'id'\no."));

	assert_call(r, 0, "os.system");
	assert_fails(run(P("(o.")), PW_STACK_UNDERFLOW);
}
END_TEST

START_TEST(build_on_an_instance_calls_setstate)
{
	const struct pvm_report *r = run(P("\x80\x02" "cx\nY\n)\x81}b."));

	assert_call(r, 0, "x.Y");
	assert_call(r, 1, "x.Y.__setstate__");
	ck_assert_uint_eq(r->calls[1].op, 'b');
}
END_TEST

START_TEST(build_on_plain_values_needs_a_none_state)
{
	assert_clean(run(P("]Nb.")));
	assert_clean(run(P("]N}\x86" "b.")));	/* empty slot state */
	assert_fails(run(P("]}b.")), PW_TYPE_ERROR);
	assert_fails(run(P("]NN\x86" "b.")), PW_TYPE_ERROR);
	assert_fails(run(P("]N}K\x01K\x01s\x86" "b.")), PW_TYPE_ERROR);
}
END_TEST

START_TEST(build_whose_state_sets_setstate_makes_next_build_unknown)
{
	/* BUILD (None, {'__setstate__': os.system}) then BUILD 'id'. */
	const struct pvm_report *r = run(P("\x80\x02" "cx\nY\n)\x81N}"
	    "X\x0c\x00\x00\x00__setstate__cos\nsystem\ns\x86" "bX\x02\x00\x00\x00idb."));

	assert_call(r, 1, "x.Y.__setstate__");
	assert_call(r, 2, NULL);
}
END_TEST

START_TEST(build_with_known_keys_keeps_setstate_known)
{
	const struct pvm_report *r = run(P("\x80\x02" "cx\nY\n)\x81}X\x01\x00\x00\x00"
	    "aK\x01sb}b."));

	assert_call(r, 1, "x.Y.__setstate__");
	assert_call(r, 2, "x.Y.__setstate__");
}
END_TEST

/* Every name a default __setstate__ could plant (see plants_a_method),
 * as a key of BUILD's state, makes the next BUILD's call unknown; a key
 * one byte off does not.  The key is followed by few bytes (read as they
 * come) or by many (read in one 16-byte window). */
START_TEST(build_state_keys_that_plant_a_method)
{
	static const char *const names[] = { "add", "extend", "append",
	    "__dict__", "__class__", "__setstate__" };
	static const char short_value[] = "K\x01";
	static const char long_value[] = "X\x10\x00\x00\x00" "0123456789abcdef";
	uint8_t buf[128];
	size_t i, len, n;
	int off_by, value;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
	for (off_by = 0; off_by <= 1; off_by++)
	for (value = 0; value <= 1; value++) {
		const char *v = value ? long_value : short_value;
		size_t v_len = value ? sizeof(long_value) - 1 :
		    sizeof(short_value) - 1;
		const struct pvm_report *r;

		n = strlen(names[i]);
		len = 0;
		memcpy(buf + len, "\x80\x02" "cx\nY\n)\x81}\x8c", 11);
		len += 11;
		buf[len++] = (uint8_t)n;
		memcpy(buf + len, names[i], n);
		buf[len + n - 1] += (uint8_t)off_by;
		len += n;
		memcpy(buf + len, v, v_len);
		len += v_len;
		memcpy(buf + len, "sb}b.", 5);
		len += 5;
		r = run(buf, len);
		ck_assert_msg(r->complete && !r->failed, "%s: %s", names[i],
		    r->n_reasons ? r->reasons[0].detail : "");
		assert_call(r, 1, "x.Y.__setstate__");
		assert_call(r, 2, off_by ? "x.Y.__setstate__" : NULL);
	}
}
END_TEST

START_TEST(appends_on_a_list_calls_nothing)
{
	assert_clean(run(P("](K\x01K\x02" "eK\x03" "a.")));
}
END_TEST

START_TEST(appends_on_an_object_calls_extend)
{
	const struct pvm_report *r = run(P("cx\nY\n)R(K\x01" "e."));

	assert_call(r, 1, "x.Y.extend");
	ck_assert_uint_eq(r->calls[1].op, 'e');
}
END_TEST

START_TEST(empty_appends_and_setitems_call_nothing)
{
	const struct pvm_report *r = run(P("cx\nY\n)R(e(u."));

	ck_assert(r->complete);
	ck_assert_uint_eq(r->n_calls, 1);
}
END_TEST

START_TEST(setitems_into_an_imported_object_is_a_call)
{
	/* os.environ needs no REDUCE to be written. */
	const struct pvm_report *r = run(P("cos\nenviron\n(S'LD_PRELOAD'\n"
	    "S'/tmp/x.so'\nu."));

	assert_import(r, 0, "os", "environ");
	/* Unnamed, so that no rule for instances of an import allows it. */
	assert_call(r, 0, NULL);
	ck_assert_msg(strstr(r->calls[0].why, "imported object itself") !=
	    NULL, "%s", r->calls[0].why);
}
END_TEST

START_TEST(odd_setitems_fails_before_any_call)
{
	const struct pvm_report *r = run(P("cos\nenviron\n(K\x01u."));

	assert_fails(r, PW_TYPE_ERROR);
	ck_assert_uint_eq(r->n_calls, 0);
}
END_TEST

START_TEST(setitem_on_a_list_calls_list_setitem)
{
	assert_call(run(P("]K\x00K\x01s.")), 0, "builtins.list.__setitem__");
	assert_fails(run(P(")K\x00K\x01s.")), PW_TYPE_ERROR);
}
END_TEST

START_TEST(additems_on_a_set_calls_nothing_on_an_object_calls_add)
{
	assert_clean(run(P("\x8f(K\x01\x90.")));
	assert_call(run(P("cx\nY\n)R(K\x01\x90.")), 1, "x.Y.add");
	assert_fails(run(P("](K\x01\x90.")), PW_TYPE_ERROR);
}
END_TEST

START_TEST(unhashable_keys_fail)
{
	assert_fails(run(P("(]K\x01" "d.")), PW_TYPE_ERROR);
	assert_fails(run(P("}]K\x01s.")), PW_TYPE_ERROR);
	assert_fails(run(P("\x8f(]\x90.")), PW_TYPE_ERROR);
	assert_fails(run(P("(]\x85\x91.")), PW_TYPE_ERROR);
}
END_TEST

START_TEST(hashing_an_object_key_calls_its_hash)
{
	assert_call(run(P("(cx\nY\n)RK\x01" "d.")), 1, "x.Y.__hash__");
	assert_call(run(P("}cx\nY\n)R\x85K\x01s.")), 1, NULL);
	assert_call(run(P("\x8f(cx\nY\n)R\x90.")), 1, "x.Y.__hash__");
	assert_clean(run(P("}K\x01\x85K\x01s.")));
}
END_TEST

START_TEST(persistent_ids_call_persistent_load)
{
	assert_call(run(P("Pabc\n.")), 0, "persistent_load");
	assert_call(run(P("P\n.")), 0, "persistent_load");
	assert_call(run(P("K\x01Q.")), 0, "persistent_load");
	assert_fails(run(P("P\xe9\n.")), PW_BAD_ENCODING);
}
END_TEST

START_TEST(buffers_are_calls_or_type_checks)
{
	assert_call(run(P("\x97.")), 0, "pickle.buffers.__next__");
	assert_clean(run(P("C\x01x\x98.")));
	assert_fails(run(P("K\x01\x98.")), PW_TYPE_ERROR);
}
END_TEST

/* ---- memo ---- */

START_TEST(memo_last_write_wins)
{
	const struct pvm_report *r = run(P("\x80\x04\x8c\x02osq\x00\x8c\x02" "abq\x00"
	    "0h\x00\x8c\x06system\x93."));

	assert_import(r, 0, "ab", "system");
}
END_TEST

START_TEST(pop_does_not_touch_the_memo)
{
	assert_import(run(P("\x80\x04\x8c\x02osq\x05" "0h\x05\x8c\x06system\x93.")),
	    0, "os", "system");
}
END_TEST

START_TEST(memoize_stores_at_the_number_of_occupied_slots)
{
	/* PUT 100 then MEMOIZE stores at 1, not 101. */
	const struct pvm_report *r = run(P("\x80\x04\x8c\x01" "aq\x64\x8c\x02os"
	    "\x94" "0h\x01\x8c\x06system\x93."));

	assert_import(r, 0, "os", "system");
	assert_fails(run(P("\x80\x04\x8c\x01" "aq\x64\x8c\x02os\x94" "0he.")),
	    PW_MEMO_MISSING);
}
END_TEST

START_TEST(text_put_index_parses_like_int)
{
	assert_import(run(P("Vos\np 7\n0g7\nVsystem\n\x93.")), 0, "os", "system");
	assert_import(run(P("Vos\np+0_7\n0g007\nVsystem\n\x93.")), 0, "os",
	    "system");
	assert_import(run(P("Vos\np7\0junk\n0g7\nVsystem\n\x93.")), 0, "os",
	    "system");
	assert_fails(run(P("Vos\np0x10\n.")), PW_BAD_ARGUMENT);
	assert_fails(run(P("Vos\np-1\n.")), PW_BAD_ARGUMENT);
	assert_fails(run(P("Vos\np1__0\n.")), PW_BAD_ARGUMENT);
}
END_TEST

START_TEST(sparse_memo_indices_use_a_map)
{
	assert_import(run(P("\x80\x04\x8c\x02osr\xfe\xff\x3f\x00" "0j\xfe\xff\x3f\x00"
	    "\x8c\x06system\x93.")), 0, "os", "system");
}
END_TEST

START_TEST(memo_index_above_the_limit_fails)
{
	/* The backend would allocate a memo array of twice the index. */
	assert_fails(run(P("Nr\xff\xff\xff\xff.")), PW_LIMIT_MEMO);
}
END_TEST

START_TEST(get_of_a_missing_index_fails)
{
	assert_fails(run(P("h\x03.")), PW_MEMO_MISSING);
	assert_fails(run(P("g3\n.")), PW_MEMO_MISSING);
}
END_TEST

START_TEST(per_message_memo_starts_empty)
{
	run(P("\x80\x04\x8c\x02os\x94."));
	assert_fails(run(P("\x80\x04h\x00\x8c\x06system\x93.")), PW_MEMO_MISSING);
}
END_TEST

START_TEST(persistent_memo_carries_over)
{
	struct pvm *p = pvm_new(NULL, PVM_MEMO_PERSISTENT);
	const struct pvm_report *r;

	r = run_on(p, P("\x80\x04\x8c\x02os\x94."));
	ck_assert(r->complete);
	/* MEMOIZE stores at memo_len, which counts the first pickle's entry. */
	r = run_on(p, P("\x80\x04\x8c\x01x\x94" "0h\x00\x8c\x06system\x93."));
	assert_import(r, 0, "os", "system");
	r = run_on(p, P("h\x01."));
	ck_assert(r->complete);
	pvm_free(p);
}
END_TEST

/* ---- a server that reads on after an error (pvm_set_resume) ---- */

static struct pvm *
resuming(enum pvm_memo_model model)
{
	struct pvm *p = pvm_new(NULL, model);

	ck_assert_ptr_nonnull(p);
	pvm_set_resume(p, true);
	return p;
}

START_TEST(resume_memoize_after_a_call_is_stale_in_later_pickles)
{
	/* CPython: if m.fail raises, the server resumes at the MEMOIZE with
	 * an empty stack, which fails; 'q' lands at index 3, not 4. */
	struct pvm *p = resuming(PVM_MEMO_PERSISTENT);
	const struct pvm_report *r;

	r = run_on(p, P("\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x86."));
	ck_assert(r->complete && !r->may_fail);
	r = run_on(p, P("\x80\x04\x8c\x01m\x94\x8c\x04" "fail\x94\x93)R\x94"
	    "\x8c\x01q\x94" "0h\x02."));
	ck_assert(r->complete && r->may_fail);
	ck_assert_uint_eq(r->may_fail_pos, 13);	/* the STACK_GLOBAL */
	/* Entries from before the first possible failure are exact ... */
	r = run_on(p, P("\x80\x04h\x00h\x01\x93."));
	assert_import(r, 0, "os", "system");
	/* ... those from after it are not. */
	r = run_on(p, P("\x80\x04h\x05h\x00\x93."));
	ck_assert_uint_eq(r->n_imports, 1);
	ck_assert(!r->imports[0].module_known);
	r = run_on(p, P("\x80\x04h\x05)R."));
	assert_call(r, 0, NULL);
	ck_assert(strstr(r->calls[0].why, "memo entry") != NULL);
	pvm_free(p);
}
END_TEST

START_TEST(resume_off_keeps_the_exact_memo)
{
	struct pvm *p = pvm_new(NULL, PVM_MEMO_PERSISTENT);
	const struct pvm_report *r;

	r = run_on(p, P("\x80\x04\x8c\x01m\x94\x8c\x04" "fail\x94\x93\x94)R."));
	ck_assert(!r->may_fail);
	r = run_on(p, P("\x80\x04h\x02)R."));
	assert_call(r, 0, "m.fail");
	pvm_free(p);
}
END_TEST

START_TEST(resume_put_after_a_call_is_stale_within_the_pickle)
{
	/* The PUT 0 after the call may run on an empty stack and leave 'os'
	 * at 0; the GET must not be read as 'logging'. */
	struct pvm *p = resuming(PVM_MEMO_PERSISTENT);
	const struct pvm_report *r;

	r = run_on(p, P("\x80\x02\x8c\x02osq\x00" "0cm\nfail\n)R"
	    "\x8c\x07loggingq\x00" "0h\x00\x8c\x09getLogger\x93."));
	ck_assert_uint_eq(r->n_imports, 2);
	assert_import(r, 0, "m", "fail");
	ck_assert(!r->imports[1].module_known);
	/* Exact again for a pickle with no import or call in between. */
	r = run_on(p, P("\x80\x02\x8c\x07loggingq\x00" "0h\x00"
	    "\x8c\x09getLogger\x93."));
	assert_import(r, 0, "logging", "getLogger");
	pvm_free(p);
}
END_TEST

START_TEST(resume_reads_later_imports_at_protocol_0_too)
{
	struct pvm *p = resuming(PVM_MEMO_PER_MESSAGE);
	const struct pvm_report *r;

	/* After a possible failure, a resumed load() is at protocol 0 and
	 * maps __builtin__.xrange to builtins.range. */
	r = run_on(p, P("\x80\x04\x8c\x01m\x8c\x04" "fail\x93)R"
	    "c__builtin__\nxrange\n)R."));
	ck_assert_uint_eq(r->n_imports, 3);
	assert_import(r, 1, "__builtin__", "xrange");
	ck_assert_uint_eq(r->imports[1].protocol, 4);
	assert_import(r, 2, "builtins", "range");
	ck_assert_uint_eq(r->imports[2].protocol, 0);
	ck_assert(r->imports[2].remapped);
	/* Which of the two is called is unknown. */
	assert_call(r, 1, NULL);
	/* Before any import or call, and for names no mapping touches,
	 * there is one reading. */
	r = run_on(p, P("\x80\x04" "c__builtin__\nxrange\n"
	    "\x8c\x01m\x8c\x04" "fail\x93)R" "cdatetime\ndate\n."));
	ck_assert_uint_eq(r->n_imports, 3);
	assert_import(r, 0, "__builtin__", "xrange");
	assert_import(r, 2, "datetime", "date");
	pvm_free(p);
}
END_TEST

START_TEST(resume_inst_after_a_possible_failure_cannot_be_followed)
{
	/* load_inst looks for its MARK before it reads its lines: a server
	 * that resumed after m.fail raised has none, and runs the lines. */
	struct pvm *p = resuming(PVM_MEMO_PERSISTENT);
	const struct pvm_report *r;

	r = run_on(p, P("\x80\x04(\x8c\x01m\x8c\x04" "fail\x93)R" "icos\nsystem\n."));
	ck_assert(r->resume_lost && r->complete);
	ck_assert_uint_eq(r->resume_lost_pos, 15);
	/* The analysis goes on as for a server that did not resume. */
	assert_import(r, 1, "cos", "system");
	/* The first INST of a pickle is an import and a call like others. */
	r = run_on(p, P("(im\nX\n."));
	ck_assert(r->complete && !r->failed && !r->resume_lost);
	assert_call(r, 0, "m.X");
	pvm_free(p);
}
END_TEST

START_TEST(resume_fresh_unpickler_memoizes_from_0_again)
{
	/* A fresh Unpickler per pickle over a file without peek resumes
	 * after m.fail with an empty memo: its first MEMOIZE is index 0. */
	struct pvm *p = resuming(PVM_MEMO_PER_MESSAGE);
	const struct pvm_report *r;

	r = run_on(p, P("\x80\x04\x8c\x04safe\x94\x8c\x01m\x8c\x04" "fail\x93)R0"
	    "\x8c\x02os\x94" "0h\x00\x8c\x06system\x93."));
	ck_assert_uint_eq(r->n_imports, 2);
	ck_assert(!r->imports[1].module_known);
	/* Without resumption, index 0 is 'safe'. */
	pvm_set_resume(p, false);
	r = run_on(p, P("\x80\x04\x8c\x04safe\x94\x8c\x01m\x8c\x04" "fail\x93)R0"
	    "\x8c\x02os\x94" "0h\x00\x8c\x06system\x93."));
	assert_import(r, 1, "safe", "system");
	pvm_free(p);
}
END_TEST

START_TEST(empty_names_have_no_shape)
{
	/* find_class receives ('', '') and may return anything: the import
	 * is reported, and what it returned has no module:qualname. */
	const struct pvm_report *r = run(P("\x80\x04\x8c\x00\x8c\x00\x93)R."));

	ck_assert_uint_eq(r->n_imports, 1);
	assert_args(r, 0, "()");
	r = run(P("\x80\x04\x8c\x01m\x8c\x01" "f\x93\x8c\x00\x8c\x01x\x93\x85R."));
	assert_args(r, 0, "(?,)");
}
END_TEST

START_TEST(global_module_line_fails_before_the_name_line)
{
	/* load_global decodes the module before it reads the name: a
	 * resumed server reads the name line as opcodes, so the analysis
	 * ends there too, not at a truncation further on. */
	const struct pvm_report *r = run(P("ca\x80\n\x8c\x02os\x8c\x06system\x93."));

	assert_fails(r, PW_BAD_ENCODING);
	ck_assert_uint_eq(r->reasons[0].pos, 0);
	ck_assert_uint_eq(r->length, 4);
	assert_fails(run(P("c\nos\nsystem\n.")), PW_BAD_ARGUMENT);
	ck_assert_uint_eq(pvm_report(vm)->length, 2);
	assert_fails(run(P("(i\xc3\xa9\nX\n.")), PW_BAD_ENCODING);
	/* load_inst looks for its MARK first, then reads the lines. */
	assert_fails(run(P("ios\nsystem\n.")), PW_MARK_MISSING);
	ck_assert_uint_eq(pvm_report(vm)->length, 1);
}
END_TEST

START_TEST(resume_leaves_pure_data_alone)
{
	struct pvm *p = resuming(PVM_MEMO_PERSISTENT);
	const struct pvm_report *r;

	r = run_on(p, P("\x80\x04]\x94(\x8c\x01" "a\x94h\x01h\x00" "e."));
	assert_clean(r);
	ck_assert(!r->may_fail);
	r = run_on(p, P("\x80\x04h\x01h\x01\x86."));
	assert_clean(r);
	pvm_free(p);
}
END_TEST

START_TEST(resume_whole_equals_byte_by_byte)
{
	/* The fast paths hand the inexact memo to the handlers. */
	static const char first[] = "\x80\x04\x8c\x01m\x94\x8c\x04" "fail"
	    "\x94\x93)R\x94\x8c\x01q\x94h\x02h\x00\x86.";
	static const char second[] = "\x80\x04h\x03h\x00\x93.";
	/* Exact pickles write real values at stale indices (4 here): a GET
	 * of one is stale all the same. */
	static const char third[] = "\x80\x04\x8c\x02os\x94.";
	static const char fourth[] = "\x80\x04h\x04h\x00\x93.";
	const struct { const char *p; size_t n; } msgs[] = {
		{ first, sizeof(first) - 1 }, { second, sizeof(second) - 1 },
		{ third, sizeof(third) - 1 }, { fourth, sizeof(fourth) - 1 },
	};
	struct pvm *a = resuming(PVM_MEMO_PERSISTENT);
	struct pvm *b = resuming(PVM_MEMO_PERSISTENT);
	const struct pvm_report *ra = NULL, *rb;
	size_t k, i, used;

	for (k = 0; k < sizeof(msgs) / sizeof(msgs[0]); k++) {
		ra = run_on(a, (const uint8_t *)msgs[k].p, msgs[k].n);
		pvm_begin(b);
		for (i = 0; i < msgs[k].n; i++)
			if (pvm_feed(b, (const uint8_t *)msgs[k].p + i, 1,
			    &used) != PVM_NEED_MORE)
				break;
		rb = pvm_report(b);
		ck_assert(ra->complete && rb->complete);
		ck_assert_uint_eq(ra->n_imports, rb->n_imports);
		ck_assert_uint_eq(ra->n_calls, rb->n_calls);
		for (i = 0; i < ra->n_imports; i++)
			ck_assert_uint_eq(ra->imports[i].module_known,
			    rb->imports[i].module_known);
	}
	/* The last pickle's module comes from a stale entry. */
	ck_assert_uint_eq(ra->n_imports, 1);
	ck_assert(!ra->imports[0].module_known);
	assert_import(ra, 0, "*", "m");
	pvm_free(a);
	pvm_free(b);
}
END_TEST

START_TEST(persistent_memo_stream_runs_in_bounded_memory)
{
	/* Each pickle overwrites memo 0, as a CPython pickler's stream does:
	 * what the memo no longer reaches must be freed. */
	struct pvm_limits lim = { .max_analysis_bytes = 2 << 20 };
	struct pvm *p = pvm_new(&lim, PVM_MEMO_PERSISTENT);
	const struct pvm_report *r;
	int i;

	for (i = 0; i < 20000; i++) {
		r = run_on(p, P("\x80\x02]q\x00(X\x02\x00\x00\x00osq\x01"
		    "X\x40\x00\x00\x00xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxe."));
		ck_assert_msg(r->complete, "pickle %d: %s", i,
		    r->n_reasons ? r->reasons[0].detail : "");
	}
	/* The value kept under index 1 survived every compaction. */
	r = run_on(p, P("\x80\x04h\x01\x8c\x06system\x93."));
	assert_import(r, 0, "os", "system");
	pvm_free(p);
}
END_TEST

/* ---- stack and marks ---- */

START_TEST(marks_fence_the_stack)
{
	assert_fails(run(P("cos\nsystem\n(S'id'\n(R.")), PW_STACK_UNDERFLOW);
	assert_fails(run(P("Vos\nVsystem\n(\x93.")), PW_STACK_UNDERFLOW);
	assert_fails(run(P("K\x01(\x85.")), PW_STACK_UNDERFLOW);
	assert_fails(run(P("K\x01(2.")), PW_STACK_UNDERFLOW);
	assert_fails(run(P("]N(b.")), PW_STACK_UNDERFLOW);
	assert_fails(run(P("K\x01(p0\n.")), PW_STACK_UNDERFLOW);
}
END_TEST

START_TEST(pop_removes_a_mark_on_top)
{
	assert_clean(run(P("K\x01(0.")));
}
END_TEST

START_TEST(stop_with_open_marks_is_accepted)
{
	assert_clean(run(P("(K\x01.")));
	assert_fails(run(P("K\x01(.")), PW_STACK_UNDERFLOW);
}
END_TEST

START_TEST(missing_mark_fails)
{
	assert_fails(run(P("K\x01t.")), PW_MARK_MISSING);
	assert_fails(run(P("1.")), PW_MARK_MISSING);
}
END_TEST

START_TEST(empty_stack_at_stop_fails)
{
	assert_fails(run(P(".")), PW_STACK_UNDERFLOW);
}
END_TEST

/* ---- framing, lengths, ends ---- */

START_TEST(honest_frames_are_accepted)
{
	assert_clean(run(P("\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x01.")));
	/* Unframed data between frames, as the pickler writes big bytes. */
	assert_clean(run(P("\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00]("
	    "C\x01x\x95\x02\x00\x00\x00\x00\x00\x00\x00" "e.")));
}
END_TEST

START_TEST(frames_that_straddle_nest_or_outlive_stop_are_lying)
{
	assert_fails(run(P("\x80\x04\x95\x01\x00\x00\x00\x00\x00\x00\x00K\x01.")),
	    PW_LYING_FRAME);
	assert_fails(run(P("\x95\x0a\x00\x00\x00\x00\x00\x00\x00\x95\x01\x00"
	    "\x00\x00\x00\x00\x00\x00N.")), PW_LYING_FRAME);
	assert_fails(run(P("\x95\x03\x00\x00\x00\x00\x00\x00\x00N.N")),
	    PW_LYING_FRAME);
	assert_fails(run(P("\x95\x02\x00\x00\x00\x00\x00\x00\x00" "C\x05" "abcde.")),
	    PW_LYING_FRAME);
}
END_TEST

START_TEST(binstring_length_is_unsigned)
{
	/* 0xffffffff is 4 GiB to CPython's C reader, not -1. */
	assert_fails(run(P("T\xff\xff\xff\xff" "abc.")), PW_LIMIT_MESSAGE_BYTES);
}
END_TEST

START_TEST(negative_long4_length_fails)
{
	assert_fails(run(P("\x8b\xff\xff\xff\xff.")), PW_BAD_ARGUMENT);
	assert_clean(run(P("\x8a\x00.")));
}
END_TEST

START_TEST(eight_byte_length_above_ssize_max_fails)
{
	assert_fails(run(P("\x8e\x00\x00\x00\x00\x00\x00\x00\x80.")),
	    PW_BAD_ARGUMENT);
}
END_TEST

START_TEST(bytes_length_beyond_the_message_limit_fails_at_once)
{
	struct pvm_limits lim = { .max_message_bytes = 1024 };
	struct pvm *p = pvm_new(&lim, PVM_MEMO_PER_MESSAGE);
	size_t used;

	pvm_begin(p);
	/* Fails on the header, before 2 MiB ever arrive. */
	ck_assert_int_eq(pvm_feed(p, P("B\x00\x00\x20\x00"), &used), PVM_FAILED);
	ck_assert_uint_eq(pvm_report(p)->reasons[0].code, PW_LIMIT_MESSAGE_BYTES);
	pvm_free(p);
}
END_TEST

START_TEST(truncated_input_fails_at_finish)
{
	assert_fails(run(P("(K\x01")), PW_TRUNCATED);
	assert_fails(run(P("")), PW_TRUNCATED);
	assert_fails(run(P("B\x05\x00\x00\x00" "ab")), PW_TRUNCATED);
}
END_TEST

START_TEST(unknown_opcode_fails)
{
	assert_fails(run(P("\xff.")), PW_UNKNOWN_OPCODE);
}
END_TEST

START_TEST(stop_ends_the_message_and_leaves_the_rest)
{
	size_t used;

	pvm_begin(vm);
	ck_assert_int_eq(pvm_feed(vm, P("N.garbage"), &used), PVM_DONE);
	ck_assert_uint_eq(used, 2);
	ck_assert_uint_eq(pvm_report(vm)->length, 2);
}
END_TEST

/* ---- limits ---- */

START_TEST(limits_stop_the_analysis)
{
	struct pvm_limits lim = { .max_stack_depth = 2, .max_nesting = 2,
	    .max_memo_entries = 4 };
	struct pvm_limits few_ops = { .max_opcodes = 3 };
	struct pvm *p = pvm_new(&lim, PVM_MEMO_PER_MESSAGE);
	struct pvm *q = pvm_new(&few_ops, PVM_MEMO_PER_MESSAGE);

	assert_fails(run_on(p, P("NNN")), PW_LIMIT_STACK_DEPTH);
	assert_fails(run_on(p, P("(((")), PW_LIMIT_NESTING);
	assert_fails(run_on(p, P("Nq\x04.")), PW_LIMIT_MEMO);
	assert_fails(run_on(p, P("K\x01\x85\x85\x85.")), PW_LIMIT_NESTING);
	assert_fails(run_on(q, P("NN0N0.")), PW_LIMIT_OPCODES);
	pvm_free(p);
	pvm_free(q);
}
END_TEST

START_TEST(analysis_memory_is_bounded)
{
	struct pvm_limits lim = { .max_analysis_bytes = 256 * 1024 };
	struct pvm *p = pvm_new(&lim, PVM_MEMO_PER_MESSAGE);
	size_t n = 200000, i, used;
	uint8_t *b = malloc(n + 2);

	/* 100,000 empty dicts, each its own object: more than 256 KiB of
	 * analysis state, from 200 KB of pickle. */
	b[0] = '(';
	for (i = 1; i < n; i++)
		b[i] = '}';
	b[n] = 't';
	b[n + 1] = '.';
	pvm_begin(p);
	ck_assert_int_eq(pvm_feed(p, b, n + 2, &used), PVM_FAILED);
	ck_assert_uint_eq(pvm_report(p)->reasons[0].code,
	    PW_LIMIT_ANALYSIS_MEMORY);
	free(b);
	pvm_free(p);
}
END_TEST

/* ---- streaming ---- */

static const struct {
	const char *bytes;
	size_t len;
} stream_cases[] = {
#define C(lit) { lit, sizeof(lit) - 1 }
	C("\x80\x04\x95\x1c\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system"
	  "\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94."),
	C("(lp0\nI1\naF2.5\naS'a\\x41'\np1\naV\\u00e9\naNa(dp2\nI1\nI2\nsa."),
	C("\x80\x02" "cx\nY\n)\x81N}X\x0c\x00\x00\x00__setstate__cos\nsystem\ns\x86"
	  "bX\x02\x00\x00\x00idb."),
	C("\x80\x05\x96\x03\x00\x00\x00\x00\x00\x00\x00" "abc\x98X\x03\x00\x00\x00"
	  "\xed\xa0\x80\x86."),
#undef C
};

static void
report_equal(const struct pvm_report *a, const struct pvm_report *b)
{
	size_t i;

	ck_assert_int_eq(a->complete, b->complete);
	ck_assert_int_eq(a->failed, b->failed);
	ck_assert_uint_eq(a->length, b->length);
	ck_assert_uint_eq(a->opcodes, b->opcodes);
	ck_assert_uint_eq(a->n_imports, b->n_imports);
	ck_assert_uint_eq(a->n_calls, b->n_calls);
	ck_assert_uint_eq(a->n_reasons, b->n_reasons);
	for (i = 0; i < a->n_imports; i++) {
		ck_assert_uint_eq(a->imports[i].pos, b->imports[i].pos);
		ck_assert(a->imports[i].name.len == b->imports[i].name.len &&
		    memcmp(a->imports[i].name.ptr, b->imports[i].name.ptr,
		    a->imports[i].name.len) == 0);
	}
	for (i = 0; i < a->n_calls; i++)
		ck_assert_uint_eq(a->calls[i].pos, b->calls[i].pos);
}

START_TEST(any_split_of_the_input_gives_the_same_report)
{
	struct pvm *whole = pvm_new(NULL, PVM_MEMO_PER_MESSAGE);
	const uint8_t *b = (const uint8_t *)stream_cases[_i].bytes;
	size_t len = stream_cases[_i].len, chunk, off, used;

	run_on(whole, b, len);
	for (chunk = 1; chunk <= 7; chunk++) {
		pvm_begin(vm);
		for (off = 0; off < len; off += used) {
			size_t n = len - off < chunk ? len - off : chunk;

			if (pvm_feed(vm, b + off, n, &used) != PVM_NEED_MORE) {
				off += used;
				break;
			}
		}
		report_equal(pvm_report(vm), pvm_report(whole));
	}
	pvm_free(whole);
}
END_TEST

static Suite *
pvm_suite(void)
{
	Suite *s = suite_create("pvm");
	TCase *tc = tcase_create("pvm");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, table_has_the_68_opcodes_of_pickletools);
	tcase_add_test(tc, int_text_of_two_characters_worth_0_or_1_is_a_bool);
	tcase_add_test(tc, small_ints_keep_their_value_and_others_show_int);
	tcase_add_test(tc, args_shape_names_classes_instances_and_short_strings);
	tcase_add_test(tc, persistent_id_text_is_the_pid);
	tcase_add_test(tc, resume_memoize_after_a_call_is_stale_in_later_pickles);
	tcase_add_test(tc, resume_off_keeps_the_exact_memo);
	tcase_add_test(tc, resume_put_after_a_call_is_stale_within_the_pickle);
	tcase_add_test(tc, resume_reads_later_imports_at_protocol_0_too);
	tcase_add_test(tc, resume_leaves_pure_data_alone);
	tcase_add_test(tc, global_module_line_fails_before_the_name_line);
	tcase_add_test(tc, empty_names_have_no_shape);
	tcase_add_test(tc, resume_inst_after_a_possible_failure_cannot_be_followed);
	tcase_add_test(tc, resume_fresh_unpickler_memoizes_from_0_again);
	tcase_add_test(tc, resume_whole_equals_byte_by_byte);
	tcase_add_test(tc, op_length_covers_lines_and_counted_data);
	tcase_add_test(tc, protocol_0_data_is_clean);
	tcase_add_test(tc, protocol_5_data_is_clean);
	tcase_add_test(tc, int_text_forms_follow_strtol_then_int);
	tcase_add_test(tc, int_with_more_than_4300_digits_fails);
	tcase_add_test(tc, long_strips_one_trailing_L);
	tcase_add_test(tc, float_text_forms_follow_pyos_string_to_double);
	tcase_add_test(tc, string_must_be_quoted_and_ascii);
	tcase_add_test(tc, binunicode_allows_lone_surrogates_but_not_bad_utf8);
	tcase_add_test(tc, unicode_rejects_truncated_escape);
	tcase_add_test(tc, utf8_check_whole_equals_byte_by_byte);
	tcase_add_test(tc, global_is_an_import);
	tcase_add_test(tc, global_at_protocol_below_3_is_remapped);
	tcase_add_test(tc, global_at_protocol_3_is_not_remapped);
	tcase_add_test(tc, proto_mid_stream_decides_the_mapping);
	tcase_add_test(tc, proto_above_5_fails);
	tcase_add_test(tc, global_lines_are_utf8_and_not_stripped);
	tcase_add_test(tc, stack_global_takes_any_string_opcode);
	tcase_add_test(tc, stack_global_works_without_proto);
	tcase_add_test(tc, stack_global_operand_from_a_call_is_unknown);
	tcase_add_test(tc, stack_global_operand_from_a_module_attribute_is_unknown);
	tcase_add_test(tc, stack_global_of_non_str_fails);
	tcase_add_test(tc,
	    stack_global_with_unknown_name_at_protocol_2_keeps_known_module);
	tcase_add_test(tc, stack_global_long_string_is_unknown);
	tcase_add_test(tc, dotted_name_at_protocol_4_is_an_attribute_walk);
	tcase_add_test(tc, inst_imports_then_calls);
	tcase_add_test(tc, ext_codes_are_unknown_imports);
	tcase_add_test(tc, reduce_calls_its_callable);
	tcase_add_test(tc, reduce_on_plain_values_fails);
	tcase_add_test(tc, call_of_a_call_result_is_unknown);
	tcase_add_test(tc, newobj_and_newobj_ex_call_new);
	tcase_add_test(tc, obj_calls_its_class);
	tcase_add_test(tc, build_on_an_instance_calls_setstate);
	tcase_add_test(tc, build_on_plain_values_needs_a_none_state);
	tcase_add_test(tc, build_whose_state_sets_setstate_makes_next_build_unknown);
	tcase_add_test(tc, build_state_keys_that_plant_a_method);
	tcase_add_test(tc, build_with_known_keys_keeps_setstate_known);
	tcase_add_test(tc, appends_on_a_list_calls_nothing);
	tcase_add_test(tc, appends_on_an_object_calls_extend);
	tcase_add_test(tc, empty_appends_and_setitems_call_nothing);
	tcase_add_test(tc, setitems_into_an_imported_object_is_a_call);
	tcase_add_test(tc, odd_setitems_fails_before_any_call);
	tcase_add_test(tc, setitem_on_a_list_calls_list_setitem);
	tcase_add_test(tc, additems_on_a_set_calls_nothing_on_an_object_calls_add);
	tcase_add_test(tc, unhashable_keys_fail);
	tcase_add_test(tc, hashing_an_object_key_calls_its_hash);
	tcase_add_test(tc, persistent_ids_call_persistent_load);
	tcase_add_test(tc, buffers_are_calls_or_type_checks);
	tcase_add_test(tc, memo_last_write_wins);
	tcase_add_test(tc, pop_does_not_touch_the_memo);
	tcase_add_test(tc, memoize_stores_at_the_number_of_occupied_slots);
	tcase_add_test(tc, text_put_index_parses_like_int);
	tcase_add_test(tc, sparse_memo_indices_use_a_map);
	tcase_add_test(tc, memo_index_above_the_limit_fails);
	tcase_add_test(tc, get_of_a_missing_index_fails);
	tcase_add_test(tc, per_message_memo_starts_empty);
	tcase_add_test(tc, persistent_memo_carries_over);
	tcase_add_test(tc, persistent_memo_stream_runs_in_bounded_memory);
	tcase_add_test(tc, marks_fence_the_stack);
	tcase_add_test(tc, pop_removes_a_mark_on_top);
	tcase_add_test(tc, stop_with_open_marks_is_accepted);
	tcase_add_test(tc, missing_mark_fails);
	tcase_add_test(tc, empty_stack_at_stop_fails);
	tcase_add_test(tc, honest_frames_are_accepted);
	tcase_add_test(tc, frames_that_straddle_nest_or_outlive_stop_are_lying);
	tcase_add_test(tc, binstring_length_is_unsigned);
	tcase_add_test(tc, negative_long4_length_fails);
	tcase_add_test(tc, eight_byte_length_above_ssize_max_fails);
	tcase_add_test(tc, bytes_length_beyond_the_message_limit_fails_at_once);
	tcase_add_test(tc, truncated_input_fails_at_finish);
	tcase_add_test(tc, unknown_opcode_fails);
	tcase_add_test(tc, stop_ends_the_message_and_leaves_the_rest);
	tcase_add_test(tc, limits_stop_the_analysis);
	tcase_add_test(tc, analysis_memory_is_bounded);
	tcase_add_loop_test(tc, any_split_of_the_input_gives_the_same_report, 0,
	    (int)(sizeof(stream_cases) / sizeof(stream_cases[0])));
	suite_add_tcase(s, tc);
	return s;
}

UNIT_SUITE(pvm_suite)
