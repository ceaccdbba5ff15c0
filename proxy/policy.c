/*
 * Deciding with a loaded policy (see policy.h and rules/REFERENCE.md).
 *
 * For each import and each call the candidate rules are merged, in file
 * order, from three sorted lists: the rules naming it exactly (one hash
 * lookup), the pattern rules, and the rules on EXT codes or persistent ids.
 * The first allow or deny that matches decides; alerts met before it are
 * recorded.  The denylist layer is simply the first rules of every policy.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_impl.h"

/* A NUL-terminated text being built; grows as needed. */
struct text {
	char *buf;
	size_t len, cap;
};

/* One (rule, matched) pair already reported for this message. */
struct hit_slot {
	size_t rule;		/* SIZE_MAX: empty */
	uint64_t hash;
	const char *matched;
	size_t len;
};

struct policy_eval {
	const struct policy *p;
	pcre2_match_data *md;
	struct text subject;	/* module.qualname */
	struct text key;	/* module:qualname */
	struct text detail;
	struct arena *scratch;	/* per message: hit texts */
	struct arena *call_scratch;	/* per call: its parsed shape */
	struct hit_slot *hits;
	size_t hits_cap, hits_used;
};

/* Scratch memory for one message's shapes and hits. */
#define EVAL_SCRATCH_MAX_BYTES (64ULL << 20)

static int
text_put(struct text *t, const char *s, size_t n)
{
	size_t new_cap;
	char *nb;

	if (n > SIZE_MAX - 1 - t->len)
		return -1;
	if (t->len + n + 1 > t->cap) {
		new_cap = t->cap ? t->cap : 128;
		while (new_cap < t->len + n + 1) {
			if (new_cap > SIZE_MAX / 2) {
				new_cap = t->len + n + 1;
				break;
			}
			new_cap *= 2;
		}
		if ((nb = realloc(t->buf, new_cap)) == NULL)
			return -1;
		/* Defined bytes past the text too: pcre2's JIT reads whole
		 * vectors beyond a subject's end (valgrind would say it
		 * depends on uninitialised memory; the match does not). */
		memset(nb + t->cap, 0, new_cap - t->cap);
		t->buf = nb;
		t->cap = new_cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return 0;
}

static int
text_puts(struct text *t, const char *z)
{
	return text_put(t, z, strlen(z));
}

/* Start a new text; the buffer exists and is NUL-terminated afterwards
 * even if nothing else is added. */
static int
text_clear(struct text *t)
{
	t->len = 0;
	return text_put(t, "", 0);
}

/* Names may hold NUL bytes, which would cut a C string short and show a
 * reviewer a different name than the one imported. */
static int
text_put_name(struct text *t, struct pvm_str s)
{
	const char *p = s.ptr, *end = s.ptr + s.len, *nul;

	while ((nul = memchr(p, '\0', (size_t)(end - p))) != NULL) {
		if (text_put(t, p, (size_t)(nul - p)) < 0 ||
		    text_put(t, "\\x00", 4) < 0)
			return -1;
		p = nul + 1;
	}
	return text_put(t, p, (size_t)(end - p));
}

static int
text_put_qualified(struct text *t, struct pvm_str module, struct pvm_str name)
{
	if (text_put_name(t, module) < 0 || text_put(t, ".", 1) < 0)
		return -1;
	return text_put_name(t, name);
}

/* ---- the policy as a whole -------------------------------------------- */

/**
 * policy_mode(p):
 * Whether ${p} enforces or only detects.
 */
enum policy_mode
policy_mode(const struct policy *p)
{
	return p->mode;
}

/**
 * policy_rule_count(p, user_only):
 * The number of rules in ${p}, or of those from rule files if ${user_only}.
 */
size_t
policy_rule_count(const struct policy *p, bool user_only)
{
	return user_only ? p->n_rules - p->n_denylist : p->n_rules;
}

/**
 * policy_allows_calls(p):
 * Whether a rule of ${p} can allow a call: an `allow call` rule, or an
 * `allow persid` rule (persistent_load is a call).  The built-in policy
 * and the denylist allow none.
 */
bool
policy_allows_calls(const struct policy *p)
{
	size_t k;

	for (k = p->n_denylist; k < p->n_rules; k++) {
		const struct rule *r = &p->rules[k];

		if (r->info.action == POLICY_ACTION_ALLOW &&
		    (r->target == TARGET_CALL || r->target == TARGET_PERSID))
			return true;
	}
	return false;
}

/**
 * policy_limits(p, limits):
 * Set the fields of *${limits} that a `limit` rule of ${p} sets; leave the
 * others as they are.
 */
void
policy_limits(const struct policy *p, struct pvm_limits *limits)
{
	size_t k;

	for (k = 0; k < LIMIT_COUNT; k++)
		if (p->limit_set[k])
			memcpy((char *)limits + limit_defs[k].offset,
			    &p->limit_value[k], sizeof(uint64_t));
}

/**
 * policy_ext_lookup(cookie, code, module, name):
 * A pvm_ext_lookup_fn for the policy ${cookie}: resolves the codes its
 * `ext` statements map.  The names live as long as the policy.
 */
int
policy_ext_lookup(void *cookie, int64_t code, struct pvm_str *module,
    struct pvm_str *name)
{
	const struct policy *p = cookie;
	size_t i;

	for (i = 0; i < p->n_exts; i++) {
		if (p->exts[i].code == code) {
			*module = p->exts[i].module;
			*name = p->exts[i].name;
			return 1;
		}
	}
	return 0;
}

/* ---- scratch ---------------------------------------------------------- */

/**
 * policy_eval_new(p):
 * Scratch memory for deciding with ${p}, which must outlive it.  Returns
 * NULL on allocation failure.
 */
struct policy_eval *
policy_eval_new(const struct policy *p)
{
	struct policy_eval *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->p = p;
	if ((e->md = pcre2_match_data_create(1, NULL)) == NULL ||
	    (e->scratch = arena_new()) == NULL ||
	    (e->call_scratch = arena_new()) == NULL) {
		policy_eval_free(e);
		return NULL;
	}
	return e;
}

/**
 * policy_eval_free(e):
 * Release ${e}; NULL is a no-op.
 */
void
policy_eval_free(struct policy_eval *e)
{
	if (e == NULL)
		return;
	pcre2_match_data_free(e->md);
	arena_free(e->scratch);
	arena_free(e->call_scratch);
	free(e->subject.buf);
	free(e->key.buf);
	free(e->detail.buf);
	free(e->hits);
	free(e);
}

/* ---- hits ------------------------------------------------------------- */

struct decision {
	struct policy_eval *e;
	policy_reason_fn *add_reason;
	policy_hit_fn *add_hit;
	void *cookie;
	bool denied;
};

static int
hits_grow(struct policy_eval *e)
{
	size_t cap = e->hits_cap ? e->hits_cap * 2 : 64, i, j;
	struct hit_slot *slots = malloc(cap * sizeof(*slots));

	if (slots == NULL)
		return -1;
	for (i = 0; i < cap; i++)
		slots[i].rule = SIZE_MAX;
	for (i = 0; i < e->hits_cap; i++) {
		if (e->hits[i].rule == SIZE_MAX)
			continue;
		for (j = e->hits[i].hash & (cap - 1); slots[j].rule != SIZE_MAX;
		    j = (j + 1) & (cap - 1))
			;
		slots[j] = e->hits[i];
	}
	free(e->hits);
	e->hits = slots;
	e->hits_cap = cap;
	return 0;
}

/* Report that rule ${index} matched ${matched}, once per message. */
static int
hit(struct decision *d, size_t index, const char *matched, size_t len)
{
	struct policy_eval *e = d->e;
	uint64_t h = policy_hash_bytes(matched, len) ^ (index * 0x9e3779b97f4a7c15ULL);
	struct hit_slot *s;
	char *copy;
	size_t i;

	if (d->add_hit == NULL)
		return 0;
	if ((e->hits_used + 1) * 4 > e->hits_cap * 3 && hits_grow(e) < 0)
		return -1;
	for (i = h & (e->hits_cap - 1); e->hits[i].rule != SIZE_MAX;
	    i = (i + 1) & (e->hits_cap - 1)) {
		s = &e->hits[i];
		if (s->rule == index && s->hash == h && s->len == len &&
		    memcmp(s->matched, matched, len) == 0)
			return 0;
	}
	if (arena_strdup(e->scratch, matched, len, EVAL_SCRATCH_MAX_BYTES,
	    &copy) != 0)
		return -1;
	s = &e->hits[i];
	s->rule = index;
	s->hash = h;
	s->matched = copy;
	s->len = len;
	e->hits_used++;
	return d->add_hit(d->cookie, &e->p->rules[index].info, matched, len);
}

/* ---- matching ------------------------------------------------------- */

/* An import or a call, as the rules see it. */
struct item {
	enum rule_target target;	/* TARGET_IMPORT or TARGET_CALL */
	bool named;		/* subject and key are known */
	const char *subject;	/* module.qualname */
	size_t subject_len;
	const char *key;	/* module:qualname */
	size_t key_len;
	int64_t ext_code;	/* import: EXT code, 0 if none */
	const struct pvm_call *call;
	const struct shape *args;	/* parsed on first need */
	bool args_parsed;
};

/* 1 match, 0 no match; a matching error counts as a match for a rule
 * that denies or alerts and as none for a rule that allows (fail closed). */
static int
regex_matches(struct policy_eval *e, const struct rule *r, const char *s,
    size_t len)
{
	int rc = pcre2_match(r->re, (PCRE2_SPTR)s, len, 0, 0, e->md, NULL);

	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	return r->info.action != POLICY_ACTION_ALLOW;
}

static const struct shape *
item_args(struct policy_eval *e, struct item *it)
{
	size_t pos = 0, err_pos;
	char err[256];

	if (!it->args_parsed) {
		it->args_parsed = true;
		it->args = NULL;
		/* A shape is at most PVM_SHAPE_MAX_BYTES of text, so its
		 * tree is small; the arena is emptied for every call. */
		arena_reset(e->call_scratch);
		if (it->call->args.ptr != NULL &&
		    shape_parse(it->call->args.ptr, it->call->args.len, &pos,
		    false, e->call_scratch, EVAL_SCRATCH_MAX_BYTES, &it->args,
		    &err_pos, err) == 0 && pos != it->call->args.len)
			it->args = NULL;
	}
	return it->args;
}

static bool
rule_matches(struct policy_eval *e, const struct rule *r, struct item *it)
{
	const struct pvm_call *c = it->call;
	const struct shape *args;

	switch (r->target) {
	case TARGET_IMPORT:
		/* Exact rules come from the name index: matched already. */
		return r->exact != NULL ||
		    regex_matches(e, r, it->subject, it->subject_len);
	case TARGET_CALL:
		if (!r->any_op && !op_bit_set(r->ops, c->op))
			return false;
		if (r->exact == NULL &&
		    !regex_matches(e, r, it->subject, it->subject_len))
			return false;
		if (r->args == NULL)
			return true;
		if ((args = item_args(e, it)) == NULL)
			/* No shape, or one we cannot read: only `any`. */
			return c->args.ptr != NULL && shape_is_any(r->args);
		return shape_match(r->args, args);
	case TARGET_EXT:
		/* What an unmapped code names is the server's secret: it can
		 * be denied by its code, never allowed. */
		if (r->info.action == POLICY_ACTION_ALLOW && !it->named)
			return false;
		return it->ext_code >= 1 && (uint64_t)it->ext_code >= r->lo &&
		    (uint64_t)it->ext_code <= r->hi;
	case TARGET_PERSID:
		if (c == NULL || c->pid.ptr == NULL)
			return false;
		if (r->re != NULL)
			return regex_matches(e, r, c->pid.ptr, c->pid.len);
		return r->text_len == c->pid.len &&
		    memcmp(r->text, c->pid.ptr, c->pid.len) == 0;
	default:
		return false;
	}
}

/* False only when the one alternation of all patterns surely does not
 * match ${it}: most names match none, and one match beats forty. */
static bool
any_pattern_may_match(struct policy_eval *e, const struct item *it)
{
	const pcre2_code *any = it->target == TARGET_IMPORT ?
	    e->p->import_any : e->p->call_any;

	return any == NULL || pcre2_match(any, (PCRE2_SPTR)it->subject,
	    it->subject_len, 0, 0, e->md, NULL) != PCRE2_ERROR_NOMATCH;
}

struct cursor {
	const size_t *v;
	size_t n, i;
};

/* The next rule index of the merged, ascending ${c}[0..2]; SIZE_MAX at
 * the end. */
static size_t
next_candidate(struct cursor c[3])
{
	size_t best = SIZE_MAX, k, from = 3;

	for (k = 0; k < 3; k++) {
		if (c[k].i < c[k].n && c[k].v[c[k].i] < best) {
			best = c[k].v[c[k].i];
			from = k;
		}
	}
	if (from < 3)
		c[from].i++;
	return best;
}

static void
cursor_set(struct cursor *c, const struct index_list *l)
{
	c->v = l != NULL ? l->v : NULL;
	c->n = l != NULL ? l->n : 0;
	c->i = 0;
}

/* What a hit on ${it} says it matched. */
static void
item_matched(const struct item *it, const char **s, size_t *len)
{
	static const char unknown[] = "(name unknown)";

	if (it->named) {
		*s = it->subject;
		*len = it->subject_len;
	} else {
		*s = unknown;
		*len = sizeof(unknown) - 1;
	}
}

/*
 * Walk the candidate rules of ${it} in file order: report alerts, stop at
 * the first allow or deny.  Sets *${decider} to its index, or SIZE_MAX.
 */
static int
walk(struct decision *d, struct item *it, size_t *decider)
{
	const struct policy *p = d->e->p;
	struct cursor c[3];
	const char *matched;
	size_t idx, mlen;

	item_matched(it, &matched, &mlen);
	cursor_set(&c[0], it->named ? name_index_find(it->target ==
	    TARGET_IMPORT ? &p->import_names : &p->call_names, it->key,
	    it->key_len) : NULL);
	cursor_set(&c[1], it->named && any_pattern_may_match(d->e, it) ?
	    (it->target == TARGET_IMPORT ? &p->import_patterns :
	    &p->call_patterns) : NULL);
	cursor_set(&c[2], it->target == TARGET_IMPORT ?
	    (it->ext_code != 0 ? &p->ext_rules : NULL) :
	    (it->call->pid.ptr != NULL ? &p->persid_rules : NULL));
	*decider = SIZE_MAX;
	while ((idx = next_candidate(c)) != SIZE_MAX) {
		const struct rule *r = &p->rules[idx];

		if (!rule_matches(d->e, r, it))
			continue;
		if (r->target == TARGET_PERSID)
			matched = it->call->pid.ptr, mlen = it->call->pid.len;
		if (hit(d, idx, matched, mlen) < 0)
			return -1;
		if (r->info.action != POLICY_ACTION_ALERT) {
			*decider = idx;
			return 0;
		}
	}
	return 0;
}

/* The end of a deny reason: who denied it, or that nothing allowed it. */
static int
put_verdict(struct policy_eval *e, struct text *t, size_t decider,
    bool named)
{
	char buf[64];

	if (decider == SIZE_MAX) {
		if (text_puts(t, ": matched no allow rule") < 0)
			return -1;
		return named ? 0 : text_puts(t, " (a name only known at run "
		    "time cannot be allowed)");
	}
	snprintf(buf, sizeof(buf), ": denied by rule %u (",
	    e->p->rules[decider].info.id);
	if (text_puts(t, buf) < 0 ||
	    text_puts(t, e->p->rules[decider].info.msg) < 0)
		return -1;
	return text_puts(t, ")");
}

static bool
allowed(const struct policy *p, size_t decider)
{
	return decider != SIZE_MAX &&
	    p->rules[decider].info.action == POLICY_ACTION_ALLOW;
}

static int
decide_import(struct decision *d, const struct pvm_import *imp)
{
	struct policy_eval *e = d->e;
	struct item it;
	size_t decider;

	memset(&it, 0, sizeof(it));
	it.target = TARGET_IMPORT;
	it.named = imp->module_known && imp->name_known;
	it.ext_code = imp->ext_code;
	if (text_clear(&e->subject) < 0 || text_clear(&e->key) < 0)
		return -1;
	if (it.named) {
		if (text_put(&e->subject, imp->module.ptr, imp->module.len) < 0 ||
		    text_put(&e->subject, ".", 1) < 0 ||
		    text_put(&e->subject, imp->name.ptr, imp->name.len) < 0 ||
		    text_put(&e->key, imp->module.ptr, imp->module.len) < 0 ||
		    text_put(&e->key, ":", 1) < 0 ||
		    text_put(&e->key, imp->name.ptr, imp->name.len) < 0)
			return -1;
		it.subject = e->subject.buf;
		it.subject_len = e->subject.len;
		it.key = e->key.buf;
		it.key_len = e->key.len;
	}
	if (walk(d, &it, &decider) < 0)
		return -1;
	if (allowed(e->p, decider))
		return 0;
	d->denied = true;
	if (text_clear(&e->detail) < 0 ||
	    text_put_qualified(&e->detail, imp->module, imp->name) < 0)
		return -1;
	if (imp->remapped && (text_put(&e->detail, " (", 2) < 0 ||
	    text_put_qualified(&e->detail, imp->raw_module, imp->raw_name) < 0 ||
	    text_put(&e->detail, ")", 1) < 0))
		return -1;
	if (imp->ext_code != 0) {
		char buf[48];

		snprintf(buf, sizeof(buf), " (EXT code %lld)",
		    (long long)imp->ext_code);
		if (text_puts(&e->detail, buf) < 0)
			return -1;
	}
	if (put_verdict(e, &e->detail, decider, it.named) < 0)
		return -1;
	return d->add_reason(d->cookie, PW_IMPORT, imp->pos, e->detail.buf);
}

static int
decide_call(struct decision *d, const struct pvm_call *call)
{
	struct policy_eval *e = d->e;
	struct item it;
	size_t decider;

	memset(&it, 0, sizeof(it));
	it.target = TARGET_CALL;
	it.call = call;
	it.named = call->callable.ptr != NULL;
	if (it.named) {
		if (text_clear(&e->key) < 0)
			return -1;
		if (call->module_len > 0 && (text_put(&e->key,
		    call->callable.ptr, call->module_len) < 0 ||
		    text_put(&e->key, ":", 1) < 0 ||
		    text_put(&e->key, call->callable.ptr + call->module_len + 1,
		    call->callable.len - call->module_len - 1) < 0))
			return -1;
		if (call->module_len == 0 && text_put(&e->key,
		    call->callable.ptr, call->callable.len) < 0)
			return -1;
		it.subject = call->callable.ptr;
		it.subject_len = call->callable.len;
		it.key = e->key.buf;
		it.key_len = e->key.len;
	}
	if (walk(d, &it, &decider) < 0)
		return -1;
	if (allowed(e->p, decider))
		return 0;
	d->denied = true;
	if (text_clear(&e->detail) < 0)
		return -1;
	if (!it.named) {
		if (text_puts(&e->detail, "unknown callable: ") < 0 ||
		    text_puts(&e->detail, call->why != NULL ? call->why :
		    "no reason given") < 0)
			return -1;
		return d->add_reason(d->cookie, PW_CALL, call->pos,
		    e->detail.buf);
	}
	if (text_put_name(&e->detail, call->callable) < 0)
		return -1;
	if (call->args.ptr != NULL && (text_puts(&e->detail, " args ") < 0 ||
	    text_put_name(&e->detail, call->args) < 0))
		return -1;
	if (put_verdict(e, &e->detail, decider, true) < 0)
		return -1;
	return d->add_reason(d->cookie, PW_CALL, call->pos, e->detail.buf);
}

static int
decide_message(struct decision *d, const struct policy_findings *f)
{
	const struct policy *p = d->e->p;
	char what[64], detail[PW_ERROR_MESSAGE_MAX];
	size_t k;

	for (k = 0; k < p->message_rules.n; k++) {
		size_t idx = p->message_rules.v[k];
		const struct rule *r = &p->rules[idx];
		uint64_t v = r->property == PROPERTY_PROTOCOL ?
		    (uint64_t)f->protocol : f->length;
		int n;

		/* A pickle that was not read to its end has no protocol
		 * worth judging (it is denied for what stopped it). */
		if (r->property == PROPERTY_PROTOCOL && f->n_reasons > 0)
			continue;
		if (v < r->lo || v > r->hi)
			continue;
		n = snprintf(what, sizeof(what), "%s %llu",
		    r->property == PROPERTY_PROTOCOL ? "protocol" : "size",
		    (unsigned long long)v);
		if (hit(d, idx, what, (size_t)n) < 0)
			return -1;
		if (r->info.action != POLICY_ACTION_DENY)
			continue;
		d->denied = true;
		snprintf(detail, sizeof(detail), "%s: denied by rule %u (%s)",
		    what, r->info.id, r->info.msg);
		if (d->add_reason(d->cookie, PW_MESSAGE, 0, detail) < 0)
			return -1;
	}
	return 0;
}

/* The rules that set a limit the analysis hit. */
static int
limit_hits(struct decision *d, const struct policy_findings *f)
{
	const struct policy *p = d->e->p;
	size_t i, k;

	for (i = 0; i < f->n_reasons; i++) {
		for (k = 0; k < LIMIT_COUNT; k++) {
			if (f->reasons[i].code != limit_defs[k].code ||
			    !p->limit_set[k])
				continue;
			if (hit(d, p->limit_rule[k], limit_defs[k].name,
			    strlen(limit_defs[k].name)) < 0)
				return -1;
		}
	}
	return 0;
}

/**
 * policy_decide(e, findings, add_reason, add_hit, cookie, verdict):
 * Decide on ${findings} with the policy of ${e} and set *${verdict}.
 * Every import and every call is decided, so a reviewer sees all of them:
 * each one denied gives add_reason(${cookie}, PW_IMPORT or PW_CALL, pos,
 * detail), the detail naming it ("module.name", with " (raw_module.
 * raw_name)" when remapped; "unknown callable: <why>") and the rule that
 * denied it, or "matched no allow rule".  A message rule that denies gives
 * PW_MESSAGE.  Rules that decided something go to add_hit (may be NULL).
 * POLICY_ALLOW only if nothing was denied and the analysis gave no reason;
 * otherwise POLICY_DENY, or POLICY_WOULD_DENY in mode detect.  A NUL byte
 * inside a name is written as "\x00" in a detail.  Returns 0, or -1 (with
 * *${verdict} POLICY_DENY, whatever the mode) if a callback failed or
 * memory ran out.
 */
int
policy_decide(struct policy_eval *e, const struct policy_findings *findings,
    policy_reason_fn *add_reason, policy_hit_fn *add_hit, void *cookie,
    enum policy_verdict *verdict)
{
	struct decision d = { e, add_reason, add_hit, cookie, false };
	size_t i;

	/* Until the end says otherwise: a failure below leaves a deny. */
	*verdict = POLICY_DENY;
	arena_reset(e->scratch);
	for (i = 0; i < e->hits_cap; i++)
		e->hits[i].rule = SIZE_MAX;
	e->hits_used = 0;

	for (i = 0; i < findings->n_imports; i++)
		if (decide_import(&d, &findings->imports[i]) < 0)
			return -1;
	for (i = 0; i < findings->n_calls; i++)
		if (decide_call(&d, &findings->calls[i]) < 0)
			return -1;
	if (decide_message(&d, findings) < 0 || limit_hits(&d, findings) < 0)
		return -1;
	if (!d.denied && findings->n_reasons == 0)
		*verdict = POLICY_ALLOW;
	else if (e->p->mode == POLICY_MODE_DETECT)
		*verdict = POLICY_WOULD_DENY;
	return 0;
}
