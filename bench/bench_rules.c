/*
 * bench_rules: the cost of deciding with a rule file (policy_decide), per
 * import or call, as the rule set grows.
 *
 * usage: bench_rules [-t min_seconds] [-r repeats] [-n counts] [-p counts]
 *
 * Rule sets, each generated in memory and loaded with policy_load_text on
 * top of the built-in denylist:
 *   - import-exact-N: N rules `allow import benchmodI:ClassI`, after 4
 *     import patterns that match none of the names (so that every
 *     decision also runs them, as a policy mixing both would);
 *   - call-exact-N: N rules `allow call REDUCE benchmodI:ClassI args
 *     (int, str)`, after 4 call patterns that match none;
 *   - import-pattern-N: N rules `allow import /pmodI\.Class.*\/`.
 * I is written with 7 digits in every set, so that names are as long at
 * 10 rules as at 100,000: a pattern (the denylist's too) costs more on a
 * longer name.
 * N is each of -n (exact sets, default 10,1000,100000) and -p (pattern
 * sets, default 10,100,1000).  The messages are 16 of 64 imports (or
 * calls) each, names drawn at random (fixed seed) from the rules, so every
 * one is allowed: 1024 decisions per pass, the hash lookups spread over
 * the whole rule set.  Before timing, every message is decided untimed and
 * the run aborts unless each is POLICY_ALLOW with no reason and one hit per
 * distinct name.  A pass is one policy_decide per message, with a hit
 * callback that counts (the proxy's keeps a copy), on one policy_eval
 * reused as the proxy reuses it.  All sets are loaded first; then each
 * of ${repeats} rounds takes one sample of at least ${min_seconds} from
 * every set in turn, so that sets compared in a ratio are timed under the
 * same machine load; a set's number is its best sample.  Results: one
 * JSON object per line and set on stdout, progress on stderr.  Clock:
 * CLOCK_MONOTONIC.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"

#define MESSAGES 16
#define ITEMS_PER_MESSAGE 64
#define ITEMS (MESSAGES * ITEMS_PER_MESSAGE)
#define NAME_BYTES 64
#define MAX_COUNTS 8
#define LEADING_PATTERNS 4
#define OP_REDUCE 0x52		/* R */

enum kind { KIND_IMPORT, KIND_CALL };
enum style { STYLE_EXACT, STYLE_PATTERN };

/* One rule set and the messages decided with it. */
struct ruleset {
	enum kind kind;
	enum style style;
	size_t n_rules;
	struct policy *policy;
	double load_seconds;
	struct pvm_import imports[ITEMS];
	struct pvm_call calls[ITEMS];
	char modules[ITEMS][NAME_BYTES];	/* import: module */
	char names[ITEMS][NAME_BYTES];		/* import: name; call: the
						 * callable */
	struct policy_findings messages[MESSAGES];
	size_t distinct[MESSAGES];		/* names in each message */
};

/* A text being built; grows as needed. */
struct text {
	char *buf;
	size_t len, cap;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
    noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_rules: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	exit(EXIT_FAILURE);
}

static double
now_seconds(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime: %s", strerror(errno));
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void text_printf(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("vsnprintf failed");
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap ? t->cap * 2 : 1 << 16;
		if ((t->buf = realloc(t->buf, t->cap)) == NULL)
			die("out of memory for the rule text");
	}
}

/* xorshift64*: the same names every run. */
static uint64_t
next_random(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dULL;
}

static const char *
set_name(const struct ruleset *rs, char buf[64])
{
	snprintf(buf, 64, "%s-%s-%zu", rs->kind == KIND_IMPORT ? "import" :
	    "call", rs->style == STYLE_EXACT ? "exact" : "pattern",
	    rs->n_rules);
	return buf;
}

static void
on_diag(void *cookie, const struct policy_diag *d)
{
	(void)cookie;
	if (!d->warning)
		fprintf(stderr, "bench_rules: %s:%u:%u: %s\n",
		    d->file != NULL ? d->file : "-", d->line, d->col,
		    d->message);
}

/* The rule text of ${rs}; ids 1.. in file order. */
static void
write_rules(const struct ruleset *rs, struct text *t)
{
	uint32_t id = 1;
	size_t i;

	if (rs->style == STYLE_EXACT) {
		/* Patterns that match none of the names, tried first. */
		for (i = 0; i < LEADING_PATTERNS; i++) {
			if (rs->kind == KIND_IMPORT)
				text_printf(t, "allow import /other%zu\\..*/ "
				    "(id: %u; rev: 1; msg: \"pattern\"; "
				    "severity: info;)\n", i, id++);
			else
				text_printf(t, "allow call REDUCE "
				    "/other%zu\\..*/ (id: %u; rev: 1; msg: "
				    "\"pattern\"; severity: info;)\n", i, id++);
		}
	}
	for (i = 0; i < rs->n_rules; i++) {
		if (rs->style == STYLE_PATTERN)
			text_printf(t, "allow import /pmod%07zu\\.Class.*/ "
			    "(id: %u; rev: 1; msg: \"pattern %zu\"; severity: "
			    "info;)\n", i, id++, i);
		else if (rs->kind == KIND_IMPORT)
			text_printf(t, "allow import benchmod%07zu:Class%07zu "
			    "(id: %u; rev: 1; msg: \"exact %zu\"; severity: "
			    "info;)\n", i, i, id++, i);
		else
			text_printf(t, "allow call REDUCE "
			    "benchmod%07zu:Class%07zu "
			    "args (int, str) (id: %u; rev: 1; msg: \"exact "
			    "%zu\"; severity: info;)\n", i, i, id++, i);
	}
}

/* The messages of ${rs}: names drawn from its rules. */
static void
make_messages(struct ruleset *rs)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL ^ rs->n_rules;
	size_t m, k, i, j;

	for (i = 0; i < ITEMS; i++) {
		size_t r = (size_t)(next_random(&seed) % rs->n_rules);

		if (rs->style == STYLE_PATTERN) {
			snprintf(rs->modules[i], NAME_BYTES, "pmod%07zu", r);
			snprintf(rs->names[i], NAME_BYTES, "Class%07zu", i);
		} else if (rs->kind == KIND_IMPORT) {
			snprintf(rs->modules[i], NAME_BYTES, "benchmod%07zu",
			    r);
			snprintf(rs->names[i], NAME_BYTES, "Class%07zu", r);
		} else {
			snprintf(rs->modules[i], NAME_BYTES, "benchmod%07zu",
			    r);
			snprintf(rs->names[i], NAME_BYTES,
			    "benchmod%07zu.Class%07zu", r, r);
		}
		if (rs->kind == KIND_IMPORT) {
			struct pvm_import *imp = &rs->imports[i];

			imp->op = 0x93;		/* STACK_GLOBAL */
			imp->protocol = 4;
			imp->pos = 10 * (i % ITEMS_PER_MESSAGE);
			imp->module.ptr = rs->modules[i];
			imp->module.len = strlen(rs->modules[i]);
			imp->name.ptr = rs->names[i];
			imp->name.len = strlen(rs->names[i]);
			imp->raw_module = imp->module;
			imp->raw_name = imp->name;
			imp->module_known = imp->name_known = true;
		} else {
			struct pvm_call *c = &rs->calls[i];

			c->op = OP_REDUCE;
			c->pos = 10 * (i % ITEMS_PER_MESSAGE);
			c->callable.ptr = rs->names[i];
			c->callable.len = strlen(rs->names[i]);
			c->module_len = strlen(rs->modules[i]);
			c->args.ptr = "(int, \"x\")";
			c->args.len = strlen(c->args.ptr);
		}
	}
	for (m = 0; m < MESSAGES; m++) {
		struct policy_findings *f = &rs->messages[m];
		size_t first = m * ITEMS_PER_MESSAGE;

		memset(f, 0, sizeof(*f));
		f->protocol = 4;
		f->length = 1000;
		if (rs->kind == KIND_IMPORT) {
			f->n_imports = ITEMS_PER_MESSAGE;
			f->imports = rs->imports + first;
		} else {
			f->n_calls = ITEMS_PER_MESSAGE;
			f->calls = rs->calls + first;
		}
		/* Hits come once per (rule, name): count the names. */
		rs->distinct[m] = 0;
		for (k = first; k < first + ITEMS_PER_MESSAGE; k++) {
			for (j = first; j < k; j++)
				if (strcmp(rs->modules[j],
				    rs->modules[k]) == 0 &&
				    strcmp(rs->names[j], rs->names[k]) == 0)
					break;
			rs->distinct[m] += j == k;
		}
	}
}

static void
load_ruleset(struct ruleset *rs)
{
	struct text t = { NULL, 0, 0 };
	char name[64];
	double start;

	write_rules(rs, &t);
	start = now_seconds();
	rs->policy = policy_load_text(set_name(rs, name), t.buf, t.len, 0,
	    on_diag, NULL);
	rs->load_seconds = now_seconds() - start;
	if (rs->policy == NULL)
		die("%s: the generated rules did not load", name);
	free(t.buf);
}

struct counts {
	size_t reasons, hits;
};

static int
count_reason(void *cookie, enum pw_code code, uint64_t pos,
    const char *detail)
{
	struct counts *c = cookie;

	(void)code;
	(void)pos;
	if (c->reasons++ == 0)
		fprintf(stderr, "bench_rules: reason: %s\n", detail);
	return 0;
}

static int
count_hit(void *cookie, const struct policy_rule_info *rule,
    const char *matched, size_t len)
{
	struct counts *c = cookie;

	(void)rule;
	(void)matched;
	(void)len;
	c->hits++;
	return 0;
}

/* Every message must be allowed, with one hit per distinct name. */
static void
check_ruleset(const struct ruleset *rs, struct policy_eval *e)
{
	enum policy_verdict v;
	struct counts c;
	char name[64];
	size_t m;

	for (m = 0; m < MESSAGES; m++) {
		memset(&c, 0, sizeof(c));
		if (policy_decide(e, &rs->messages[m], count_reason, count_hit,
		    &c, &v) != 0)
			die("%s message %zu: policy_decide failed",
			    set_name(rs, name), m);
		if (v != POLICY_ALLOW || c.reasons != 0 ||
		    c.hits != rs->distinct[m])
			die("%s message %zu: verdict %d, %zu reasons, %zu hits "
			    "(expected allow, 0, %zu)", set_name(rs, name), m,
			    (int)v, c.reasons, c.hits, rs->distinct[m]);
	}
}

static void
pass(const struct ruleset *rs, struct policy_eval *e)
{
	enum policy_verdict v;
	struct counts c;
	char name[64];
	size_t m;

	for (m = 0; m < MESSAGES; m++) {
		c.reasons = c.hits = 0;
		if (policy_decide(e, &rs->messages[m], count_reason, count_hit,
		    &c, &v) != 0 || v != POLICY_ALLOW)
			die("%s message %zu: not allowed while timing, though "
			    "it was when checked", set_name(rs, name), m);
	}
}

/*
 * sample_seconds(rs, e, min_seconds, passes_out):
 * One sample: whole passes over ${rs} until ${min_seconds} have elapsed.
 * Returns the seconds per pass; *${passes_out} is the number of passes.
 */
static double
sample_seconds(const struct ruleset *rs, struct policy_eval *e,
    double min_seconds, uint64_t *passes_out)
{
	double start, elapsed;
	uint64_t passes = 0;

	start = now_seconds();
	do {
		pass(rs, e);
		passes++;
		elapsed = now_seconds() - start;
	} while (elapsed < min_seconds);
	*passes_out = passes;
	return elapsed / (double)passes;
}

/* A loaded, checked rule set and its timing so far. */
struct timed_set {
	struct ruleset *rs;
	struct policy_eval *e;
	double best;		/* seconds per pass; < 0: none yet */
	uint64_t passes;	/* of the best sample */
	double load_average;	/* before its first sample */
};

static void
prepare(struct timed_set *t, enum kind kind, enum style style,
    size_t n_rules)
{
	char name[64];

	if ((t->rs = calloc(1, sizeof(*t->rs))) == NULL)
		die("out of memory");
	t->rs->kind = kind;
	t->rs->style = style;
	t->rs->n_rules = n_rules;
	load_ruleset(t->rs);
	make_messages(t->rs);
	if ((t->e = policy_eval_new(t->rs->policy)) == NULL)
		die("policy_eval_new failed");
	check_ruleset(t->rs, t->e);
	t->best = -1;
	t->load_average = -1;
	fprintf(stderr, "bench_rules: %-22s %7zu rules loaded in %9.3f s\n",
	    set_name(t->rs, name), policy_rule_count(t->rs->policy, true),
	    t->rs->load_seconds);
}

static void
report(const struct timed_set *t, double min_seconds, int repeats)
{
	const struct ruleset *rs = t->rs;
	char name[64];

	fprintf(stderr, "bench_rules: %-22s %8.1f ns per %s\n",
	    set_name(rs, name), t->best * 1e9 / ITEMS,
	    rs->kind == KIND_IMPORT ? "import" : "call");
	printf("{\"set\": \"%s\", \"kind\": \"%s\", \"style\": \"%s\", "
	    "\"n_rules\": %zu, \"user_rules\": %zu, \"all_rules\": %zu, "
	    "\"messages\": %d, \"items_per_message\": %d, "
	    "\"load_seconds\": %.6g, \"min_seconds\": %g, \"repeats\": %d, "
	    "\"load_average\": %.2f, \"passes\": %llu, "
	    "\"seconds_per_pass\": %.9g, \"ns_per_decision\": %.6g}\n",
	    set_name(rs, name), rs->kind == KIND_IMPORT ? "import" : "call",
	    rs->style == STYLE_EXACT ? "exact" : "pattern", rs->n_rules,
	    policy_rule_count(rs->policy, true),
	    policy_rule_count(rs->policy, false), MESSAGES, ITEMS_PER_MESSAGE,
	    rs->load_seconds, min_seconds, repeats, t->load_average,
	    (unsigned long long)t->passes, t->best, t->best * 1e9 / ITEMS);
	if (fflush(stdout) != 0)
		die("write error on the results");
}

/* "10,1000,100000" -> counts; returns how many. */
static size_t
parse_counts(const char *arg, size_t counts[MAX_COUNTS])
{
	const char *p = arg;
	char *end;
	size_t n = 0;

	while (*p != '\0') {
		unsigned long long v;

		if (n == MAX_COUNTS)
			die("-n/-p: more than %d counts", MAX_COUNTS);
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno != 0 || end == p || v == 0 || v > 10000000)
			die("-n/-p: bad count in \"%s\"", arg);
		counts[n++] = (size_t)v;
		p = end;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			die("-n/-p: bad count in \"%s\"", arg);
	}
	return n;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_rules [-t min_seconds] [-r repeats] "
	    "[-n exact_counts] [-p pattern_counts]\n");
	exit(EXIT_FAILURE);
}

int
main(int argc, char *argv[])
{
	struct timed_set sets[3 * MAX_COUNTS];
	double min_seconds = 0.3;
	int repeats = 5, ch, r;
	size_t exact[MAX_COUNTS], patterns[MAX_COUNTS], n_exact, n_patterns;
	size_t n_sets = 0, i;
	char *end;

	n_exact = parse_counts("10,1000,100000", exact);
	n_patterns = parse_counts("10,100,1000", patterns);
	while ((ch = getopt(argc, argv, "t:r:n:p:")) != -1) {
		switch (ch) {
		case 't':
			min_seconds = strtod(optarg, &end);
			if (*end != '\0' || !(min_seconds > 0 &&
			    min_seconds < 60))
				usage();
			break;
		case 'r':
			repeats = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || repeats < 1 || repeats > 100)
				usage();
			break;
		case 'n':
			n_exact = parse_counts(optarg, exact);
			break;
		case 'p':
			n_patterns = parse_counts(optarg, patterns);
			break;
		default:
			usage();
		}
	}
	if (argc != optind)
		usage();

	/* Every set is loaded and checked before any is timed. */
	for (i = 0; i < n_exact; i++)
		prepare(&sets[n_sets++], KIND_IMPORT, STYLE_EXACT, exact[i]);
	for (i = 0; i < n_exact; i++)
		prepare(&sets[n_sets++], KIND_CALL, STYLE_EXACT, exact[i]);
	for (i = 0; i < n_patterns; i++)
		prepare(&sets[n_sets++], KIND_IMPORT, STYLE_PATTERN,
		    patterns[i]);

	/* Round-robin samples: the sets of a ratio are timed seconds apart,
	 * under the same machine load, not minutes apart. */
	for (i = 0; i < n_sets; i++)
		pass(sets[i].rs, sets[i].e);	/* untimed: scratch memory */
	for (r = 0; r < repeats; r++) {
		for (i = 0; i < n_sets; i++) {
			struct timed_set *t = &sets[i];
			double load[1], sec;
			uint64_t passes;

			if (t->load_average < 0 && getloadavg(load, 1) == 1)
				t->load_average = load[0];
			pass(t->rs, t->e);	/* its data back in cache */
			sec = sample_seconds(t->rs, t->e, min_seconds,
			    &passes);
			if (t->best < 0 || sec < t->best) {
				t->best = sec;
				t->passes = passes;
			}
		}
	}
	for (i = 0; i < n_sets; i++) {
		report(&sets[i], min_seconds, repeats);
		policy_eval_free(sets[i].e);
		policy_free(sets[i].rs->policy);
		free(sets[i].rs);
	}
	return EXIT_SUCCESS;
}
