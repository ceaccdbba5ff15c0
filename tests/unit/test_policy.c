/*
 * Rule files and decisions (rules/REFERENCE.md), one behaviour per test.
 *
 * Every policy here is built from rule text written out in the test, with
 * our own ids; the denylist layer is only relied on for os.system, which
 * any gadget list denies.  Findings are built by hand as the pvm would
 * report them, so that each test shows exactly what is decided.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"
#include "unit.h"

/* Opcode bytes, as in pickletools. */
#define OP_REDUCE	0x52	/* R */
#define OP_NEWOBJ	0x81
#define OP_BUILD	0x62	/* b */
#define OP_SETITEMS	0x75	/* u */
#define OP_PERSID	0x50	/* P */
#define OP_BINPERSID	0x51	/* Q */
#define OP_GLOBAL	0x63	/* c */
#define OP_STACK_GLOBAL	0x93
#define OP_EXT1		0x82

/* The options every test rule needs; msg "rN" names the rule in details. */
#define O(id) " (id: " #id "; rev: 1; msg: \"r" #id "\"; severity: info;)"

#define RULES_NAME "t.rules"

/* ---- loading --------------------------------------------------------- */

#define MAX_DIAGS 8

struct diag_copy {
	bool warning;
	bool has_file;
	char file[512];
	unsigned line, col;
	char message[512];
};

struct diags {
	size_t n, n_errors, n_warnings;
	struct diag_copy d[MAX_DIAGS];
};

static void
collect_diag(void *cookie, const struct policy_diag *d)
{
	struct diags *ds = cookie;
	struct diag_copy *c;

	if (d->warning)
		ds->n_warnings++;
	else
		ds->n_errors++;
	if (ds->n == MAX_DIAGS)
		return;
	c = &ds->d[ds->n++];
	c->warning = d->warning;
	c->has_file = d->file != NULL;
	snprintf(c->file, sizeof(c->file), "%s",
	    d->file != NULL ? d->file : "");
	c->line = d->line;
	c->col = d->col;
	snprintf(c->message, sizeof(c->message), "%s", d->message);
}

/* Load ${text} as file t.rules with ${flags}; diagnostics go to ${ds}. */
static struct policy *
load_flags(const char *text, unsigned flags, struct diags *ds)
{
	memset(ds, 0, sizeof(*ds));
	return policy_load_text(RULES_NAME, text, strlen(text), flags,
	    collect_diag, ds);
}

static struct policy *
load_ok(const char *text)
{
	struct diags ds;
	struct policy *p = load_flags(text, 0, &ds);

	ck_assert_msg(p != NULL, "load failed: %s:%u:%u: %s", ds.d[0].file,
	    ds.d[0].line, ds.d[0].col, ds.d[0].message);
	ck_assert_uint_eq(ds.n_errors, 0);
	return p;
}

/*
 * Loading ${text} fails with exactly one error, at ${line}:${col} of
 * t.rules, whose message starts with ${message}.
 */
static void
assert_load_error(const char *text, unsigned line, unsigned col,
    const char *message)
{
	struct diags ds;
	struct policy *p = load_flags(text, 0, &ds);
	const struct diag_copy *e = &ds.d[ds.n > 0 ? ds.n - 1 : 0];
	bool loaded = p != NULL;

	/* Freed first: a failed assertion leaves no leak behind. */
	policy_free(p);
	ck_assert_msg(!loaded, "\"%s\" loaded", text);
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert(!e->warning);
	ck_assert_str_eq(e->file, RULES_NAME);
	ck_assert_str_starts(e->message, message);
	ck_assert_msg(e->line == line && e->col == col,
	    "error at %u:%u, expected %u:%u (%s)", e->line, e->col, line, col,
	    e->message);
}

/*
 * Loading ${text} succeeds with exactly one warning, at ${line}:${col},
 * whose message is ${message}.
 */
static void
assert_load_warning(const char *text, unsigned line, unsigned col,
    const char *message)
{
	struct diags ds;
	struct policy *p = load_flags(text, 0, &ds);
	bool loaded = p != NULL;

	/* Freed first: a failed assertion leaves no leak behind. */
	policy_free(p);
	ck_assert(loaded);
	ck_assert_uint_eq(ds.n_errors, 0);
	ck_assert_uint_eq(ds.n_warnings, 1);
	ck_assert(ds.d[0].warning);
	ck_assert_str_eq(ds.d[0].file, RULES_NAME);
	ck_assert_str_eq(ds.d[0].message, message);
	ck_assert_msg(ds.d[0].line == line && ds.d[0].col == col,
	    "warning at %u:%u, expected %u:%u", ds.d[0].line, ds.d[0].col,
	    line, col);
}

static void
assert_loads_without_warning(const char *text)
{
	struct diags ds;
	struct policy *p = load_flags(text, 0, &ds);
	bool loaded = p != NULL;

	policy_free(p);
	ck_assert(loaded);
	ck_assert_uint_eq(ds.n_errors, 0);
	ck_assert_msg(ds.n_warnings == 0, "unexpected warning: %s",
	    ds.d[0].message);
}

/* ---- rule files on disk, for include ---------------------------------- */

struct rule_dir {
	char path[64];
	char files[8][128];
	size_t n_files;
};

static void
dir_make(struct rule_dir *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "/tmp/pw-test-policy-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->path));
}

/* Write ${text} to ${name} in ${d}; returns its path (owned by ${d}). */
static const char *
dir_write(struct rule_dir *d, const char *name, const char *text)
{
	char *path = d->files[d->n_files++];
	char joined[sizeof(d->files[0])];
	FILE *f;

	snprintf(joined, sizeof(joined), "%s/%s", d->path, name);
	memcpy(path, joined, sizeof(joined));
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static void
dir_remove(struct rule_dir *d)
{
	size_t i;

	for (i = 0; i < d->n_files; i++)
		unlink(d->files[i]);
	rmdir(d->path);
}

/* ---- findings --------------------------------------------------------- */

#define MAX_ITEMS 16

/* One message's findings, built by hand. */
struct message {
	struct pvm_import imports[MAX_ITEMS];
	struct pvm_call calls[MAX_ITEMS];
	struct pvm_reason reasons[MAX_ITEMS];
	char callables[MAX_ITEMS][128];
	struct policy_findings f;
};

static struct pvm_str
str_of(const char *z)
{
	struct pvm_str s = { z, z != NULL ? strlen(z) : 0 };

	return s;
}

static void
message_init(struct message *m, int protocol, uint64_t length)
{
	memset(m, 0, sizeof(*m));
	m->f.protocol = protocol;
	m->f.length = length;
	m->f.imports = m->imports;
	m->f.calls = m->calls;
	m->f.reasons = m->reasons;
}

/* A GLOBAL import of ${module} ${name} at offset 10 * (its index + 1). */
static struct pvm_import *
add_import(struct message *m, const char *module, const char *name)
{
	struct pvm_import *imp = &m->imports[m->f.n_imports++];

	imp->op = OP_GLOBAL;
	imp->protocol = 2;
	imp->pos = 10 * m->f.n_imports;
	imp->module = imp->raw_module = str_of(module);
	imp->name = imp->raw_name = str_of(name);
	imp->module_known = imp->name_known = true;
	return imp;
}

/*
 * A call by ${op} of ${callable}, written "module:qualname" (the ':' where
 * the module ends) or without ':' for persistent_load, receiving arguments
 * of shape ${args} (NULL: none), at offset 100 + 10 * its index.
 */
static struct pvm_call *
add_call(struct message *m, uint8_t op, const char *callable,
    const char *args)
{
	char *name = m->callables[m->f.n_calls];
	struct pvm_call *c = &m->calls[m->f.n_calls++];
	const char *colon = strchr(callable, ':');

	snprintf(name, sizeof(m->callables[0]), "%s", callable);
	c->module_len = colon != NULL ? (size_t)(colon - callable) : 0;
	if (colon != NULL)
		name[c->module_len] = '.';
	c->op = op;
	c->pos = 100 + 10 * (m->f.n_calls - 1);
	c->callable = str_of(name);
	c->args = str_of(args);
	return c;
}

static void
add_reason(struct message *m, enum pw_code code)
{
	struct pvm_reason *r = &m->reasons[m->f.n_reasons++];

	r->code = code;
	r->pos = 3;
	r->detail = "from the analysis";
}

/* ---- deciding ------------------------------------------------------- */

#define MAX_SEEN 16

/* What policy_decide said, copied. */
struct outcome {
	int rc;
	enum policy_verdict verdict;
	size_t n_reasons, n_hits;
	enum pw_code codes[MAX_SEEN];
	uint64_t pos[MAX_SEEN];
	char details[MAX_SEEN][256];
	uint32_t hit_ids[MAX_SEEN];
	enum policy_action hit_actions[MAX_SEEN];
	char hit_matched[MAX_SEEN][128];
	const struct policy_rule_info *hit_rules[MAX_SEEN];
	int fail_reason_at;	/* add_reason fails on this call; -1 never */
};

static int
collect_reason(void *cookie, enum pw_code code, uint64_t pos,
    const char *detail)
{
	struct outcome *o = cookie;
	size_t i = o->n_reasons++;

	if ((int)i == o->fail_reason_at)
		return -1;
	if (i < MAX_SEEN) {
		o->codes[i] = code;
		o->pos[i] = pos;
		snprintf(o->details[i], sizeof(o->details[i]), "%s", detail);
	}
	return 0;
}

static int
collect_hit(void *cookie, const struct policy_rule_info *rule,
    const char *matched, size_t len)
{
	struct outcome *o = cookie;
	size_t i = o->n_hits++;

	if (i < MAX_SEEN) {
		o->hit_ids[i] = rule->id;
		o->hit_actions[i] = rule->action;
		o->hit_rules[i] = rule;
		snprintf(o->hit_matched[i], sizeof(o->hit_matched[i]), "%.*s",
		    (int)len, matched);
	}
	return 0;
}

/* Decide ${m} with ${p} into ${o}. */
static void
decide(const struct policy *p, const struct message *m, struct outcome *o)
{
	struct policy_eval *e = policy_eval_new(p);
	int fail_at = o->fail_reason_at;

	ck_assert_ptr_nonnull(e);
	memset(o, 0, sizeof(*o));
	o->fail_reason_at = fail_at;
	o->rc = policy_decide(e, &m->f, collect_reason, collect_hit, o,
	    &o->verdict);
	policy_eval_free(e);
}

static void
decide_ok(const struct policy *p, const struct message *m, struct outcome *o)
{
	o->fail_reason_at = -1;
	decide(p, m, o);
	ck_assert_int_eq(o->rc, 0);
}

/* Load ${rules}, decide one import of ${module} ${name}: the verdict. */
static enum policy_verdict
import_verdict(const char *rules, const char *module, const char *name)
{
	struct policy *p = load_ok(rules);
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_import(&m, module, name);
	decide_ok(p, &m, &o);
	policy_free(p);
	return o.verdict;
}

/* Load ${rules}, decide one call by ${op} of ${callable} with ${args}. */
static enum policy_verdict
call_verdict(const char *rules, uint8_t op, const char *callable,
    const char *args)
{
	struct policy *p = load_ok(rules);
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_call(&m, op, callable, args);
	decide_ok(p, &m, &o);
	policy_free(p);
	return o.verdict;
}

/* ==== loader errors =================================================== */

START_TEST(rule_without_options_is_an_error_at_the_end)
{
	assert_load_error("allow import a:b\n\n", 3, 1,
	    "expected '(' and the rule's options (id, rev, msg, severity), "
	    "found the end of the file");
}
END_TEST

START_TEST(missing_required_option_is_an_error_at_the_options)
{
	assert_load_error("allow import a:b (id: 1; rev: 1; msg: \"m\";)\n",
	    1, 18, "the rule has no severity (every rule needs id, rev, msg "
	    "and severity)");
	assert_load_error("\n  deny import a:b (rev: 1; msg: \"m\"; "
	    "severity: low)\n", 2, 19, "the rule has no id");
}
END_TEST

START_TEST(unknown_option_is_an_error_at_its_name)
{
	assert_load_error("allow import a:b (id: 1; rev: 1; msg: \"m\";\n"
	    "    severity: info; colour: 3;)\n", 2, 21,
	    "unknown option 'colour' (options are id, rev, msg, severity, "
	    "tags, meta)");
}
END_TEST

START_TEST(option_given_twice_is_an_error_at_the_second)
{
	assert_load_error("allow import a:b (id: 1; rev: 1; msg: \"m\"; "
	    "severity: info; id: 2;)\n", 1, 60, "id given twice");
	assert_load_error("allow import a:b (id: 1; msg: \"m\"; rev: 1; "
	    "msg: \"n\"; severity: info;)\n", 1, 44, "msg given twice");
}
END_TEST

START_TEST(id_zero_is_an_error_at_the_value)
{
	assert_load_error("allow import a:b (id: 0; rev: 1; msg: \"m\"; "
	    "severity: info;)\n", 1, 23, "id must be in 1-4294967295");
}
END_TEST

START_TEST(id_above_32_bits_is_an_error_at_the_value)
{
	assert_load_error("allow import a:b (rev: 1; id: 4294967296; "
	    "msg: \"m\"; severity: info;)\n", 1, 31,
	    "id must be in 1-4294967295");
}
END_TEST

START_TEST(id_4294967295_is_accepted)
{
	policy_free(load_ok("allow import a:b (id: 4294967295; rev: 1; "
	    "msg: \"m\"; severity: info;)\n"));
}
END_TEST

START_TEST(unknown_severity_is_an_error_at_the_value)
{
	assert_load_error("allow import a:b (id: 1; rev: 1; msg: \"m\"; "
	    "severity: severe;)\n", 1, 54, "expected a severity (info, low, "
	    "medium, high, critical), found 'severe;)'");
}
END_TEST

START_TEST(name_without_colon_is_an_error_at_the_name)
{
	assert_load_error("allow import os.path" O(1) "\n", 1, 14,
	    "expected module:qualname, found 'os.path'");
}
END_TEST

START_TEST(name_with_two_colons_is_an_error_at_the_name)
{
	assert_load_error("allow call REDUCE a:b:c" O(1) "\n", 1, 19,
	    "expected module:qualname with one ':' between a module and a "
	    "qualname, found 'a:b:c'");
	assert_load_error("allow import :b" O(1) "\n", 1, 14,
	    "expected module:qualname with one ':'");
	assert_load_error("allow import a:" O(1) "\n", 1, 14,
	    "expected module:qualname with one ':'");
}
END_TEST

START_TEST(unterminated_string_is_an_error_at_its_quote)
{
	assert_load_error("allow import a:b (id: 1; rev: 1;\n"
	    "  msg: \"no end; severity: info;)\n", 2, 8,
	    "unterminated string");
}
END_TEST

START_TEST(unterminated_pattern_is_an_error_at_its_slash)
{
	assert_load_error("deny import /a\\..*" O(1) "\n", 1, 13,
	    "unterminated /pattern/");
}
END_TEST

START_TEST(invalid_pattern_is_an_error_at_the_offending_char)
{
	/* PCRE2 finds the unmatched ')' at offset 1 of "a)b". */
	assert_load_error("deny import /a)b/" O(1) "\n", 1, 15,
	    "invalid pattern: ");
}
END_TEST

START_TEST(invalid_pattern_after_escaped_slash_is_an_error_at_the_char)
{
	/* "\/" is one byte of the pattern but two of the file: the ')' is
	 * at column 17 of the file, offset 2 of "a/)". */
	assert_load_error("deny import /a\\/)/" O(1) "\n", 1, 17,
	    "invalid pattern: ");
}
END_TEST

START_TEST(invalid_pattern_after_escaped_backslash_is_an_error_at_the_char)
{
	/* An escaped backslash is two bytes of the pattern and of the
	 * file: the ')' is at column 16, offset 2 of the pattern. */
	assert_load_error("deny import /\\\\)/" O(1) "\n", 1, 16,
	    "invalid pattern: ");
}
END_TEST

START_TEST(unknown_op_is_an_error_at_the_op)
{
	assert_load_error("allow call REDUCE,CALL a:b" O(1) "\n", 1, 19,
	    "unknown op 'CALL'");
	assert_load_error("allow call reduce a:b" O(1) "\n", 1, 12,
	    "unknown op 'reduce'");
}
END_TEST

START_TEST(args_on_appends_is_an_error_at_args)
{
	assert_load_error("allow call APPENDS a:b.extend args (list,)" O(1)
	    "\n", 1, 31, "APPENDS passes no arguments a rule can describe");
	assert_load_error("allow call REDUCE,SETITEMS a:b args any" O(1) "\n",
	    1, 32, "SETITEMS passes no arguments a rule can describe");
}
END_TEST

START_TEST(message_rule_cannot_allow)
{
	assert_load_error("\nallow message protocol 2" O(1) "\n", 2, 1,
	    "a message rule cannot allow");
}
END_TEST

START_TEST(limit_rule_cannot_alert)
{
	assert_load_error("  alert limit opcodes > 10" O(1) "\n", 1, 3,
	    "a limit stops the analysis, so a limit rule can only deny");
	assert_load_error("allow limit opcodes > 10" O(1) "\n", 1, 1,
	    "a limit stops the analysis, so a limit rule can only deny");
}
END_TEST

START_TEST(limit_set_twice_is_an_error_at_the_second)
{
	assert_load_error("deny limit nesting > 100" O(7) "\n"
	    "deny limit nesting > 200" O(8) "\n", 2, 1,
	    "limit nesting is set twice (also rule 7)");
}
END_TEST

START_TEST(mode_after_a_rule_is_an_error_at_mode)
{
	assert_load_error("allow import a:b" O(1) "\nmode detect\n", 2, 1,
	    "mode must come before the first rule");
}
END_TEST

START_TEST(mode_set_twice_is_an_error_at_the_second)
{
	/* REFERENCE.md: "At most once, in the top file, before any rule". */
	assert_load_error("mode detect\nmode enforce\n", 2, 1, "mode");
}
END_TEST

START_TEST(unknown_mode_is_an_error_at_the_word)
{
	assert_load_error("mode permissive\n", 1, 6,
	    "expected enforce or detect after mode, found 'permissive'");
}
END_TEST

START_TEST(ids_of_the_denylist_are_refused)
{
	assert_load_error("deny import a:b" O(900000) "\n", 1, 1,
	    "ids 900000-999999 belong to the built-in denylist");
	assert_load_error("\n\tdeny import a:b" O(999999) "\n", 2, 2,
	    "ids 900000-999999 belong to the built-in denylist");
}
END_TEST

START_TEST(ids_next_to_the_denylist_range_are_accepted)
{
	policy_free(load_ok("deny import a:b" O(899999) "\n"
	    "deny import c:d" O(1000000) "\n"));
}
END_TEST

START_TEST(nul_byte_is_an_error_at_the_byte)
{
	static const char text[] = "allow import a:b" O(1) "\n# x\0y\n";
	struct diags ds;

	memset(&ds, 0, sizeof(ds));
	ck_assert_ptr_null(policy_load_text(RULES_NAME, text, sizeof(text) - 1,
	    0, collect_diag, &ds));
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert_str_eq(ds.d[0].message, "a NUL byte in a rule file");
	ck_assert_uint_eq(ds.d[0].line, 2);
	ck_assert_uint_eq(ds.d[0].col, 4);
}
END_TEST

START_TEST(unknown_statement_is_an_error_at_its_word)
{
	assert_load_error("\n\n   permit import a:b" O(1) "\n", 3, 4,
	    "expected a rule (allow, deny, alert) or a statement (mode, "
	    "include, ext), found 'permit'");
}
END_TEST

START_TEST(include_is_refused_with_no_include)
{
	struct diags ds;

	ck_assert_ptr_null(load_flags("# top\ninclude \"other.rules\"\n",
	    POLICY_LOAD_NO_INCLUDE, &ds));
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert_str_eq(ds.d[0].message, "include is not allowed here");
	ck_assert_uint_eq(ds.d[0].line, 2);
	ck_assert_uint_eq(ds.d[0].col, 9);
}
END_TEST

START_TEST(include_of_a_missing_file_is_an_error_at_the_include)
{
	struct rule_dir d;
	struct diags ds;
	char message[256];
	const char *top;

	dir_make(&d);
	top = dir_write(&d, "top.rules", "\ninclude \"nope.rules\"\n");
	memset(&ds, 0, sizeof(ds));
	ck_assert_ptr_null(policy_load_file(top, 0, collect_diag, &ds));
	snprintf(message, sizeof(message), "cannot open %s/nope.rules: No "
	    "such file or directory", d.path);
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert_str_eq(ds.d[0].file, top);
	ck_assert_uint_eq(ds.d[0].line, 2);
	ck_assert_uint_eq(ds.d[0].col, 9);
	ck_assert_str_eq(ds.d[0].message, message);
	dir_remove(&d);
}
END_TEST

/* A rule file is read into a buffer grown as it goes: a rule at the very
 * end of files around each size the buffer passes through is read, and
 * the 16 MiB bound is exact. */
START_TEST(rule_file_sizes_around_the_buffer_steps_and_the_bound)
{
	static const char rule[] = "\nallow import a:b" O(1) "\n";
	static const size_t sizes[] = {
		sizeof(rule) - 1, 65535, 65536, 65537, 131072, 131073,
		16u << 20, (16u << 20) + 1,
	};
	size_t k, body, size;
	struct rule_dir d;
	struct diags ds;
	struct policy *p;
	char *text;

	dir_make(&d);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size = sizes[k];
		ck_assert_ptr_nonnull(text = malloc(size + 1));
		/* A comment filling the file up to the rule at its end. */
		body = size - (sizeof(rule) - 1);
		memset(text, '#', body);
		memcpy(text + body, rule, sizeof(rule));
		d.n_files = 0;
		dir_write(&d, "big.rules", text);
		free(text);
		memset(&ds, 0, sizeof(ds));
		p = policy_load_file(d.files[0], 0, collect_diag, &ds);
		if (size <= (16u << 20)) {
			ck_assert_msg(p != NULL, "size %zu refused", size);
			ck_assert_uint_eq(policy_rule_count(p, true), 1);
			policy_free(p);
		} else {
			ck_assert_ptr_null(p);
			ck_assert_uint_eq(ds.n_errors, 1);
			ck_assert_msg(strstr(ds.d[0].message,
			    "larger than 16 MiB") != NULL, "%s",
			    ds.d[0].message);
		}
	}
	dir_remove(&d);
}
END_TEST

START_TEST(include_of_the_same_file_twice_is_an_error_at_the_second)
{
	struct rule_dir d;
	struct diags ds;
	char message[256];
	const char *top;

	dir_make(&d);
	dir_write(&d, "a.rules", "allow import a:b" O(1) "\n");
	top = dir_write(&d, "top.rules",
	    "include \"a.rules\"\ninclude \"a.rules\"\n");
	memset(&ds, 0, sizeof(ds));
	ck_assert_ptr_null(policy_load_file(top, 0, collect_diag, &ds));
	snprintf(message, sizeof(message), "%s/a.rules is included twice (or "
	    "includes itself)", d.path);
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert_str_eq(ds.d[0].file, top);
	ck_assert_uint_eq(ds.d[0].line, 2);
	ck_assert_uint_eq(ds.d[0].col, 9);
	ck_assert_str_eq(ds.d[0].message, message);
	dir_remove(&d);
}
END_TEST

START_TEST(include_cycle_is_an_error_where_it_closes)
{
	struct rule_dir d;
	struct diags ds;
	char message[256];
	const char *top, *a;

	dir_make(&d);
	a = dir_write(&d, "a.rules", "# a\n  include \"top.rules\"\n");
	top = dir_write(&d, "top.rules", "include \"a.rules\"\n");
	memset(&ds, 0, sizeof(ds));
	ck_assert_ptr_null(policy_load_file(top, 0, collect_diag, &ds));
	snprintf(message, sizeof(message), "%s/top.rules is included twice "
	    "(or includes itself)", d.path);
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert_str_eq(ds.d[0].file, a);
	ck_assert_uint_eq(ds.d[0].line, 2);
	ck_assert_uint_eq(ds.d[0].col, 11);
	ck_assert_str_eq(ds.d[0].message, message);
	dir_remove(&d);
}
END_TEST

START_TEST(file_including_itself_is_an_error)
{
	struct rule_dir d;
	struct diags ds;
	const char *top;

	dir_make(&d);
	top = dir_write(&d, "top.rules", "include \"top.rules\"\n");
	memset(&ds, 0, sizeof(ds));
	ck_assert_ptr_null(policy_load_file(top, 0, collect_diag, &ds));
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert_uint_eq(ds.d[0].line, 1);
	ck_assert_uint_eq(ds.d[0].col, 9);
	ck_assert(strstr(ds.d[0].message, "is included twice") != NULL);
	dir_remove(&d);
}
END_TEST

START_TEST(mode_in_an_included_file_is_an_error_in_that_file)
{
	struct rule_dir d;
	struct diags ds;
	const char *top, *inc;

	dir_make(&d);
	inc = dir_write(&d, "inc.rules", "# included\nmode detect\n");
	top = dir_write(&d, "top.rules",
	    "mode enforce\ninclude \"inc.rules\"\n");
	memset(&ds, 0, sizeof(ds));
	ck_assert_ptr_null(policy_load_file(top, 0, collect_diag, &ds));
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert_str_eq(ds.d[0].file, inc);
	ck_assert_uint_eq(ds.d[0].line, 2);
	ck_assert_uint_eq(ds.d[0].col, 1);
	ck_assert_str_eq(ds.d[0].message,
	    "mode may only be set in the top rule file");
	dir_remove(&d);
}
END_TEST

START_TEST(included_rules_are_read_where_the_include_stands)
{
	struct rule_dir d;
	struct policy *p;
	struct message m;
	struct outcome o;
	const char *top, *inc;

	dir_make(&d);
	inc = dir_write(&d, "inc.rules", "\n\ndeny import a:b" O(2) "\n");
	top = dir_write(&d, "top.rules", "alert import a:b" O(1) "\n"
	    "include \"inc.rules\"\nallow import a:b" O(3) "\n");
	ck_assert_ptr_nonnull(p = policy_load_file(top, 0, NULL, NULL));
	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_hits, 2);
	ck_assert_uint_eq(o.hit_ids[0], 1);
	ck_assert_uint_eq(o.hit_ids[1], 2);
	ck_assert_str_eq(o.hit_rules[1]->file, inc);
	ck_assert_uint_eq(o.hit_rules[1]->line, 3);
	policy_free(p);
	dir_remove(&d);
}
END_TEST

/* ==== loader warnings ================================================= */

START_TEST(exact_rule_after_the_same_exact_rule_is_warned)
{
	assert_load_warning("allow import a:b" O(1) "\n"
	    "deny import a:b" O(2) "\n", 2, 1,
	    "rule 2 can never match: rule 1 (t.rules:1) decides everything "
	    "it matches first");
}
END_TEST

START_TEST(exact_rule_after_a_covering_pattern_is_warned)
{
	assert_load_warning("deny import /a\\..*/" O(1) "\n\n"
	    "  allow import a:b" O(2) "\n", 3, 3,
	    "rule 2 can never match: rule 1 (t.rules:1) decides everything "
	    "it matches first");
}
END_TEST

START_TEST(exact_rule_after_a_pattern_that_misses_it_is_not_warned)
{
	assert_loads_without_warning("deny import /a\\.c.*/" O(1) "\n"
	    "allow import a:b" O(2) "\n");
}
END_TEST

START_TEST(pattern_after_the_identical_pattern_is_warned)
{
	assert_load_warning("allow import /a\\..*/" O(1) "\n"
	    "deny import /a\\..*/" O(2) "\n", 2, 1,
	    "rule 2 can never match: rule 1 (t.rules:1) decides everything "
	    "it matches first");
}
END_TEST

START_TEST(pattern_with_other_flags_is_not_warned)
{
	assert_loads_without_warning("allow import /a\\..*/" O(1) "\n"
	    "deny import /a\\..*/i" O(2) "\n");
}
END_TEST

START_TEST(rule_after_an_alert_is_not_warned)
{
	assert_loads_without_warning("alert import a:b" O(1) "\n"
	    "allow import a:b" O(2) "\n");
}
END_TEST

START_TEST(call_rule_with_narrower_ops_after_broader_is_warned)
{
	assert_load_warning("allow call REDUCE,NEWOBJ a:b" O(1) "\n"
	    "deny call NEWOBJ a:b" O(2) "\n", 2, 1,
	    "rule 2 can never match: rule 1 (t.rules:1) decides everything "
	    "it matches first");
	assert_load_warning("allow call any a:b" O(1) "\n"
	    "deny call BUILD a:b" O(2) "\n", 2, 1,
	    "rule 2 can never match: rule 1 (t.rules:1) decides everything "
	    "it matches first");
}
END_TEST

START_TEST(call_rule_with_broader_ops_after_narrower_is_not_warned)
{
	assert_loads_without_warning("allow call NEWOBJ a:b" O(1) "\n"
	    "deny call REDUCE,NEWOBJ a:b" O(2) "\n");
	assert_loads_without_warning("allow call BUILD a:b" O(1) "\n"
	    "deny call any a:b" O(2) "\n");
}
END_TEST

START_TEST(call_rule_with_args_after_one_without_is_warned)
{
	assert_load_warning("allow call REDUCE a:b" O(1) "\n"
	    "deny call REDUCE a:b args (int,)" O(2) "\n", 2, 1,
	    "rule 2 can never match: rule 1 (t.rules:1) decides everything "
	    "it matches first");
}
END_TEST

START_TEST(call_rule_with_narrower_args_after_broader_is_warned)
{
	assert_load_warning("allow call REDUCE a:b args (int|str,)" O(1) "\n"
	    "deny call REDUCE a:b args (\"x\",)" O(2) "\n", 2, 1,
	    "rule 2 can never match: rule 1 (t.rules:1) decides everything "
	    "it matches first");
}
END_TEST

START_TEST(call_rule_without_args_after_one_with_is_not_warned)
{
	assert_loads_without_warning("allow call REDUCE a:b args (int,)" O(1)
	    "\ndeny call REDUCE a:b" O(2) "\n");
}
END_TEST

START_TEST(ext_rule_inside_an_earlier_deny_ext_range_is_warned)
{
	assert_load_warning("deny ext 1-10" O(1) "\n"
	    "alert ext 5" O(2) "\n", 2, 1,
	    "rule 2 can never match: rule 1 (t.rules:1) decides everything "
	    "it matches first");
}
END_TEST

START_TEST(ext_rule_inside_an_earlier_allow_ext_range_is_not_warned)
{
	/* allow ext leaves unmapped codes to the rules after it. */
	assert_loads_without_warning("allow ext 1-10" O(1) "\n"
	    "deny ext 5" O(2) "\n");
	assert_loads_without_warning("allow ext 1-10" O(1) "\n"
	    "alert ext 3-4" O(2) "\n");
}
END_TEST

START_TEST(duplicate_id_is_warned)
{
	assert_load_warning("allow import a:b" O(5) "\n"
	    "allow import c:d" O(5) "\n", 2, 1,
	    "duplicate id 5 (also t.rules:1)");
}
END_TEST

START_TEST(duplicate_id_fails_a_strict_load)
{
	struct diags ds;

	ck_assert_ptr_null(load_flags("allow import a:b" O(5) "\n"
	    "allow import c:d" O(5) "\n", POLICY_LOAD_STRICT, &ds));
	ck_assert_uint_eq(ds.n_warnings, 1);
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert(!ds.d[1].warning);
	ck_assert(!ds.d[1].has_file);
	ck_assert_str_eq(ds.d[1].message,
	    "1 warning, and --strict makes warnings errors");
}
END_TEST

START_TEST(strict_load_without_warnings_succeeds)
{
	struct diags ds;
	struct policy *p = load_flags("allow import a:b" O(5) "\n",
	    POLICY_LOAD_STRICT, &ds);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(ds.n, 0);
	ck_assert_uint_eq(policy_rule_count(p, true), 1);
	policy_free(p);
}
END_TEST

/* ==== deciding imports ================================================ */

START_TEST(first_terminal_rule_in_file_order_decides_allow_first)
{
	struct policy *p = load_ok("allow import a:b" O(1) "\n"
	    "deny import /a\\..*/" O(2) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	add_import(&m, "a", "c");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 1);
	ck_assert_int_eq(o.codes[0], PW_IMPORT);
	ck_assert_uint_eq(o.pos[0], 20);
	ck_assert_str_eq(o.details[0], "a.c: denied by rule 2 (r2)");
	ck_assert_uint_eq(o.n_hits, 2);
	ck_assert_uint_eq(o.hit_ids[0], 1);
	ck_assert_str_eq(o.hit_matched[0], "a.b");
	ck_assert_uint_eq(o.hit_ids[1], 2);
	ck_assert_str_eq(o.hit_matched[1], "a.c");
	policy_free(p);
}
END_TEST

START_TEST(first_terminal_rule_in_file_order_decides_deny_first)
{
	struct policy *p = load_ok("deny import /a\\..*/" O(1) "\n"
	    "allow import a:b" O(2) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 1);
	ck_assert_str_eq(o.details[0], "a.b: denied by rule 1 (r1)");
	ck_assert_uint_eq(o.n_hits, 1);
	ck_assert_uint_eq(o.hit_ids[0], 1);
	policy_free(p);
}
END_TEST

START_TEST(alert_before_the_decider_is_a_hit_and_decides_nothing)
{
	struct policy *p = load_ok("alert import /a\\..*/" O(1) "\n"
	    "allow import a:b" O(2) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_ALLOW);
	ck_assert_uint_eq(o.n_reasons, 0);
	ck_assert_uint_eq(o.n_hits, 2);
	ck_assert_uint_eq(o.hit_ids[0], 1);
	ck_assert_int_eq(o.hit_actions[0], POLICY_ACTION_ALERT);
	ck_assert_uint_eq(o.hit_ids[1], 2);
	ck_assert_int_eq(o.hit_actions[1], POLICY_ACTION_ALLOW);
	policy_free(p);
}
END_TEST

START_TEST(alert_alone_leaves_the_default_deny)
{
	struct policy *p = load_ok("alert import a:b" O(1) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_str_eq(o.details[0], "a.b: matched no allow rule");
	ck_assert_uint_eq(o.n_hits, 1);
	ck_assert_uint_eq(o.hit_ids[0], 1);
	policy_free(p);
}
END_TEST

START_TEST(alert_after_the_decider_is_not_reported)
{
	struct policy *p = load_ok("allow import a:b" O(1) "\n"
	    "alert import /a\\..*/" O(2) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_ALLOW);
	ck_assert_uint_eq(o.n_hits, 1);
	ck_assert_uint_eq(o.hit_ids[0], 1);
	policy_free(p);
}
END_TEST

START_TEST(hit_carries_the_rule_as_written)
{
	struct policy *p = load_ok("# first line\n"
	    "allow import a:b (id: 42; rev: 3; msg: \"a \\\"b\\\"\";\n"
	    "    severity: high; tags: data, x-1;)\n");
	struct message m;
	struct outcome o;
	const struct policy_rule_info *r;

	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	decide_ok(p, &m, &o);
	ck_assert_uint_eq(o.n_hits, 1);
	r = o.hit_rules[0];
	ck_assert_uint_eq(r->id, 42);
	ck_assert_uint_eq(r->rev, 3);
	ck_assert_str_eq(r->msg, "a \"b\"");
	ck_assert_str_eq(r->severity, "high");
	ck_assert_uint_eq(r->n_tags, 2);
	ck_assert_str_eq(r->tags[0], "data");
	ck_assert_str_eq(r->tags[1], "x-1");
	ck_assert_int_eq(r->action, POLICY_ACTION_ALLOW);
	ck_assert_str_eq(r->file, RULES_NAME);
	ck_assert_uint_eq(r->line, 2);
	policy_free(p);
}
END_TEST

START_TEST(unmatched_import_is_denied_by_default)
{
	struct policy *p = load_ok("allow import a:b" O(1) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_import(&m, "a", "c");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 1);
	ck_assert_int_eq(o.codes[0], PW_IMPORT);
	ck_assert_uint_eq(o.pos[0], 10);
	ck_assert_str_eq(o.details[0], "a.c: matched no allow rule");
	ck_assert_uint_eq(o.n_hits, 0);
	policy_free(p);
}
END_TEST

START_TEST(every_import_is_decided_not_just_the_first)
{
	struct policy *p = load_ok("allow import a:ok" O(1) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_import(&m, "a", "x");
	add_import(&m, "a", "ok");
	add_import(&m, "a", "y");
	decide_ok(p, &m, &o);
	ck_assert_uint_eq(o.n_reasons, 2);
	ck_assert_str_eq(o.details[0], "a.x: matched no allow rule");
	ck_assert_uint_eq(o.pos[0], 10);
	ck_assert_str_eq(o.details[1], "a.y: matched no allow rule");
	ck_assert_uint_eq(o.pos[1], 30);
	policy_free(p);
}
END_TEST

START_TEST(message_without_imports_or_calls_is_allowed)
{
	struct policy *p = load_ok("# nothing\n");
	struct message m;
	struct outcome o;

	message_init(&m, 4, 20);
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_ALLOW);
	ck_assert_uint_eq(o.n_reasons, 0);
	policy_free(p);
}
END_TEST

START_TEST(builtin_policy_denies_every_import)
{
	struct policy *p = policy_builtin();
	struct message m;
	struct outcome o;

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(policy_rule_count(p, true), 0);
	ck_assert_int_eq(policy_mode(p), POLICY_MODE_ENFORCE);
	message_init(&m, 2, 20);
	add_import(&m, "collections", "OrderedDict");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_str_eq(o.details[0],
	    "collections.OrderedDict: matched no allow rule");
	policy_free(p);
}
END_TEST

START_TEST(import_known_only_at_run_time_is_never_allowed)
{
	struct policy *p = load_ok("allow import /.*/" O(1) "\n");
	struct message m;
	struct outcome o;
	struct pvm_import *imp;

	message_init(&m, 4, 20);
	imp = add_import(&m, PVM_UNKNOWN_NAME, "b");
	imp->op = OP_STACK_GLOBAL;
	imp->module_known = false;
	imp = add_import(&m, "a", PVM_UNKNOWN_NAME);
	imp->op = OP_STACK_GLOBAL;
	imp->name_known = false;
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 2);
	ck_assert_str_eq(o.details[0], "*.b: matched no allow rule (a name "
	    "only known at run time cannot be allowed)");
	ck_assert_str_eq(o.details[1], "a.*: matched no allow rule (a name "
	    "only known at run time cannot be allowed)");
	ck_assert_uint_eq(o.n_hits, 0);
	policy_free(p);
}
END_TEST

START_TEST(literal_star_name_is_matched_like_any_name)
{
	/* A module really called "*" is known; only *_known says unknown. */
	ck_assert_int_eq(import_verdict("allow import /.*/" O(1) "\n",
	    PVM_UNKNOWN_NAME, "b"), POLICY_ALLOW);
}
END_TEST

START_TEST(denylist_wins_over_an_over_broad_allow)
{
	struct policy *p = load_ok("allow import /.*/" O(1) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 4, 20);
	add_import(&m, "collections", "OrderedDict");
	add_import(&m, "os", "system");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 1);
	ck_assert_uint_eq(o.pos[0], 20);
	ck_assert_str_starts(o.details[0], "os.system: denied by rule ");
	ck_assert_uint_eq(o.n_hits, 2);
	ck_assert_uint_eq(o.hit_ids[0], 1);
	ck_assert_int_eq(o.hit_actions[1], POLICY_ACTION_DENY);
	ck_assert_uint_ge(o.hit_ids[1], 900000);
	ck_assert_uint_le(o.hit_ids[1], 999999);
	policy_free(p);
}
END_TEST

START_TEST(denylist_wins_over_an_exact_allow)
{
	ck_assert_int_eq(import_verdict("allow import os:system" O(1) "\n",
	    "os", "system"), POLICY_DENY);
}
END_TEST

START_TEST(remapped_import_shows_the_raw_name)
{
	struct policy *p = load_ok("# nothing allowed\n");
	struct message m;
	struct outcome o;
	struct pvm_import *imp;

	message_init(&m, 2, 20);
	imp = add_import(&m, "new_mod", "thing");
	imp->raw_module = str_of("old_mod");
	imp->raw_name = str_of("Thing");
	imp->remapped = true;
	decide_ok(p, &m, &o);
	ck_assert_str_eq(o.details[0],
	    "new_mod.thing (old_mod.Thing): matched no allow rule");
	policy_free(p);
}
END_TEST

START_TEST(nul_byte_in_a_name_is_written_escaped)
{
	static const char module[] = "a\0b";
	struct policy *p = load_ok("# nothing allowed\n");
	struct message m;
	struct outcome o;
	struct pvm_import *imp;

	message_init(&m, 2, 20);
	imp = add_import(&m, "a", "c");
	imp->module.len = sizeof(module) - 1;
	imp->module.ptr = module;
	imp->raw_module = imp->module;
	decide_ok(p, &m, &o);
	ck_assert_str_eq(o.details[0], "a\\x00b.c: matched no allow rule");
	policy_free(p);
}
END_TEST

START_TEST(pattern_must_match_the_whole_name)
{
	ck_assert_int_eq(import_verdict("allow import /collections/" O(1) "\n",
	    "collections", "OrderedDict"), POLICY_DENY);
	ck_assert_int_eq(import_verdict("allow import /OrderedDict/" O(1) "\n",
	    "collections", "OrderedDict"), POLICY_DENY);
	ck_assert_int_eq(import_verdict("allow import /collections\\.Ordered/"
	    O(1) "\n", "collections", "OrderedDict"), POLICY_DENY);
	ck_assert_int_eq(import_verdict("allow import /collections\\..*/" O(1)
	    "\n", "collections", "OrderedDict"), POLICY_ALLOW);
}
END_TEST

START_TEST(pattern_alternatives_are_anchored_too)
{
	/* Anchoring applies to the whole pattern, not its first branch. */
	ck_assert_int_eq(import_verdict("allow import /x|collections/" O(1)
	    "\n", "collections", "OrderedDict"), POLICY_DENY);
}
END_TEST

START_TEST(pattern_may_end_in_an_escaped_backslash)
{
	/* /a\.b\\/ is the pattern a\.b\\: "\\/" ends it. */
	ck_assert_int_eq(import_verdict("allow import /a\\.b\\\\/" O(1)
	    "\n", "a", "b\\"), POLICY_ALLOW);
}
END_TEST

START_TEST(pattern_may_hold_an_escaped_slash)
{
	ck_assert_int_eq(import_verdict("allow import /a\\.b\\/c/" O(1)
	    "\n", "a", "b/c"), POLICY_ALLOW);
}
END_TEST

START_TEST(pattern_i_flag_ignores_case)
{
	ck_assert_int_eq(import_verdict("allow import /COLLECTIONS\\..*/" O(1)
	    "\n", "collections", "OrderedDict"), POLICY_DENY);
	ck_assert_int_eq(import_verdict("allow import /COLLECTIONS\\..*/i"
	    O(1) "\n", "collections", "OrderedDict"), POLICY_ALLOW);
}
END_TEST

START_TEST(exact_rule_names_module_and_qualname_apart)
{
	const char *rules = "allow import a.b:c" O(1) "\n";
	struct policy *p = load_ok(rules);
	struct message m;
	struct outcome o;
	struct pvm_import *imp;

	/* Protocol 4: module "a", dotted qualname "b.c". */
	message_init(&m, 4, 20);
	imp = add_import(&m, "a", "b.c");
	imp->dotted = true;
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	policy_free(p);
	ck_assert_int_eq(import_verdict(rules, "a.b", "c"), POLICY_ALLOW);
	ck_assert_int_eq(import_verdict("allow import a:b.c" O(1) "\n",
	    "a", "b.c"), POLICY_ALLOW);
	ck_assert_int_eq(import_verdict("allow import a:b.c" O(1) "\n",
	    "a.b", "c"), POLICY_DENY);
}
END_TEST

START_TEST(pattern_sees_module_dot_qualname)
{
	/* Both splits read "a.b.c" to a pattern. */
	ck_assert_int_eq(import_verdict("allow import /a\\.b\\.c/" O(1) "\n",
	    "a.b", "c"), POLICY_ALLOW);
	ck_assert_int_eq(import_verdict("allow import /a\\.b\\.c/" O(1) "\n",
	    "a", "b.c"), POLICY_ALLOW);
}
END_TEST

START_TEST(hits_are_reported_once_per_rule_and_name)
{
	struct policy *p = load_ok("alert import /a\\..*/" O(1) "\n"
	    "allow import /a\\..*/" O(2) "\n");
	struct message m;
	struct outcome o;
	int i;

	message_init(&m, 2, 20);
	for (i = 0; i < 10; i++)
		add_import(&m, "a", "b");
	add_import(&m, "a", "c");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_ALLOW);
	ck_assert_uint_eq(o.n_hits, 4);
	ck_assert_uint_eq(o.hit_ids[0], 1);
	ck_assert_str_eq(o.hit_matched[0], "a.b");
	ck_assert_uint_eq(o.hit_ids[1], 2);
	ck_assert_str_eq(o.hit_matched[1], "a.b");
	ck_assert_uint_eq(o.hit_ids[2], 1);
	ck_assert_str_eq(o.hit_matched[2], "a.c");
	ck_assert_uint_eq(o.hit_ids[3], 2);
	ck_assert_str_eq(o.hit_matched[3], "a.c");
	policy_free(p);
}
END_TEST

START_TEST(hits_start_afresh_for_each_message)
{
	struct policy *p = load_ok("allow import a:b" O(1) "\n");
	struct policy_eval *e = policy_eval_new(p);
	struct message m;
	struct outcome o;
	enum policy_verdict v;

	ck_assert_ptr_nonnull(e);
	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(policy_decide(e, &m.f, collect_reason, collect_hit,
	    &o, &v), 0);
	ck_assert_int_eq(policy_decide(e, &m.f, collect_reason, collect_hit,
	    &o, &v), 0);
	ck_assert_uint_eq(o.n_hits, 2);
	policy_eval_free(e);
	policy_free(p);
}
END_TEST

START_TEST(failing_reason_callback_denies_even_in_detect_mode)
{
	struct policy *p = load_ok("mode detect\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	add_import(&m, "a", "c");
	o.fail_reason_at = 0;
	decide(p, &m, &o);
	ck_assert_int_eq(o.rc, -1);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 1);
	policy_free(p);
}
END_TEST

START_TEST(null_hit_callback_is_allowed)
{
	struct policy *p = load_ok("allow import a:b" O(1) "\n");
	struct policy_eval *e = policy_eval_new(p);
	struct message m;
	struct outcome o;
	enum policy_verdict v;

	ck_assert_ptr_nonnull(e);
	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(policy_decide(e, &m.f, collect_reason, NULL, &o, &v),
	    0);
	ck_assert_int_eq(v, POLICY_ALLOW);
	policy_eval_free(e);
	policy_free(p);
}
END_TEST

/* ==== deciding calls ================================================== */

START_TEST(call_rule_matches_only_its_ops)
{
	const char *rules = "allow call REDUCE a:f" O(1) "\n";

	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(int,)"),
	    POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(rules, OP_NEWOBJ, "a:f", "(int,)"),
	    POLICY_DENY);
	ck_assert_int_eq(call_verdict("allow call REDUCE,NEWOBJ a:f" O(1) "\n",
	    OP_NEWOBJ, "a:f", "(int,)"), POLICY_ALLOW);
}
END_TEST

START_TEST(call_rule_with_any_matches_every_op)
{
	const char *rules = "allow call any a:f" O(1) "\n";

	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "()"),
	    POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(rules, OP_BUILD, "a:f", "dict"),
	    POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(rules, OP_SETITEMS, "a:f", NULL),
	    POLICY_ALLOW);
}
END_TEST

START_TEST(unmatched_call_is_denied_with_its_args)
{
	struct policy *p = load_ok("# nothing allowed\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_call(&m, OP_REDUCE, "a:f", "(int, \"x\")");
	add_call(&m, OP_SETITEMS, "a:C.__setitem__", NULL);
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 2);
	ck_assert_int_eq(o.codes[0], PW_CALL);
	ck_assert_uint_eq(o.pos[0], 100);
	ck_assert_str_eq(o.details[0],
	    "a.f args (int, \"x\"): matched no allow rule");
	ck_assert_int_eq(o.codes[1], PW_CALL);
	ck_assert_uint_eq(o.pos[1], 110);
	ck_assert_str_eq(o.details[1],
	    "a.C.__setitem__: matched no allow rule");
	policy_free(p);
}
END_TEST

START_TEST(call_denied_by_a_rule_names_it)
{
	struct policy *p = load_ok("deny call REDUCE /a\\..*/" O(3) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_call(&m, OP_REDUCE, "a:f", "()");
	decide_ok(p, &m, &o);
	ck_assert_str_eq(o.details[0], "a.f args (): denied by rule 3 (r3)");
	policy_free(p);
}
END_TEST

START_TEST(unknown_callable_is_denied_with_why)
{
	struct policy *p = load_ok("allow call any /.*/" O(1) "\n");
	struct message m;
	struct outcome o;
	struct pvm_call *c;

	message_init(&m, 2, 20);
	c = add_call(&m, OP_REDUCE, "x:y", "()");
	c->callable.ptr = NULL;
	c->callable.len = 0;
	c->module_len = 0;
	c->why = "callable is the result of a call";
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 1);
	ck_assert_int_eq(o.codes[0], PW_CALL);
	ck_assert_str_eq(o.details[0],
	    "unknown callable: callable is the result of a call");
	ck_assert_uint_eq(o.n_hits, 0);
	policy_free(p);
}
END_TEST

START_TEST(method_call_is_named_module_colon_class_dot_method)
{
	const char *rules = "allow call SETITEMS "
	    "collections:OrderedDict.__setitem__" O(1) "\n";

	ck_assert_int_eq(call_verdict(rules, OP_SETITEMS,
	    "collections:OrderedDict.__setitem__", NULL), POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(rules, OP_SETITEMS,
	    "collections.OrderedDict:__setitem__", NULL), POLICY_DENY);
}
END_TEST

START_TEST(args_tuple_matches_only_its_arity)
{
	const char *rules = "allow call REDUCE a:f args (int,)" O(1) "\n";

	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(int,)"),
	    POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(int, int)"),
	    POLICY_DENY);
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "()"),
	    POLICY_DENY);
}
END_TEST

START_TEST(args_alternatives_match_either)
{
	const char *rules = "allow call REDUCE a:f args (bytes) | "
	    "(bytes, a:tz())" O(1) "\n";

	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(bytes,)"),
	    POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f",
	    "(bytes, a:tz())"), POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(str,)"),
	    POLICY_DENY);
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f",
	    "(bytes, a:tz)"), POLICY_DENY);
}
END_TEST

START_TEST(args_str_literal_matches_only_that_text)
{
	const char *rules = "allow call REDUCE a:f args (\"utf-8\",)" O(1)
	    "\n";

	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(\"utf-8\",)"),
	    POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f",
	    "(\"latin-1\",)"), POLICY_DENY);
	/* A str whose text the analyzer did not keep may be anything. */
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(str,)"),
	    POLICY_DENY);
}
END_TEST

START_TEST(args_str_type_matches_any_str)
{
	const char *rules = "allow call REDUCE a:f args (str,)" O(1) "\n";

	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(\"utf-8\",)"),
	    POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(str,)"),
	    POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(bytes,)"),
	    POLICY_DENY);
}
END_TEST

START_TEST(args_int_literal_matches_only_that_value)
{
	const char *rules = "allow call REDUCE a:f args (bytes, 0)" O(1) "\n";

	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(bytes, 0)"),
	    POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(bytes, 1)"),
	    POLICY_DENY);
	/* An int the analyzer did not keep may be any value. */
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f", "(bytes, int)"),
	    POLICY_DENY);
	ck_assert_int_eq(call_verdict(rules, OP_REDUCE, "a:f",
	    "(bytes, False)"), POLICY_DENY);
}
END_TEST

START_TEST(args_instance_and_class_differ)
{
	const char *instance = "allow call REDUCE a:f args (a:C(),)" O(1) "\n";
	const char *class = "allow call REDUCE a:f args (a:C,)" O(1) "\n";

	ck_assert_int_eq(call_verdict(instance, OP_REDUCE, "a:f", "(a:C(),)"),
	    POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(instance, OP_REDUCE, "a:f", "(a:C,)"),
	    POLICY_DENY);
	ck_assert_int_eq(call_verdict(class, OP_REDUCE, "a:f", "(a:C,)"),
	    POLICY_ALLOW);
	ck_assert_int_eq(call_verdict(class, OP_REDUCE, "a:f", "(a:C(),)"),
	    POLICY_DENY);
}
END_TEST

START_TEST(args_unknown_value_is_matched_only_by_any)
{
	ck_assert_int_eq(call_verdict("allow call REDUCE a:f args (int,)" O(1)
	    "\n", OP_REDUCE, "a:f", "(?,)"), POLICY_DENY);
	ck_assert_int_eq(call_verdict("allow call REDUCE a:f args (int|str|"
	    "bytes|tuple|list|dict|None|a:C|a:C(),)" O(1) "\n", OP_REDUCE,
	    "a:f", "(?,)"), POLICY_DENY);
	ck_assert_int_eq(call_verdict("allow call REDUCE a:f args (any,)" O(1)
	    "\n", OP_REDUCE, "a:f", "(?,)"), POLICY_ALLOW);
	ck_assert_int_eq(call_verdict("allow call REDUCE a:f args any" O(1)
	    "\n", OP_REDUCE, "a:f", "?"), POLICY_ALLOW);
	ck_assert_int_eq(call_verdict("allow call REDUCE a:f args tuple" O(1)
	    "\n", OP_REDUCE, "a:f", "?"), POLICY_DENY);
}
END_TEST

START_TEST(call_without_args_never_matches_a_rule_with_args)
{
	ck_assert_int_eq(call_verdict("allow call any a:f args any" O(1) "\n",
	    OP_SETITEMS, "a:f", NULL), POLICY_DENY);
	ck_assert_int_eq(call_verdict("allow call any a:f" O(1) "\n",
	    OP_SETITEMS, "a:f", NULL), POLICY_ALLOW);
}
END_TEST

START_TEST(unreadable_args_are_matched_only_by_any)
{
	/* Not the notation: the policy must not guess. */
	ck_assert_int_eq(call_verdict("allow call REDUCE a:f args (int,)" O(1)
	    "\n", OP_REDUCE, "a:f", "(int,) trailing"), POLICY_DENY);
	ck_assert_int_eq(call_verdict("allow call REDUCE a:f args any" O(1)
	    "\n", OP_REDUCE, "a:f", "(int,) trailing"), POLICY_ALLOW);
}
END_TEST

START_TEST(call_rules_with_args_are_tried_in_file_order)
{
	struct policy *p = load_ok(
	    "allow call REDUCE a:f args (int,)" O(1) "\n"
	    "deny call REDUCE a:f" O(2) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_call(&m, OP_REDUCE, "a:f", "(int,)");
	add_call(&m, OP_REDUCE, "a:f", "(str,)");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 1);
	ck_assert_uint_eq(o.pos[0], 110);
	ck_assert_str_eq(o.details[0],
	    "a.f args (str,): denied by rule 2 (r2)");
	policy_free(p);
}
END_TEST

/* ==== persistent ids ================================================= */

START_TEST(allows_calls_only_with_an_allow_call_or_persid_rule)
{
	static const struct {
		const char *rules;
		bool allows;
	} cases[] = {
		{ "allow import a:b" O(1) "\n", false },
		{ "deny call REDUCE a:b" O(1) "\n", false },
		{ "alert call any /.*/" O(1) "\n", false },
		{ "allow import a:b" O(1) "\nallow call REDUCE a:b" O(2) "\n",
		  true },
		{ "allow persid \"blob:1\"" O(1) "\n", true },
	};
	struct policy *p;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = load_ok(cases[i].rules);
		ck_assert_msg(policy_allows_calls(p) == cases[i].allows,
		    "%s", cases[i].rules);
		policy_free(p);
	}
	/* The denylist's rules are all deny; the built-in policy has no
	 * other. */
	ck_assert_ptr_nonnull(p = policy_builtin());
	ck_assert(!policy_allows_calls(p));
	policy_free(p);
}
END_TEST

START_TEST(persid_rule_matches_the_exact_id)
{
	const char *rules = "allow persid \"blob:1\"" O(1) "\n";
	struct policy *p = load_ok(rules);
	struct message m;
	struct outcome o;
	struct pvm_call *c;

	message_init(&m, 0, 20);
	c = add_call(&m, OP_PERSID, "persistent_load", "\"blob:1\"");
	c->pid = str_of("blob:1");
	c = add_call(&m, OP_BINPERSID, "persistent_load", "\"blob:2\"");
	c->pid = str_of("blob:2");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 1);
	ck_assert_uint_eq(o.pos[0], 110);
	ck_assert_str_eq(o.details[0],
	    "persistent_load args \"blob:2\": matched no allow rule");
	ck_assert_uint_eq(o.n_hits, 1);
	ck_assert_str_eq(o.hit_matched[0], "blob:1");
	policy_free(p);
}
END_TEST

START_TEST(persid_pattern_matches_the_whole_id)
{
	struct policy *p = load_ok("allow persid /blob:[0-9]+/" O(1) "\n");
	struct message m;
	struct outcome o;
	struct pvm_call *c;

	message_init(&m, 0, 20);
	c = add_call(&m, OP_PERSID, "persistent_load", "\"blob:12\"");
	c->pid = str_of("blob:12");
	c = add_call(&m, OP_PERSID, "persistent_load", "\"blob:12x\"");
	c->pid = str_of("blob:12x");
	decide_ok(p, &m, &o);
	ck_assert_uint_eq(o.n_reasons, 1);
	ck_assert_uint_eq(o.pos[0], 110);
	policy_free(p);
}
END_TEST

START_TEST(persid_not_known_exactly_is_not_matched)
{
	struct policy *p = load_ok("allow persid /.*/" O(1) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_call(&m, OP_BINPERSID, "persistent_load", "(int, str)");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_str_eq(o.details[0],
	    "persistent_load args (int, str): matched no allow rule");
	policy_free(p);
}
END_TEST

/* ==== extension codes ================================================= */

START_TEST(ext_statement_maps_a_code_for_the_analyzer)
{
	struct policy *p = load_ok("ext 5 copyreg_test:Thing\n"
	    "ext 2147483647 a.b:c.d\n");
	struct pvm_str module, name;

	ck_assert_int_eq(policy_ext_lookup(p, 5, &module, &name), 1);
	ck_assert_uint_eq(module.len, 12);
	ck_assert_int_eq(memcmp(module.ptr, "copyreg_test", 12), 0);
	ck_assert_uint_eq(name.len, 5);
	ck_assert_int_eq(memcmp(name.ptr, "Thing", 5), 0);
	ck_assert_int_eq(policy_ext_lookup(p, 2147483647, &module, &name), 1);
	ck_assert_uint_eq(module.len, 3);
	ck_assert_int_eq(memcmp(module.ptr, "a.b", 3), 0);
	ck_assert_uint_eq(name.len, 3);
	ck_assert_int_eq(memcmp(name.ptr, "c.d", 3), 0);
	ck_assert_int_eq(policy_ext_lookup(p, 6, &module, &name), 0);
	ck_assert_int_eq(policy_ext_lookup(p, 0, &module, &name), 0);
	policy_free(p);
}
END_TEST

START_TEST(ext_code_out_of_range_is_an_error)
{
	assert_load_error("ext 0 a:b\n", 1, 5, "extension codes are "
	    "1-2147483647");
	assert_load_error("ext 2147483648 a:b\n", 1, 5, "extension codes are "
	    "1-2147483647");
	assert_load_error("deny ext 0-3" O(1) "\n", 1, 10, "extension codes "
	    "are 1-2147483647");
}
END_TEST

START_TEST(ext_code_mapped_twice_is_an_error_at_the_second)
{
	assert_load_error("ext 5 a:b\next 5 c:d\n", 2, 5,
	    "extension code 5 is mapped twice");
}
END_TEST

START_TEST(ext_mapping_to_a_pattern_is_an_error)
{
	assert_load_error("ext 5 /a.*/\n", 1, 7, "an extension code maps to "
	    "one module:qualname, not a pattern");
}
END_TEST

START_TEST(mapped_ext_import_is_matched_by_import_rules)
{
	struct policy *p = load_ok("ext 5 copyreg_test:Thing\n"
	    "allow import copyreg_test:Thing" O(1) "\n");
	struct message m;
	struct outcome o;
	struct pvm_import *imp;

	message_init(&m, 2, 20);
	imp = add_import(&m, "copyreg_test", "Thing");
	imp->op = OP_EXT1;
	imp->ext_code = 5;
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_ALLOW);
	ck_assert_uint_eq(o.n_hits, 1);
	ck_assert_uint_eq(o.hit_ids[0], 1);
	policy_free(p);
}
END_TEST

START_TEST(ext_rule_matches_codes_in_its_range)
{
	struct policy *p = load_ok("deny ext 3-7" O(1) "\n"
	    "allow import /m\\..*/" O(2) "\n");
	struct message m;
	struct outcome o;
	struct pvm_import *imp;

	message_init(&m, 2, 20);
	imp = add_import(&m, "m", "two");
	imp->op = OP_EXT1;
	imp->ext_code = 2;
	imp = add_import(&m, "m", "three");
	imp->op = OP_EXT1;
	imp->ext_code = 3;
	imp = add_import(&m, "m", "seven");
	imp->op = OP_EXT1;
	imp->ext_code = 7;
	imp = add_import(&m, "m", "eight");
	imp->op = OP_EXT1;
	imp->ext_code = 8;
	decide_ok(p, &m, &o);
	ck_assert_uint_eq(o.n_reasons, 2);
	ck_assert_str_eq(o.details[0],
	    "m.three (EXT code 3): denied by rule 1 (r1)");
	ck_assert_str_eq(o.details[1],
	    "m.seven (EXT code 7): denied by rule 1 (r1)");
	policy_free(p);
}
END_TEST

START_TEST(ext_rule_denies_an_unmapped_code)
{
	struct policy *p = load_ok("deny ext 9" O(1) "\n");
	struct message m;
	struct outcome o;
	struct pvm_import *imp;

	message_init(&m, 2, 20);
	imp = add_import(&m, PVM_UNKNOWN_NAME, PVM_UNKNOWN_NAME);
	imp->op = OP_EXT1;
	imp->module_known = imp->name_known = false;
	imp->ext_code = 9;
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_str_eq(o.details[0],
	    "*.* (EXT code 9): denied by rule 1 (r1)");
	ck_assert_uint_eq(o.n_hits, 1);
	ck_assert_str_eq(o.hit_matched[0], "(name unknown)");
	policy_free(p);
}
END_TEST

START_TEST(ext_rule_cannot_allow_an_unmapped_code)
{
	/* REFERENCE.md, "How a verdict is reached" 4: an unmapped EXT code
	 * is a name only known at run time and can never be allowed. */
	struct policy *p = load_ok("allow ext 1-10" O(1) "\n");
	struct message m;
	struct outcome o;
	struct pvm_import *imp;

	message_init(&m, 2, 20);
	imp = add_import(&m, PVM_UNKNOWN_NAME, PVM_UNKNOWN_NAME);
	imp->op = OP_EXT1;
	imp->module_known = imp->name_known = false;
	imp->ext_code = 7;
	decide_ok(p, &m, &o);
	policy_free(p);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
}
END_TEST

START_TEST(deny_ext_after_allow_ext_decides_unmapped_codes)
{
	struct policy *p = load_ok("ext 5 m:n\n"
	    "allow ext 1-10" O(1) "\n"
	    "deny ext 5-6" O(2) "\n");
	struct message m;
	struct outcome o;
	struct pvm_import *imp;

	message_init(&m, 2, 20);
	imp = add_import(&m, "m", "n");
	imp->op = OP_EXT1;
	imp->ext_code = 5;
	imp = add_import(&m, PVM_UNKNOWN_NAME, PVM_UNKNOWN_NAME);
	imp->op = OP_EXT1;
	imp->module_known = imp->name_known = false;
	imp->ext_code = 6;
	decide_ok(p, &m, &o);
	policy_free(p);
	ck_assert_uint_eq(o.n_reasons, 1);
	ck_assert_str_eq(o.details[0],
	    "*.* (EXT code 6): denied by rule 2 (r2)");
}
END_TEST

START_TEST(ext_rule_allows_a_mapped_code)
{
	struct policy *p = load_ok("ext 7 m:n\nallow ext 1-10" O(1) "\n");
	struct message m;
	struct outcome o;
	struct pvm_import *imp;

	message_init(&m, 2, 20);
	imp = add_import(&m, "m", "n");
	imp->op = OP_EXT1;
	imp->ext_code = 7;
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_ALLOW);
	policy_free(p);
}
END_TEST

/* ==== message rules =================================================== */

/* The verdict of ${rules} on an empty message of ${protocol}, ${length}. */
static enum policy_verdict
message_verdict(const char *rules, int protocol, uint64_t length)
{
	struct policy *p = load_ok(rules);
	struct message m;
	struct outcome o;

	message_init(&m, protocol, length);
	decide_ok(p, &m, &o);
	policy_free(p);
	return o.verdict;
}

START_TEST(message_protocol_below)
{
	const char *rules = "deny message protocol < 2" O(1) "\n";

	ck_assert_int_eq(message_verdict(rules, 0, 20), POLICY_DENY);
	ck_assert_int_eq(message_verdict(rules, 1, 20), POLICY_DENY);
	ck_assert_int_eq(message_verdict(rules, 2, 20), POLICY_ALLOW);
}
END_TEST

START_TEST(message_protocol_range)
{
	const char *rules = "deny message protocol 2-3" O(1) "\n";

	ck_assert_int_eq(message_verdict(rules, 1, 20), POLICY_ALLOW);
	ck_assert_int_eq(message_verdict(rules, 2, 20), POLICY_DENY);
	ck_assert_int_eq(message_verdict(rules, 3, 20), POLICY_DENY);
	ck_assert_int_eq(message_verdict(rules, 4, 20), POLICY_ALLOW);
	ck_assert_int_eq(message_verdict("deny message protocol 5" O(1) "\n",
	    5, 20), POLICY_DENY);
	ck_assert_int_eq(message_verdict("deny message protocol 5" O(1) "\n",
	    4, 20), POLICY_ALLOW);
}
END_TEST

START_TEST(message_size_at_least)
{
	const char *rules = "deny message size >= 1k" O(1) "\n";

	ck_assert_int_eq(message_verdict(rules, 2, 1023), POLICY_ALLOW);
	ck_assert_int_eq(message_verdict(rules, 2, 1024), POLICY_DENY);
}
END_TEST

START_TEST(message_size_above_and_at_most)
{
	ck_assert_int_eq(message_verdict("deny message size > 100" O(1) "\n",
	    2, 100), POLICY_ALLOW);
	ck_assert_int_eq(message_verdict("deny message size > 100" O(1) "\n",
	    2, 101), POLICY_DENY);
	ck_assert_int_eq(message_verdict("deny message size <= 10" O(1) "\n",
	    2, 10), POLICY_DENY);
	ck_assert_int_eq(message_verdict("deny message size <= 10" O(1) "\n",
	    2, 11), POLICY_ALLOW);
}
END_TEST

START_TEST(message_rule_denial_gives_a_message_reason)
{
	struct policy *p = load_ok("alert message size > 10" O(1) "\n"
	    "deny message protocol < 2" O(2) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 1, 20);
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 1);
	ck_assert_int_eq(o.codes[0], PW_MESSAGE);
	ck_assert_str_eq(o.details[0], "protocol 1: denied by rule 2 (r2)");
	ck_assert_uint_eq(o.n_hits, 2);
	ck_assert_uint_eq(o.hit_ids[0], 1);
	ck_assert_str_eq(o.hit_matched[0], "size 20");
	ck_assert_uint_eq(o.hit_ids[1], 2);
	ck_assert_str_eq(o.hit_matched[1], "protocol 1");
	policy_free(p);
}
END_TEST

START_TEST(empty_ranges_are_errors)
{
	assert_load_error("deny message size 10-5" O(1) "\n", 1, 21,
	    "empty range: 10-5");
	assert_load_error("deny message protocol < 0" O(1) "\n", 1, 23,
	    "'< 0' matches nothing");
}
END_TEST

/* ==== modes and analysis reasons ====================================== */

START_TEST(detect_mode_turns_deny_into_would_deny)
{
	struct policy *p = load_ok("mode detect\n");
	struct message m;
	struct outcome o;

	ck_assert_int_eq(policy_mode(p), POLICY_MODE_DETECT);
	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_WOULD_DENY);
	ck_assert_uint_eq(o.n_reasons, 1);
	ck_assert_str_eq(o.details[0], "a.b: matched no allow rule");
	policy_free(p);
}
END_TEST

START_TEST(detect_mode_still_allows_what_is_allowed)
{
	ck_assert_int_eq(import_verdict("mode detect\nallow import a:b" O(1)
	    "\n", "a", "b"), POLICY_ALLOW);
}
END_TEST

START_TEST(enforce_mode_is_the_default)
{
	struct policy *p = load_ok("allow import a:b" O(1) "\n");

	ck_assert_int_eq(policy_mode(p), POLICY_MODE_ENFORCE);
	policy_free(p);
	p = load_ok("# comment\nmode enforce # explicit\n");
	ck_assert_int_eq(policy_mode(p), POLICY_MODE_ENFORCE);
	policy_free(p);
}
END_TEST

START_TEST(analysis_reason_denies_even_when_everything_is_allowed)
{
	struct policy *p = load_ok("allow import a:b" O(1) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_import(&m, "a", "b");
	add_reason(&m, PW_TRUNCATED);
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	/* The analysis' own reasons are the caller's; none is added. */
	ck_assert_uint_eq(o.n_reasons, 0);
	policy_free(p);
}
END_TEST

/* ==== limits ========================================================= */

START_TEST(limit_reason_is_a_hit_of_the_rule_that_set_it)
{
	struct policy *p = load_ok("deny limit opcodes > 2M" O(30) "\n"
	    "deny limit nesting > 50" O(31) "\n");
	struct message m;
	struct outcome o;

	message_init(&m, 2, 20);
	add_reason(&m, PW_LIMIT_OPCODES);
	add_reason(&m, PW_LIMIT_STACK_DEPTH);
	decide_ok(p, &m, &o);
	ck_assert_int_eq(o.verdict, POLICY_DENY);
	ck_assert_uint_eq(o.n_reasons, 0);
	ck_assert_uint_eq(o.n_hits, 1);
	ck_assert_uint_eq(o.hit_ids[0], 30);
	ck_assert_int_eq(o.hit_actions[0], POLICY_ACTION_DENY);
	ck_assert_str_eq(o.hit_matched[0], "opcodes");
	policy_free(p);
}
END_TEST

START_TEST(policy_limits_sets_only_the_limits_the_rules_set)
{
	struct policy *p = load_ok("deny limit message_bytes > 64k" O(1) "\n"
	    "deny limit opcodes > 2M" O(2) "\n");
	struct pvm_limits l;

	memset(&l, 0, sizeof(l));
	l.max_stack_depth = 7;
	l.max_memo_entries = 7;
	l.max_nesting = 7;
	l.max_container_items = 7;
	l.max_string_bytes = 7;
	l.max_analysis_bytes = 7;
	policy_limits(p, &l);
	ck_assert_uint_eq(l.max_message_bytes, 65536);
	ck_assert_uint_eq(l.max_opcodes, 2000000);
	ck_assert_uint_eq(l.max_stack_depth, 7);
	ck_assert_uint_eq(l.max_memo_entries, 7);
	ck_assert_uint_eq(l.max_nesting, 7);
	ck_assert_uint_eq(l.max_container_items, 7);
	ck_assert_uint_eq(l.max_string_bytes, 7);
	ck_assert_uint_eq(l.max_analysis_bytes, 7);
	policy_free(p);
}
END_TEST

START_TEST(limit_units_are_1024_for_sizes_and_1000_for_counts)
{
	struct policy *p = load_ok(
	    "deny limit message_bytes > 16M" O(1) "\n"
	    "deny limit string_bytes > 1G" O(2) "\n"
	    "deny limit stack_depth > 3k" O(3) "\n"
	    "deny limit memo_entries > 5M" O(4) "\n"
	    "deny limit container_items > 7" O(5) "\n"
	    "deny limit nesting > 1k" O(6) "\n");
	struct pvm_limits l;

	memset(&l, 0, sizeof(l));
	policy_limits(p, &l);
	ck_assert_uint_eq(l.max_message_bytes, 16777216);
	ck_assert_uint_eq(l.max_string_bytes, 1073741824);
	ck_assert_uint_eq(l.max_stack_depth, 3000);
	ck_assert_uint_eq(l.max_memo_entries, 5000000);
	ck_assert_uint_eq(l.max_container_items, 7);
	ck_assert_uint_eq(l.max_nesting, 1000);
	ck_assert_uint_eq(l.max_opcodes, 0);
	policy_free(p);
}
END_TEST

START_TEST(limit_of_zero_is_an_error_at_the_value)
{
	assert_load_error("deny limit opcodes > 0" O(1) "\n", 1, 22,
	    "a limit of 0 denies every message");
}
END_TEST

START_TEST(unknown_limit_is_an_error_at_its_name)
{
	assert_load_error("deny limit bytes > 10" O(1) "\n", 1, 12,
	    "unknown limit 'bytes'");
}
END_TEST

START_TEST(unknown_unit_is_an_error_at_the_unit)
{
	assert_load_error("deny limit opcodes > 10x" O(1) "\n", 1, 24,
	    "unexpected 'x'");
	assert_load_error("deny limit message_bytes > 1Mi" O(1) "\n", 1, 30,
	    "unexpected 'i'");
}
END_TEST

START_TEST(limit_beyond_64_bits_is_an_error_at_the_value)
{
	assert_load_error("deny limit opcodes > 99999999999999999999" O(1)
	    "\n", 1, 22, "a limit value is too large");
	/* 16 EiB does not fit either, once the unit is applied. */
	assert_load_error("deny limit message_bytes > 17179869184G" O(1)
	    "\n", 1, 28, "a limit value is too large");
}
END_TEST

START_TEST(a_policy_lives_until_its_last_holder_lets_go)
{
	struct policy *p = load_ok("mode detect\n");

	/* A reload lets go of the listener's hold while a connection still
	 * decides with it (ASan would see a use after free or a leak). */
	ck_assert_ptr_eq(policy_ref(p), p);
	policy_free(p);
	ck_assert_int_eq(policy_mode(p), POLICY_MODE_DETECT);
	policy_free(p);
	ck_assert_ptr_null(policy_ref(NULL));
	policy_free(NULL);
}
END_TEST

Suite *policy_suite(void);

Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *load = tcase_create("load");
	TCase *warn = tcase_create("warnings");
	TCase *dec = tcase_create("decide");

	tcase_add_test(load, rule_without_options_is_an_error_at_the_end);
	tcase_add_test(load, missing_required_option_is_an_error_at_the_options);
	tcase_add_test(load, unknown_option_is_an_error_at_its_name);
	tcase_add_test(load, option_given_twice_is_an_error_at_the_second);
	tcase_add_test(load, id_zero_is_an_error_at_the_value);
	tcase_add_test(load, id_above_32_bits_is_an_error_at_the_value);
	tcase_add_test(load, id_4294967295_is_accepted);
	tcase_add_test(load, unknown_severity_is_an_error_at_the_value);
	tcase_add_test(load, name_without_colon_is_an_error_at_the_name);
	tcase_add_test(load, name_with_two_colons_is_an_error_at_the_name);
	tcase_add_test(load, unterminated_string_is_an_error_at_its_quote);
	tcase_add_test(load, unterminated_pattern_is_an_error_at_its_slash);
	tcase_add_test(load, invalid_pattern_is_an_error_at_the_offending_char);
	tcase_add_test(load,
	    invalid_pattern_after_escaped_slash_is_an_error_at_the_char);
	tcase_add_test(load,
	    invalid_pattern_after_escaped_backslash_is_an_error_at_the_char);
	tcase_add_test(load, unknown_op_is_an_error_at_the_op);
	tcase_add_test(load, args_on_appends_is_an_error_at_args);
	tcase_add_test(load, message_rule_cannot_allow);
	tcase_add_test(load, limit_rule_cannot_alert);
	tcase_add_test(load, limit_set_twice_is_an_error_at_the_second);
	tcase_add_test(load, mode_after_a_rule_is_an_error_at_mode);
	tcase_add_test(load, mode_set_twice_is_an_error_at_the_second);
	tcase_add_test(load, unknown_mode_is_an_error_at_the_word);
	tcase_add_test(load, ids_of_the_denylist_are_refused);
	tcase_add_test(load, ids_next_to_the_denylist_range_are_accepted);
	tcase_add_test(load, nul_byte_is_an_error_at_the_byte);
	tcase_add_test(load, unknown_statement_is_an_error_at_its_word);
	tcase_add_test(load, include_is_refused_with_no_include);
	tcase_add_test(load, include_of_a_missing_file_is_an_error_at_the_include);
	tcase_add_test(load,
	    rule_file_sizes_around_the_buffer_steps_and_the_bound);
	tcase_add_test(load,
	    include_of_the_same_file_twice_is_an_error_at_the_second);
	tcase_add_test(load, include_cycle_is_an_error_where_it_closes);
	tcase_add_test(load, file_including_itself_is_an_error);
	tcase_add_test(load, mode_in_an_included_file_is_an_error_in_that_file);
	tcase_add_test(load, included_rules_are_read_where_the_include_stands);
	tcase_add_test(load, ext_code_out_of_range_is_an_error);
	tcase_add_test(load, ext_code_mapped_twice_is_an_error_at_the_second);
	tcase_add_test(load, ext_mapping_to_a_pattern_is_an_error);
	tcase_add_test(load, empty_ranges_are_errors);
	tcase_add_test(load, limit_of_zero_is_an_error_at_the_value);
	tcase_add_test(load, unknown_limit_is_an_error_at_its_name);
	tcase_add_test(load, unknown_unit_is_an_error_at_the_unit);
	tcase_add_test(load, limit_beyond_64_bits_is_an_error_at_the_value);
	suite_add_tcase(s, load);

	tcase_add_test(warn, exact_rule_after_the_same_exact_rule_is_warned);
	tcase_add_test(warn, exact_rule_after_a_covering_pattern_is_warned);
	tcase_add_test(warn,
	    exact_rule_after_a_pattern_that_misses_it_is_not_warned);
	tcase_add_test(warn, pattern_after_the_identical_pattern_is_warned);
	tcase_add_test(warn, pattern_with_other_flags_is_not_warned);
	tcase_add_test(warn, rule_after_an_alert_is_not_warned);
	tcase_add_test(warn, call_rule_with_narrower_ops_after_broader_is_warned);
	tcase_add_test(warn,
	    call_rule_with_broader_ops_after_narrower_is_not_warned);
	tcase_add_test(warn, call_rule_with_args_after_one_without_is_warned);
	tcase_add_test(warn,
	    call_rule_with_narrower_args_after_broader_is_warned);
	tcase_add_test(warn,
	    call_rule_without_args_after_one_with_is_not_warned);
	tcase_add_test(warn, ext_rule_inside_an_earlier_deny_ext_range_is_warned);
	tcase_add_test(warn,
	    ext_rule_inside_an_earlier_allow_ext_range_is_not_warned);
	tcase_add_test(warn, duplicate_id_is_warned);
	tcase_add_test(warn, duplicate_id_fails_a_strict_load);
	tcase_add_test(warn, strict_load_without_warnings_succeeds);
	suite_add_tcase(s, warn);

	tcase_add_test(dec, first_terminal_rule_in_file_order_decides_allow_first);
	tcase_add_test(dec, first_terminal_rule_in_file_order_decides_deny_first);
	tcase_add_test(dec, alert_before_the_decider_is_a_hit_and_decides_nothing);
	tcase_add_test(dec, alert_alone_leaves_the_default_deny);
	tcase_add_test(dec, alert_after_the_decider_is_not_reported);
	tcase_add_test(dec, hit_carries_the_rule_as_written);
	tcase_add_test(dec, unmatched_import_is_denied_by_default);
	tcase_add_test(dec, every_import_is_decided_not_just_the_first);
	tcase_add_test(dec, message_without_imports_or_calls_is_allowed);
	tcase_add_test(dec, builtin_policy_denies_every_import);
	tcase_add_test(dec, import_known_only_at_run_time_is_never_allowed);
	tcase_add_test(dec, literal_star_name_is_matched_like_any_name);
	tcase_add_test(dec, denylist_wins_over_an_over_broad_allow);
	tcase_add_test(dec, denylist_wins_over_an_exact_allow);
	tcase_add_test(dec, remapped_import_shows_the_raw_name);
	tcase_add_test(dec, nul_byte_in_a_name_is_written_escaped);
	tcase_add_test(dec, pattern_must_match_the_whole_name);
	tcase_add_test(dec, pattern_alternatives_are_anchored_too);
	tcase_add_test(dec, pattern_may_end_in_an_escaped_backslash);
	tcase_add_test(dec, pattern_may_hold_an_escaped_slash);
	tcase_add_test(dec, pattern_i_flag_ignores_case);
	tcase_add_test(dec, exact_rule_names_module_and_qualname_apart);
	tcase_add_test(dec, pattern_sees_module_dot_qualname);
	tcase_add_test(dec, hits_are_reported_once_per_rule_and_name);
	tcase_add_test(dec, hits_start_afresh_for_each_message);
	tcase_add_test(dec, failing_reason_callback_denies_even_in_detect_mode);
	tcase_add_test(dec, null_hit_callback_is_allowed);
	tcase_add_test(dec, call_rule_matches_only_its_ops);
	tcase_add_test(dec, call_rule_with_any_matches_every_op);
	tcase_add_test(dec, unmatched_call_is_denied_with_its_args);
	tcase_add_test(dec, call_denied_by_a_rule_names_it);
	tcase_add_test(dec, unknown_callable_is_denied_with_why);
	tcase_add_test(dec, method_call_is_named_module_colon_class_dot_method);
	tcase_add_test(dec, args_tuple_matches_only_its_arity);
	tcase_add_test(dec, args_alternatives_match_either);
	tcase_add_test(dec, args_str_literal_matches_only_that_text);
	tcase_add_test(dec, args_str_type_matches_any_str);
	tcase_add_test(dec, args_int_literal_matches_only_that_value);
	tcase_add_test(dec, args_instance_and_class_differ);
	tcase_add_test(dec, args_unknown_value_is_matched_only_by_any);
	tcase_add_test(dec, call_without_args_never_matches_a_rule_with_args);
	tcase_add_test(dec, unreadable_args_are_matched_only_by_any);
	tcase_add_test(dec, call_rules_with_args_are_tried_in_file_order);
	tcase_add_test(dec,
	    allows_calls_only_with_an_allow_call_or_persid_rule);
	tcase_add_test(dec, persid_rule_matches_the_exact_id);
	tcase_add_test(dec, persid_pattern_matches_the_whole_id);
	tcase_add_test(dec, persid_not_known_exactly_is_not_matched);
	tcase_add_test(dec, ext_statement_maps_a_code_for_the_analyzer);
	tcase_add_test(dec, mapped_ext_import_is_matched_by_import_rules);
	tcase_add_test(dec, ext_rule_matches_codes_in_its_range);
	tcase_add_test(dec, ext_rule_denies_an_unmapped_code);
	tcase_add_test(dec, ext_rule_cannot_allow_an_unmapped_code);
	tcase_add_test(dec, deny_ext_after_allow_ext_decides_unmapped_codes);
	tcase_add_test(dec, ext_rule_allows_a_mapped_code);
	tcase_add_test(dec, message_protocol_below);
	tcase_add_test(dec, message_protocol_range);
	tcase_add_test(dec, message_size_at_least);
	tcase_add_test(dec, message_size_above_and_at_most);
	tcase_add_test(dec, message_rule_denial_gives_a_message_reason);
	tcase_add_test(dec, detect_mode_turns_deny_into_would_deny);
	tcase_add_test(dec, detect_mode_still_allows_what_is_allowed);
	tcase_add_test(dec, enforce_mode_is_the_default);
	tcase_add_test(dec, analysis_reason_denies_even_when_everything_is_allowed);
	tcase_add_test(dec, limit_reason_is_a_hit_of_the_rule_that_set_it);
	tcase_add_test(dec, policy_limits_sets_only_the_limits_the_rules_set);
	tcase_add_test(dec, limit_units_are_1024_for_sizes_and_1000_for_counts);
	tcase_add_test(dec, a_policy_lives_until_its_last_holder_lets_go);
	suite_add_tcase(s, dec);
	return s;
}

UNIT_SUITE(policy_suite)
