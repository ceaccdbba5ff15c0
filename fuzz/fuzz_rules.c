/*
 * libFuzzer harness for the rule loader and the decisions it leads to.
 * The input is rule text.  It is loaded without includes, then (unless
 * that failed without a warning) again with POLICY_LOAD_STRICT.  Beyond
 * "no crash, no leak, no undefined behaviour" it checks the loader's
 * contract:
 *   - every diagnostic is one NUL-terminated line without control bytes,
 *     about the input (or about nothing, for the --strict summary), at a
 *     line and column that exist in the input;
 *   - a failed load reports exactly one error, a successful one none;
 *   - a strict load succeeds exactly when the plain one did without a
 *     warning, and reports the same warnings.
 * A policy that loads decides a fixed message (with names and an args
 * shape taken from the input), once clean and once with limits hit, then
 * a one-import message: the verdict agrees with the reasons given;
 * os.system, names known only at run time and unmapped EXT codes are
 * always denied; hits come once per (rule, matched).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.rules"
#define MESSAGE_MAX_BYTES 4096
#define MAX_HITS 256

/* Opcode bytes, as in pickletools. */
#define OP_REDUCE	0x52
#define OP_NEWOBJ	0x81
#define OP_BUILD	0x62
#define OP_SETITEMS	0x75
#define OP_PERSID	0x50
#define OP_GLOBAL	0x63
#define OP_STACK_GLOBAL	0x93
#define OP_EXT2		0x83

static void
check(int ok)
{
	if (!ok)
		abort();
}

/* What a load said. */
struct load_seen {
	const uint8_t *text;
	size_t len;
	unsigned errors, warnings;
};

/* The length of line ${line} (1-based) of ${text}, or -1 if there is none. */
static long
line_length(const uint8_t *text, size_t len, unsigned line)
{
	size_t i = 0, start;
	unsigned n = 1;

	while (n < line) {
		const uint8_t *nl = memchr(text + i, '\n', len - i);

		if (nl == NULL)
			return -1;
		i = (size_t)(nl - text) + 1;
		n++;
	}
	start = i;
	while (i < len && text[i] != '\n')
		i++;
	return (long)(i - start);
}

static void
on_diag(void *cookie, const struct policy_diag *d)
{
	struct load_seen *s = cookie;
	size_t n, i;
	long ll;

	check(d->message != NULL);
	n = strnlen(d->message, MESSAGE_MAX_BYTES);
	check(n > 0 && n < MESSAGE_MAX_BYTES);
	for (i = 0; i < n; i++)
		check((unsigned char)d->message[i] >= 0x20);
	if (d->warning)
		s->warnings++;
	else
		s->errors++;
	if (d->file == NULL) {
		/* Only the --strict summary is about no place. */
		check(!d->warning);
		return;
	}
	check(strcmp(d->file, NAME) == 0);
	check(d->line >= 1 && d->col >= 1);
	ll = line_length(s->text, s->len, d->line);
	check(ll >= 0);
	/* One past the last byte: "found the end of the line". */
	check((long)d->col - 1 <= ll);
}

/* ---- deciding -------------------------------------------------------- */

struct decide_seen {
	size_t reasons, hits;
	bool os_system_denied, unknown_import_denied, unknown_call_denied;
	bool ext_denied;
	const struct policy_rule_info *hit_rule[MAX_HITS];
	char hit_matched[MAX_HITS][64];
	size_t hit_len[MAX_HITS];
};

/* Positions that name the import or call a reason is about. */
#define POS_OS_SYSTEM		20
#define POS_UNKNOWN_IMPORT	30
#define POS_UNMAPPED_EXT	40
#define POS_UNKNOWN_CALL	130

static int
on_reason(void *cookie, enum pw_code code, uint64_t pos, const char *detail)
{
	struct decide_seen *s = cookie;

	check(code == PW_IMPORT || code == PW_CALL || code == PW_MESSAGE);
	check(detail != NULL && strnlen(detail, 1 << 16) > 0);
	s->reasons++;
	if (code == PW_IMPORT && pos == POS_OS_SYSTEM)
		s->os_system_denied = true;
	if (code == PW_IMPORT && pos == POS_UNKNOWN_IMPORT)
		s->unknown_import_denied = true;
	if (code == PW_IMPORT && pos == POS_UNMAPPED_EXT)
		s->ext_denied = true;
	if (code == PW_CALL && pos == POS_UNKNOWN_CALL)
		s->unknown_call_denied = true;
	return 0;
}

static int
on_hit(void *cookie, const struct policy_rule_info *rule, const char *matched,
    size_t len)
{
	struct decide_seen *s = cookie;
	size_t i, keep = len < 64 ? len : 64;

	check(rule != NULL && rule->id != 0 && rule->rev != 0);
	check(rule->msg != NULL && rule->severity != NULL);
	check(rule->action == POLICY_ACTION_ALLOW ||
	    rule->action == POLICY_ACTION_DENY ||
	    rule->action == POLICY_ACTION_ALERT);
	check(matched != NULL || len == 0);
	/* Once per (rule, matched) and message. */
	for (i = 0; i < s->hits && i < MAX_HITS; i++)
		check(!(s->hit_rule[i] == rule && s->hit_len[i] == len &&
		    memcmp(s->hit_matched[i], matched, keep) == 0 &&
		    len <= 64));
	if (s->hits < MAX_HITS) {
		s->hit_rule[s->hits] = rule;
		s->hit_len[s->hits] = len;
		memcpy(s->hit_matched[s->hits], matched, keep);
	}
	s->hits++;
	return 0;
}

static struct pvm_str
str_of(const char *p, size_t len)
{
	struct pvm_str s = { p, len };

	return s;
}

static struct pvm_str
z(const char *p)
{
	return str_of(p, strlen(p));
}

static void
decide(const struct policy *p, const uint8_t *data, size_t size)
{
	struct pvm_import imports[6];
	struct pvm_call calls[7];
	struct pvm_reason reasons[2];
	struct policy_findings f;
	struct policy_eval *e;
	struct decide_seen *s;
	enum policy_verdict v;
	size_t cut = size < 8 ? size : 8, end = size < 24 ? size : 24;
	size_t args_end = size < 88 ? size : 88, i;
	bool mapped;
	int pass;

	memset(imports, 0, sizeof(imports));
	memset(calls, 0, sizeof(calls));
	imports[0].op = OP_GLOBAL;
	imports[0].pos = 10;
	imports[0].module = z("collections");
	imports[0].name = z("OrderedDict");
	imports[1].op = OP_GLOBAL;
	imports[1].pos = POS_OS_SYSTEM;
	imports[1].module = z("os");
	imports[1].name = z("system");
	imports[2].op = OP_STACK_GLOBAL;
	imports[2].pos = POS_UNKNOWN_IMPORT;
	imports[2].module = z(PVM_UNKNOWN_NAME);
	imports[2].name = z("loads");
	imports[3].op = OP_EXT2;
	imports[3].pos = POS_UNMAPPED_EXT;
	imports[3].ext_code = 5;
	/* EXT2 5: mapped if the rules say so, unknown otherwise. */
	mapped = policy_ext_lookup((void *)p, 5, &imports[3].module,
	    &imports[3].name) == 1;
	if (!mapped)
		imports[3].module = imports[3].name = z(PVM_UNKNOWN_NAME);
	imports[3].module_known = imports[3].name_known = mapped;
	/* A name out of the input itself: bytes a pattern may never expect. */
	imports[4].op = OP_STACK_GLOBAL;
	imports[4].pos = 50;
	imports[4].protocol = 4;
	imports[4].module = cut > 0 ? str_of((const char *)data, cut) : z("m");
	imports[4].name = end > cut ? str_of((const char *)data + cut,
	    end - cut) : z("n");
	imports[5].op = OP_GLOBAL;
	imports[5].pos = 60;
	imports[5].module = z("new_mod");
	imports[5].name = z("thing");
	imports[5].raw_module = z("old_mod");
	imports[5].raw_name = z("thing");
	imports[5].remapped = true;
	for (i = 0; i < 6; i++) {
		if (i != 2 && i != 3)
			imports[i].module_known = imports[i].name_known = true;
		if (!imports[i].remapped) {
			imports[i].raw_module = imports[i].module;
			imports[i].raw_name = imports[i].name;
		}
	}

	calls[0].op = OP_REDUCE;
	calls[0].pos = 100;
	calls[0].callable = z("collections.OrderedDict");
	calls[0].module_len = 11;
	calls[0].args = z("(list,)");
	calls[1].op = OP_SETITEMS;
	calls[1].pos = 110;
	calls[1].callable = z("collections.OrderedDict.__setitem__");
	calls[1].module_len = 11;
	calls[2].op = OP_BUILD;
	calls[2].pos = 120;
	calls[2].callable = z("a.C.__setstate__");
	calls[2].module_len = 1;
	calls[2].args = z("(?, \"x\", (int, a:C()), dict)");
	calls[3].op = OP_REDUCE;
	calls[3].pos = POS_UNKNOWN_CALL;
	calls[3].why = "callable is the result of a call";
	calls[3].args = z("()");
	calls[4].op = OP_PERSID;
	calls[4].pos = 140;
	calls[4].callable = z("persistent_load");
	calls[4].args = z("\"blob:1\"");
	calls[4].pid = z("blob:1");
	/* Arguments out of the input: the call-shape parser's turn. */
	calls[5].op = OP_NEWOBJ;
	calls[5].pos = 150;
	calls[5].callable = z("a.C");
	calls[5].module_len = 1;
	calls[5].args = str_of((const char *)data + end, args_end - end);
	calls[6].op = OP_REDUCE;
	calls[6].pos = 160;
	calls[6].callable = z("os.system");
	calls[6].module_len = 2;
	calls[6].args = z("(\"id\",)");

	reasons[0].code = PW_LIMIT_OPCODES;
	reasons[0].pos = 7;
	reasons[0].detail = "limit";
	reasons[1].code = PW_LIMIT_NESTING;
	reasons[1].pos = 8;
	reasons[1].detail = "limit";

	memset(&f, 0, sizeof(f));
	f.protocol = size > 0 ? data[0] % 6 : 2;
	f.length = size;
	f.n_imports = 6;
	f.n_calls = 7;
	f.imports = imports;
	f.calls = calls;
	f.reasons = reasons;

	if ((e = policy_eval_new(p)) == NULL || (s = malloc(sizeof(*s))) ==
	    NULL) {
		policy_eval_free(e);
		return;
	}
	/* Once clean, once with limits hit; the same scratch for both. */
	for (pass = 0; pass < 2; pass++) {
		f.n_reasons = pass == 0 ? 0 : 2;
		memset(s, 0, sizeof(*s));
		check(policy_decide(e, &f, on_reason, on_hit, s, &v) == 0);
		check(s->os_system_denied && s->unknown_import_denied &&
		    s->unknown_call_denied);
		check(mapped || s->ext_denied);
		check(s->reasons > 0);
		check(v == (policy_mode(p) == POLICY_MODE_DETECT ?
		    POLICY_WOULD_DENY : POLICY_DENY));
	}
	/* Nothing denied and nothing found: the verdict is allow. */
	f.n_imports = 1;
	f.n_calls = 0;
	f.n_reasons = 0;
	memset(s, 0, sizeof(*s));
	check(policy_decide(e, &f, on_reason, NULL, s, &v) == 0);
	check((v == POLICY_ALLOW) == (s->reasons == 0));
	free(s);
	policy_eval_free(e);
}

static void
inspect(const struct policy *p, const uint8_t *data, size_t size)
{
	struct pvm_limits l;
	struct pvm_str module, name;
	uint64_t *field = (uint64_t *)&l;
	size_t i, parens = 0;
	int64_t code;

	/* Every rule ends with an options block. */
	for (i = 0; i < size; i++)
		parens += data[i] == '(';
	check(policy_rule_count(p, true) <= parens);
	check(policy_rule_count(p, false) >= policy_rule_count(p, true));

	memset(&l, 0xa5, sizeof(l));
	policy_limits(p, &l);
	for (i = 0; i < sizeof(l) / sizeof(uint64_t); i++)
		check(field[i] != 0);

	for (code = 0; code < 12; code++) {
		if (policy_ext_lookup((void *)p, code, &module, &name)) {
			check(code >= 1);
			check(module.ptr != NULL && module.len > 0);
			check(name.ptr != NULL && name.len > 0);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct load_seen plain = { data, size, 0, 0 };
	struct load_seen strict = { data, size, 0, 0 };
	struct policy *p, *q;

	p = policy_load_text(NAME, (const char *)data, size,
	    POLICY_LOAD_NO_INCLUDE, on_diag, &plain);
	check(p != NULL ? plain.errors == 0 : plain.errors == 1);
	/* Loading costs the denylist's too: skip the strict load when it
	 * can only repeat the plain one's error. */
	if (p != NULL || plain.warnings > 0) {
		q = policy_load_text(NAME, (const char *)data, size,
		    POLICY_LOAD_NO_INCLUDE | POLICY_LOAD_STRICT, on_diag,
		    &strict);
		check(strict.warnings == plain.warnings);
		check((q != NULL) == (p != NULL && plain.warnings == 0));
		check(q != NULL ? strict.errors == 0 : strict.errors == 1);
		policy_free(q);
	}
	if (p == NULL)
		return 0;
	inspect(p, data, size);
	decide(p, data, size);
	policy_free(p);
	return 0;
}
