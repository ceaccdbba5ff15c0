/*
 * analysis: frame -> pvm(s) -> policy for one stream.
 *
 * The findings handed out with a message are deep copies owned by the
 * analysis: under ANALYSIS_MEMO_BOTH they are the union of two pvm reports,
 * and the policy adds reasons of its own, so neither pvm owns the result.
 * Copies live in one findings store, emptied when the next message is
 * delivered and bounded like the analyzer's own memory.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "arena.h"
#include "policy.h"

#define MAX_MODELS 2

/* Reasons the analysis gives itself, beyond the pvm's: trailing bytes, a
 * truncated payload, models that disagree, invalid framing. */
#define MAX_OWN_REASONS 4

enum astate {
	AS_BETWEEN,		/* no byte of the next message seen yet */
	AS_HEADER,		/* the framer holds part of a header */
	AS_PAYLOAD,		/* the pvm(s) read the payload */
	AS_ENDED,		/* the stream cannot continue */
};

/* The findings of the message being delivered. */
struct findings {
	struct pvm_import *imports;
	size_t n_imports, imports_cap;
	struct pvm_call *calls;
	size_t n_calls, calls_cap;
	struct pvm_reason *reasons;
	size_t n_reasons, reasons_cap;
	struct pvm_reason *policy_reasons;
	size_t n_policy_reasons, policy_reasons_cap;
	struct analysis_hit *hits;
	size_t n_hits, hits_cap;
	struct arena *pool;	/* the strings; created on first use */
	uint64_t array_bytes;	/* the arrays; with the pool, bounded */
	bool overflow;		/* something was dropped at the bound */
	bool oom;		/* malloc failed: the findings are unusable */
};

struct own_reason {
	enum pw_code code;
	uint64_t pos;
	char detail[PW_ERROR_MESSAGE_MAX];
};

struct analysis {
	struct analysis_config config;
	struct frame *frame;
	struct pvm *models[MAX_MODELS];
	const char *model_names[MAX_MODELS];
	enum pvm_memo_model model_kinds[MAX_MODELS];
	size_t n_models;
	enum pvm_status status[MAX_MODELS];

	enum astate state;
	uint64_t stream_pos;	/* stream bytes consumed */
	uint64_t msg_offset;	/* where the message in progress started */
	struct frame_message fmsg;
	uint64_t payload_fed;
	unsigned handshakes_seen;	/* mp handshake messages delivered */

	struct own_reason own[MAX_OWN_REASONS];
	size_t n_own;

	uint64_t max_findings_bytes;
	struct findings out;

	struct policy *own_policy;	/* policy_builtin() when none given */
	const struct policy *policy;
	struct policy_eval *eval;
};

static const struct pvm_reason oom_reason = {
	PW_INTERNAL, 0, "out of memory while collecting the findings"
};

/* ---- the findings store ---------------------------------------------- */

/* Note an arena.h failure (-1 malloc, -2 bound) in ${f}; returns -1. */
static int
store_failure(struct findings *f, int r)
{
	if (r == -2)
		f->overflow = true;
	else
		f->oom = true;
	return -1;
}

static uint64_t
pool_bytes(const struct findings *f)
{
	return f->pool != NULL ? arena_bytes(f->pool) : 0;
}

/* Make room for ${need} elements of ${elem_size} bytes in *${vec}. */
static int
grow(struct findings *f, uint64_t max_bytes, void **vec, size_t *cap,
    size_t need, size_t elem_size)
{
	uint64_t pool = pool_bytes(f);
	int r;

	if (need <= *cap)
		return 0;
	r = arena_grow_array(vec, cap, need, elem_size, &f->array_bytes,
	    pool < max_bytes ? max_bytes - pool : 0);
	return r == 0 ? 0 : store_failure(f, r);
}

/* A NUL-terminated copy of ${len} bytes at ${s} in the pool. */
static char *
pool_copy(struct findings *f, uint64_t max_bytes, const char *s, size_t len)
{
	char *p;
	int r;

	if (f->pool == NULL && (f->pool = arena_new()) == NULL) {
		store_failure(f, -1);
		return NULL;
	}
	r = arena_strdup(f->pool, s, len, f->array_bytes < max_bytes ?
	    max_bytes - f->array_bytes : 0, &p);
	if (r != 0) {
		store_failure(f, r);
		return NULL;
	}
	return p;
}

static int
copy_str(struct findings *f, uint64_t max_bytes, struct pvm_str *dst,
    struct pvm_str src)
{
	if (src.ptr == NULL) {
		*dst = src;
		return 0;
	}
	if ((dst->ptr = pool_copy(f, max_bytes, src.ptr, src.len)) == NULL)
		return -1;
	dst->len = src.len;
	return 0;
}

static void findings_free(struct findings *f);

/* Above this, the store of one big message is released rather than kept
 * for the next: a connection must not hold it for its lifetime. */
#define FINDINGS_KEEP_BYTES (1024 * 1024)

/* Empty ${f} for the next message, keeping one pool chunk and the arrays:
 * the next message almost always needs them. */
static void
findings_reset(struct findings *f)
{
	if (f->array_bytes + pool_bytes(f) > FINDINGS_KEEP_BYTES) {
		findings_free(f);
		memset(f, 0, sizeof(*f));
		return;
	}
	if (f->pool != NULL)
		arena_reset(f->pool);
	f->n_imports = f->n_calls = f->n_reasons = f->n_policy_reasons = 0;
	f->n_hits = 0;
	f->overflow = false;
	f->oom = false;
}

static void
findings_free(struct findings *f)
{
	arena_free(f->pool);
	free(f->imports);
	free(f->calls);
	free(f->reasons);
	free(f->policy_reasons);
	free(f->hits);
}

/* ---- copying one finding into the store ------------------------------ */

static int
append_import(struct analysis *a, const void *elem)
{
	const struct pvm_import *src = elem;
	struct findings *f = &a->out;
	struct pvm_import *dst;

	if (grow(f, a->max_findings_bytes, (void **)&f->imports,
	    &f->imports_cap, f->n_imports + 1, sizeof(*dst)) < 0)
		return -1;
	dst = &f->imports[f->n_imports];
	*dst = *src;
	if (copy_str(f, a->max_findings_bytes, &dst->module, src->module) < 0 ||
	    copy_str(f, a->max_findings_bytes, &dst->name, src->name) < 0)
		return -1;
	/* Unmapped names are the same strings: share the copies. */
	if (src->raw_module.ptr == src->module.ptr)
		dst->raw_module = dst->module;
	else if (copy_str(f, a->max_findings_bytes, &dst->raw_module,
	    src->raw_module) < 0)
		return -1;
	if (src->raw_name.ptr == src->name.ptr)
		dst->raw_name = dst->name;
	else if (copy_str(f, a->max_findings_bytes, &dst->raw_name,
	    src->raw_name) < 0)
		return -1;
	f->n_imports++;
	return 0;
}

static int
append_call(struct analysis *a, const void *elem)
{
	const struct pvm_call *src = elem;
	struct findings *f = &a->out;
	struct pvm_call *dst;

	if (grow(f, a->max_findings_bytes, (void **)&f->calls, &f->calls_cap,
	    f->n_calls + 1, sizeof(*dst)) < 0)
		return -1;
	dst = &f->calls[f->n_calls];
	*dst = *src;	/* why is static text */
	if (copy_str(f, a->max_findings_bytes, &dst->callable,
	    src->callable) < 0 ||
	    copy_str(f, a->max_findings_bytes, &dst->args, src->args) < 0 ||
	    copy_str(f, a->max_findings_bytes, &dst->pid, src->pid) < 0)
		return -1;
	f->n_calls++;
	return 0;
}

static int
append_reason_to(struct analysis *a, struct pvm_reason **vec, size_t *n,
    size_t *cap, enum pw_code code, uint64_t pos, const char *detail)
{
	struct findings *f = &a->out;
	struct pvm_reason *dst;
	const char *copy;

	if (grow(f, a->max_findings_bytes, (void **)vec, cap, *n + 1,
	    sizeof(*dst)) < 0)
		return -1;
	if ((copy = pool_copy(f, a->max_findings_bytes, detail,
	    strlen(detail))) == NULL)
		return -1;
	dst = &(*vec)[*n];
	dst->code = code;
	dst->pos = pos;
	dst->detail = copy;
	(*n)++;
	return 0;
}

static int
append_reason(struct analysis *a, const void *elem)
{
	const struct pvm_reason *src = elem;
	struct findings *f = &a->out;

	return append_reason_to(a, &f->reasons, &f->n_reasons,
	    &f->reasons_cap, src->code, src->pos, src->detail);
}

/* policy_reason_fn: the policy's reasons wait in their own array, so that
 * the findings the policy reads do not move under it. */
static int
add_policy_reason(void *cookie, enum pw_code code, uint64_t pos,
    const char *detail)
{
	struct analysis *a = cookie;
	struct findings *f = &a->out;

	return append_reason_to(a, &f->policy_reasons, &f->n_policy_reasons,
	    &f->policy_reasons_cap, code, pos, detail);
}

/* ---- the union of two reports ---------------------------------------- */

/* What makes two findings the same, and how to copy one. */
struct kind_ops {
	size_t size;
	uint64_t (*pos)(const void *);
	uint64_t (*hash)(const void *);
	bool (*equal)(const void *, const void *);
	int (*append)(struct analysis *, const void *);
};

static uint64_t
hash_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	/* FNV-1a: the keys are not attacker-chosen for collisions that
	 * matter, since both sides come from the same bytes. */
	while (n-- > 0) {
		h ^= *b++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t
hash_str(uint64_t h, struct pvm_str s)
{
	uint64_t len = s.ptr != NULL ? s.len : UINT64_MAX;

	h = hash_bytes(h, &len, sizeof(len));
	return s.ptr != NULL ? hash_bytes(h, s.ptr, s.len) : h;
}

static bool
str_equal(struct pvm_str x, struct pvm_str y)
{
	if (x.ptr == NULL || y.ptr == NULL)
		return x.ptr == NULL && y.ptr == NULL;
	return x.len == y.len && memcmp(x.ptr, y.ptr, x.len) == 0;
}

static uint64_t
import_pos(const void *e)
{
	return ((const struct pvm_import *)e)->pos;
}

static uint64_t
import_hash(const void *e)
{
	const struct pvm_import *imp = e;
	uint64_t h = 0xcbf29ce484222325ULL;

	h = hash_bytes(h, &imp->op, sizeof(imp->op));
	h = hash_bytes(h, &imp->pos, sizeof(imp->pos));
	h = hash_str(h, imp->module);
	return hash_str(h, imp->name);
}

static bool
import_equal(const void *x, const void *y)
{
	const struct pvm_import *a = x, *b = y;

	return a->op == b->op && a->pos == b->pos &&
	    str_equal(a->module, b->module) && str_equal(a->name, b->name);
}

static uint64_t
call_pos(const void *e)
{
	return ((const struct pvm_call *)e)->pos;
}

static struct pvm_str
call_why(const struct pvm_call *c)
{
	struct pvm_str s = { c->why, c->why != NULL ? strlen(c->why) : 0 };

	return s;
}

static uint64_t
call_hash(const void *e)
{
	const struct pvm_call *c = e;
	uint64_t h = 0xcbf29ce484222325ULL;

	h = hash_bytes(h, &c->op, sizeof(c->op));
	h = hash_bytes(h, &c->pos, sizeof(c->pos));
	h = hash_str(h, c->callable);
	h = hash_str(h, c->args);
	return c->callable.ptr != NULL ? h : hash_str(h, call_why(c));
}

static bool
call_equal(const void *x, const void *y)
{
	const struct pvm_call *a = x, *b = y;

	if (a->op != b->op || a->pos != b->pos ||
	    !str_equal(a->callable, b->callable) || !str_equal(a->args, b->args))
		return false;
	return a->callable.ptr != NULL || str_equal(call_why(a), call_why(b));
}

static uint64_t
reason_pos(const void *e)
{
	return ((const struct pvm_reason *)e)->pos;
}

static struct pvm_str
reason_detail(const struct pvm_reason *r)
{
	struct pvm_str s = { r->detail, strlen(r->detail) };

	return s;
}

static uint64_t
reason_hash(const void *e)
{
	const struct pvm_reason *r = e;
	uint64_t h = 0xcbf29ce484222325ULL;
	uint32_t code = (uint32_t)r->code;

	h = hash_bytes(h, &code, sizeof(code));
	h = hash_bytes(h, &r->pos, sizeof(r->pos));
	return hash_str(h, reason_detail(r));
}

static bool
reason_equal(const void *x, const void *y)
{
	const struct pvm_reason *a = x, *b = y;

	return a->code == b->code && a->pos == b->pos &&
	    str_equal(reason_detail(a), reason_detail(b));
}

static const struct kind_ops import_ops = {
	sizeof(struct pvm_import), import_pos, import_hash, import_equal,
	append_import,
};
static const struct kind_ops call_ops = {
	sizeof(struct pvm_call), call_pos, call_hash, call_equal, append_call,
};
static const struct kind_ops reason_ops = {
	sizeof(struct pvm_reason), reason_pos, reason_hash, reason_equal,
	append_reason,
};

/* One distinct finding of the first report and how many copies of it are
 * still unmatched by the second. */
struct dedup_slot {
	const void *elem;	/* NULL: empty slot */
	uint64_t hash;
	size_t unmatched;
};

static struct dedup_slot *
dedup_find(struct dedup_slot *slots, size_t cap, const struct kind_ops *ops,
    const void *elem, uint64_t hash)
{
	size_t i;

	for (i = (size_t)hash & (cap - 1);; i = (i + 1) & (cap - 1)) {
		if (slots[i].elem == NULL || (slots[i].hash == hash &&
		    ops->equal(slots[i].elem, elem)))
			return &slots[i];
	}
}

/*
 * Append the multiset union of ${x} and ${y} (${nx} and ${ny} elements) to
 * the store: every element of ${x}, then those of ${y} that are not matched
 * by an equal element of ${x}.  Elements are taken in order of position, so
 * two position-ordered reports give a position-ordered result.  Linear in
 * the sizes: a report may hold millions of findings.
 */
static int
merge_lists(struct analysis *a, const struct kind_ops *ops, const void *x,
    size_t nx, const void *y, size_t ny)
{
	const char *xs = x, *ys = y;
	struct dedup_slot *slots = NULL, *s;
	size_t cap = 0, i = 0, j = 0;
	uint64_t h;

	if (nx > 0 && ny > 0) {
		for (cap = 16; cap < nx * 2; cap *= 2) {
			if (cap > SIZE_MAX / 4 / sizeof(*slots)) {
				a->out.oom = true;
				goto err0;
			}
		}
		if ((slots = calloc(cap, sizeof(*slots))) == NULL) {
			a->out.oom = true;
			goto err0;
		}
		for (i = 0; i < nx; i++) {
			h = ops->hash(xs + i * ops->size);
			s = dedup_find(slots, cap, ops, xs + i * ops->size, h);
			if (s->elem == NULL) {
				s->elem = xs + i * ops->size;
				s->hash = h;
			}
			s->unmatched++;
		}
		i = 0;
	}
	while (i < nx || j < ny) {
		if (j == ny || (i < nx &&
		    ops->pos(xs + i * ops->size) <= ops->pos(ys + j * ops->size))) {
			if (ops->append(a, xs + i * ops->size) < 0)
				goto err1;
			i++;
			continue;
		}
		if (slots != NULL) {
			h = ops->hash(ys + j * ops->size);
			s = dedup_find(slots, cap, ops, ys + j * ops->size, h);
			if (s->elem != NULL && s->unmatched > 0) {
				s->unmatched--;
				j++;
				continue;
			}
		}
		if (ops->append(a, ys + j * ops->size) < 0)
			goto err1;
		j++;
	}
	free(slots);
	return 0;

err1:
	free(slots);
err0:
	return -1;
}

/* merge_lists() where there is something to merge: most messages have
 * three empty pairs of lists, not worth a call each. */
static inline int
merge(struct analysis *a, const struct kind_ops *ops, const void *x,
    size_t nx, const void *y, size_t ny)
{
	if (nx == 0 && ny == 0)
		return 0;
	return merge_lists(a, ops, x, nx, y, ny);
}

/* ---- delivering a message -------------------------------------------- */

static void
add_own_reason(struct analysis *a, enum pw_code code, uint64_t pos,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
add_own_reason(struct analysis *a, enum pw_code code, uint64_t pos,
    const char *fmt, ...)
{
	struct own_reason *r;
	va_list ap;

	/* The callers give at most MAX_OWN_REASONS per message; a further
	 * one would only repeat why the message is denied. */
	if (a->n_own == MAX_OWN_REASONS)
		return;
	r = &a->own[a->n_own++];
	r->code = code;
	r->pos = pos;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/* The pvm reports and own reasons, merged; -1 if the store gave out. */
static int
collect(struct analysis *a, bool with_models)
{
	const struct pvm_report *r[MAX_MODELS] = { NULL, NULL };
	size_t k;

	if (with_models) {
		for (k = 0; k < a->n_models; k++)
			r[k] = pvm_report(a->models[k]);
	}
	if (r[0] != NULL) {
		if (merge(a, &reason_ops, r[0]->reasons, r[0]->n_reasons,
		    r[1] ? r[1]->reasons : NULL, r[1] ? r[1]->n_reasons : 0) < 0)
			return -1;
	}
	for (k = 0; k < a->n_own; k++) {
		struct pvm_reason own = { a->own[k].code, a->own[k].pos,
		    a->own[k].detail };

		if (append_reason(a, &own) < 0)
			return -1;
	}
	if (r[0] != NULL) {
		if (merge(a, &import_ops, r[0]->imports, r[0]->n_imports,
		    r[1] ? r[1]->imports : NULL, r[1] ? r[1]->n_imports : 0) < 0)
			return -1;
		if (merge(a, &call_ops, r[0]->calls, r[0]->n_calls,
		    r[1] ? r[1]->calls : NULL, r[1] ? r[1]->n_calls : 0) < 0)
			return -1;
	}
	return 0;
}

/* policy_hit_fn: keep the rule and a copy of what it matched. */
static int
add_hit(void *cookie, const struct policy_rule_info *rule, const char *matched,
    size_t len)
{
	struct analysis *a = cookie;
	struct findings *f = &a->out;
	struct analysis_hit *h;
	struct pvm_str src = { matched, len };

	if (grow(f, a->max_findings_bytes, (void **)&f->hits, &f->hits_cap,
	    f->n_hits + 1, sizeof(*h)) < 0)
		return -1;
	h = &f->hits[f->n_hits];
	h->rule = rule;
	if (copy_str(f, a->max_findings_bytes, &h->matched, src) < 0)
		return -1;
	f->n_hits++;
	return 0;
}

/* Run the policy and move its reasons after the analysis reasons. */
static int
decide(struct analysis *a, int protocol, uint64_t length,
    enum analysis_verdict *verdict)
{
	struct findings *f = &a->out;
	struct policy_findings pf = {
		protocol, length, f->n_imports, f->n_calls, f->n_reasons,
		f->imports, f->calls, f->reasons,
	};
	enum policy_verdict pv;
	int rc;

	rc = policy_decide(a->eval, &pf, add_policy_reason, add_hit, a, &pv);
	*verdict = pv == POLICY_ALLOW ? ANALYSIS_ALLOW :
	    pv == POLICY_WOULD_DENY ? ANALYSIS_WOULD_DENY : ANALYSIS_DENY;
	if (f->n_policy_reasons == 0)
		return rc;
	if (grow(f, a->max_findings_bytes, (void **)&f->reasons,
	    &f->reasons_cap, f->n_reasons + f->n_policy_reasons,
	    sizeof(*f->reasons)) < 0)
		return -1;
	memcpy(f->reasons + f->n_reasons, f->policy_reasons,
	    f->n_policy_reasons * sizeof(*f->reasons));
	f->n_reasons += f->n_policy_reasons;
	f->n_policy_reasons = 0;
	return rc;
}

/* Add the reason that explains a denial the findings store could not
 * record otherwise: this one line may go past the bound, which it
 * reports.  Out of memory even then, the findings are marked unusable. */
static void
deny_past_bound(struct analysis *a, enum pw_code code, const char *detail)
{
	struct findings *f = &a->out;
	uint64_t bound = a->max_findings_bytes;

	a->max_findings_bytes = UINT64_MAX;
	if (append_reason_to(a, &f->reasons, &f->n_reasons, &f->reasons_cap,
	    code, 0, detail) < 0)
		f->oom = true;
	a->max_findings_bytes = bound;
}

/*
 * A server that reads each pickle with a fresh load() and goes on after an
 * error restarts, after an import or call that raised, where its file's
 * buffer was last refilled: that depends on how the bytes arrived, and may
 * be any opcode, argument or string data of this pickle before the error,
 * read as the start of a new one.  Nothing can be known after that, so a
 * pickle that may fail there is denied.  One Unpickler reading the stream
 * keeps its own buffer and resumes after the failing opcode, which the
 * persistent model follows (pvm_set_resume), up to an INST whose MARK the
 * resumed server lacks (resume_lost).  After the policy, from the models'
 * reports of the message being delivered.
 */
static void
deny_unknown_resume(struct analysis *a, enum analysis_verdict *verdict)
{
	struct findings *f = &a->out;
	const struct pvm_report *r;
	bool lost = false, restart = false;
	uint64_t lost_pos = 0, restart_pos = 0;
	enum analysis_verdict deny = policy_mode(a->policy) ==
	    POLICY_MODE_DETECT ? ANALYSIS_WOULD_DENY : ANALYSIS_DENY;
	size_t k;

	if (!a->config.resume_after_error)
		return;
	for (k = 0; k < a->n_models; k++) {
		r = pvm_report(a->models[k]);
		if (r->resume_lost && (!lost || r->resume_lost_pos < lost_pos)) {
			lost = true;
			lost_pos = r->resume_lost_pos;
		}
		if (a->model_kinds[k] == PVM_MEMO_PER_MESSAGE && r->may_fail) {
			restart = true;
			restart_pos = r->may_fail_pos;
		}
	}
	/* Where a resumed server stops reading what the models read, the
	 * lists of imports and calls may miss some: that is said whatever
	 * the verdict.  A possible restart inside the pickle is only worth a
	 * reason for a message the policy allowed.  If an append fails, the
	 * findings say so and deliver() denies. */
	if (lost) {
		if (*verdict == ANALYSIS_ALLOW)
			*verdict = deny;
		(void)append_reason_to(a, &f->reasons, &f->n_reasons,
		    &f->reasons_cap, PW_RESUME_UNKNOWN, lost_pos,
		    "INST after an import or call that may raise: a server "
		    "that resumed after the error has no MARK and runs INST's "
		    "lines as opcodes; what follows is not followed "
		    "(resume_after_error)");
	} else if (restart && *verdict == ANALYSIS_ALLOW) {
		*verdict = deny;
		(void)append_reason_to(a, &f->reasons, &f->n_reasons,
		    &f->reasons_cap, PW_RESUME_UNKNOWN, restart_pos,
		    "if this import or call raises, a server that reads on "
		    "with a fresh load() restarts where its buffer was last "
		    "refilled, maybe inside a string (resume_after_error)");
	}
}

/* What deliver() starts each message from. */
static const struct analysis_message no_message;

/*
 * Fill *${msg} with the message that ends at the current stream position:
 * findings of the models (if ${with_models}) and the own reasons, the
 * policy's verdict.  The analysis moves on to the next message, or ends if
 * ${stream_ends}.
 */
static void
deliver(struct analysis *a, struct analysis_message *msg, bool with_models,
    bool is_pickle, bool stream_ends)
{
	struct findings *f = &a->out;
	const struct pvm_report *r, *furthest = NULL;
	enum analysis_verdict verdict = ANALYSIS_DENY;
	size_t k;

	if (with_models) {
		for (k = 0; k < a->n_models; k++) {
			r = pvm_report(a->models[k]);
			if (furthest == NULL || r->length > furthest->length)
				furthest = r;
		}
	}
	findings_reset(f);
	if (collect(a, with_models) == 0 && is_pickle &&
	    decide(a, furthest != NULL ? furthest->protocol : 0,
	    a->stream_pos - a->msg_offset, &verdict) < 0 && !f->oom &&
	    !f->overflow) {
		deny_past_bound(a, PW_INTERNAL, "the policy could not decide "
		    "(out of memory); the message is denied");
		verdict = ANALYSIS_DENY;
	}
	else if (!is_pickle && !f->overflow && !f->oom)
		verdict = f->n_reasons == 0 ? ANALYSIS_ALLOW : ANALYSIS_DENY;
	if (with_models && is_pickle && !f->oom)
		deny_unknown_resume(a, &verdict);
	if (f->overflow && !f->oom) {
		deny_past_bound(a, PW_LIMIT_ANALYSIS_MEMORY, "findings above "
		    "the analysis memory bound; the lists are incomplete");
		verdict = ANALYSIS_DENY;
	}

	/* A copy, not memset(): at this size gcc clears with "rep stos",
	 * whose start-up cost was a tenth of analyzing a small message. */
	*msg = no_message;
	msg->offset = a->msg_offset;
	msg->length = a->stream_pos - a->msg_offset;
	msg->payload_offset = a->msg_offset + a->fmsg.header_bytes;
	if (msg->payload_offset > a->stream_pos)
		msg->payload_offset = a->stream_pos;
	msg->is_pickle = is_pickle;
	/* A handshake message that failed framing has no index from the
	 * framer: it is the next one. */
	msg->handshake_index = is_pickle ? 0 : a->fmsg.handshake_index != 0 ?
	    a->fmsg.handshake_index : a->handshakes_seen + 1;
	if (furthest != NULL) {
		msg->protocol = furthest->protocol;
		msg->opcodes = furthest->opcodes;
	}
	if (f->oom) {
		msg->verdict = ANALYSIS_DENY;
		msg->reasons = &oom_reason;
		msg->n_reasons = 1;
		stream_ends = true;
	} else {
		msg->verdict = verdict;
		msg->n_imports = f->n_imports;
		msg->imports = f->imports;
		msg->n_calls = f->n_calls;
		msg->calls = f->calls;
		msg->n_reasons = f->n_reasons;
		msg->reasons = f->reasons;
		msg->n_hits = f->n_hits;
		msg->hits = f->hits;
	}
	msg->stream_ends = stream_ends;

	a->n_own = 0;
	a->msg_offset = a->stream_pos;
	memset(&a->fmsg, 0, sizeof(a->fmsg));
	a->state = stream_ends ? AS_ENDED : AS_BETWEEN;
}

/* ---- reading the payload --------------------------------------------- */

static void
begin_payload(struct analysis *a)
{
	size_t k;

	for (k = 0; k < a->n_models; k++) {
		pvm_begin(a->models[k]);
		a->status[k] = PVM_NEED_MORE;
	}
	a->payload_fed = 0;
	a->state = AS_PAYLOAD;
}

static const char *
status_text(enum pvm_status st)
{
	return st == PVM_DONE ? "STOP" : st == PVM_FAILED ? "failed" :
	    "still reading";
}

/* Raw framing: the message ends where the pickle does.  Models that end
 * it differently would leave us not knowing where the next one starts. */
static bool
models_agree(struct analysis *a)
{
	const struct pvm_report *r0, *r1;

	if (a->n_models < 2)
		return true;
	r0 = pvm_report(a->models[0]);
	r1 = pvm_report(a->models[1]);
	if (a->status[0] == a->status[1] && r0->length == r1->length)
		return true;
	add_own_reason(a, PW_BAD_FRAMING, r0->length < r1->length ?
	    r0->length : r1->length,
	    "memo models disagree on where the pickle ends (%s: %s after %"
	    PRIu64 " bytes, %s: %s after %" PRIu64 " bytes): the start of "
	    "the next message is unknown", a->model_names[0],
	    status_text(a->status[0]), r0->length, a->model_names[1],
	    status_text(a->status[1]), r1->length);
	return false;
}

/*
 * Feed up to ${len} payload bytes to every model still reading.  Returns
 * true (with *${msg} filled) if the message ended; *${used} says how many
 * bytes belonged to it.
 */
static bool
feed_payload(struct analysis *a, const uint8_t *buf, size_t len,
    size_t *used, struct analysis_message *msg)
{
	const struct pvm_report *r;
	bool until_stop = a->fmsg.payload_bytes == FRAME_PAYLOAD_UNTIL_STOP;
	bool all_ended = true, failed = false;
	size_t k, n = len, c, most = 0;

	if (!until_stop && a->fmsg.payload_bytes - a->payload_fed < n)
		n = (size_t)(a->fmsg.payload_bytes - a->payload_fed);
	for (k = 0; k < a->n_models; k++) {
		if (a->status[k] != PVM_NEED_MORE)
			continue;
		a->status[k] = pvm_feed(a->models[k], buf, n, &c);
		if (c > most)
			most = c;
	}
	for (k = 0; k < a->n_models; k++) {
		if (a->status[k] == PVM_NEED_MORE)
			all_ended = false;
		if (a->status[k] == PVM_FAILED)
			failed = true;
	}

	if (until_stop) {
		*used = most;
		a->payload_fed += most;
		a->stream_pos += most;
		/* The message ends where the last model ends: one fed the
		 * whole input in one call reads past where another stopped,
		 * and the message, its length and its findings must not
		 * depend on how the bytes were cut into calls. */
		if (!all_ended)
			return false;
		/* We cannot know where the server resumes after a pickle
		 * it failed on, nor after one we read two ways. */
		if (!models_agree(a))
			failed = true;
		deliver(a, msg, true, true, failed);
		return true;
	}

	*used = n;
	a->payload_fed += n;
	a->stream_pos += n;
	if (a->payload_fed < a->fmsg.payload_bytes)
		return false;
	for (k = 0; k < a->n_models; k++) {
		if (a->status[k] == PVM_NEED_MORE)
			a->status[k] = pvm_finish(a->models[k]);
	}
	for (k = 0; k < a->n_models; k++) {
		r = pvm_report(a->models[k]);
		if (a->status[k] == PVM_DONE &&
		    r->length < a->fmsg.payload_bytes) {
			/* pickle.loads() ignores them; a smuggled second
			 * pickle is denied instead. */
			add_own_reason(a, PW_TRAILING_BYTES, r->length,
			    "%" PRIu64 " %s after STOP",
			    a->fmsg.payload_bytes - r->length,
			    a->fmsg.payload_bytes - r->length == 1 ?
			    "byte" : "bytes");
			break;
		}
	}
	deliver(a, msg, true, true, false);
	return true;
}

/* Whether the message being framed is one of the mp authkey handshake,
 * which is not a pickle even when it fails. */
static bool
in_handshake(const struct analysis *a)
{
	return a->config.frame.kind == FRAME_MP &&
	    a->handshakes_seen < a->config.frame.mp_handshake_messages;
}

/* ---- the interface --------------------------------------------------- */

/**
 * analysis_new(config):
 * Create the analysis of one stream.  Returns NULL on allocation failure.
 */
struct analysis *
analysis_new(const struct analysis_config *config)
{
	struct analysis *a;
	struct pvm_limits limits;
	struct pw_error err;
	uint64_t per_model;
	size_t k;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto err0;
	a->config = *config;
	if ((a->frame = frame_new(&config->frame)) == NULL)
		goto err1;
	switch (config->memo) {
	case ANALYSIS_MEMO_PER_MESSAGE:
		a->model_kinds[a->n_models++] = PVM_MEMO_PER_MESSAGE;
		break;
	case ANALYSIS_MEMO_PERSISTENT:
		a->model_kinds[a->n_models++] = PVM_MEMO_PERSISTENT;
		break;
	case ANALYSIS_MEMO_BOTH:
		a->model_kinds[a->n_models++] = PVM_MEMO_PER_MESSAGE;
		a->model_kinds[a->n_models++] = PVM_MEMO_PERSISTENT;
		break;
	default:
		goto err2;
	}
	for (k = 0; k < a->n_models; k++) {
		a->models[k] = pvm_new(&config->limits, a->model_kinds[k]);
		a->model_names[k] = a->model_kinds[k] == PVM_MEMO_PER_MESSAGE ?
		    "per-message" : "persistent";
	}
	for (k = 0; k < a->n_models; k++) {
		if (a->models[k] == NULL)
			goto err2;
	}
	/* Between messages from the start (calloc: AS_BETWEEN). */
	if (analysis_set_policy(a, config->policy, &err) < 0)
		goto err2;
	for (k = 0; k < a->n_models; k++)
		pvm_set_resume(a->models[k], config->resume_after_error);

	/* The findings are copies of what the models hold, plus one policy
	 * reason each: bound them by twice the models' own memory bound
	 * (pvm_new's default when none is given). */
	limits = config->limits;
	pvm_limits_resolve(&limits);
	per_model = limits.max_analysis_bytes;
	a->max_findings_bytes = per_model > UINT64_MAX / 2 / a->n_models ?
	    UINT64_MAX : per_model * 2 * a->n_models;
	a->state = AS_BETWEEN;
	return a;

err2:
	policy_eval_free(a->eval);
	policy_free(a->own_policy);
	for (k = 0; k < MAX_MODELS; k++)
		pvm_free(a->models[k]);
	frame_free(a->frame);
err1:
	free(a);
err0:
	return NULL;
}

/**
 * analysis_set_policy(a, policy, err):
 * Decide the messages from the next one on with ${policy} (NULL: the
 * built-in one), which must outlive the analysis or the next call.  Only
 * between messages: returns -1 with PW_USAGE in ${err} if a message is in
 * progress, or PW_INTERNAL if memory ran out; either way the policy in use
 * stays.  The limits stay those the analysis was created with.
 */
int
analysis_set_policy(struct analysis *a, const struct policy *policy,
    struct pw_error *err)
{
	struct policy *builtin = NULL;
	struct policy_eval *eval;
	size_t k;

	if (a->state != AS_BETWEEN && a->state != AS_ENDED)
		return pw_error_set(err, PW_USAGE, 0,
		    "the policy can change only between messages");
	if (policy == NULL && (policy = builtin = policy_builtin()) == NULL)
		return pw_error_set(err, PW_INTERNAL, 0, "out of memory");
	if ((eval = policy_eval_new(policy)) == NULL) {
		policy_free(builtin);
		return pw_error_set(err, PW_INTERNAL, 0, "out of memory");
	}
	policy_eval_free(a->eval);
	policy_free(a->own_policy);
	a->eval = eval;
	a->own_policy = builtin;
	a->policy = policy;
	/* The EXT registry is the rule file's too. */
	for (k = 0; k < a->n_models; k++)
		pvm_set_extensions(a->models[k], policy_ext_lookup,
		    (void *)(uintptr_t)a->policy);
	return 0;
}

/**
 * analysis_free(a):
 * Release ${a}; NULL is a no-op.
 */
void
analysis_free(struct analysis *a)
{
	size_t k;

	if (a == NULL)
		return;
	for (k = 0; k < MAX_MODELS; k++)
		pvm_free(a->models[k]);
	frame_free(a->frame);
	findings_free(&a->out);
	policy_eval_free(a->eval);
	policy_free(a->own_policy);
	free(a);
}

/**
 * analysis_feed(a, buf, len, consumed, msg):
 * Consume stream bytes from ${buf} until a message finishes or the input is
 * used up; *${consumed} says how many were used.  ANALYSIS_MESSAGE fills
 * *${msg}; call again with the rest of the buffer.  A message with
 * msg->stream_ends set (invalid framing, or a pickle that could not be
 * analyzed to its end under raw framing) is the last one: further calls
 * consume nothing and return ANALYSIS_NEED_MORE.
 */
enum analysis_status
analysis_feed(struct analysis *a, const uint8_t *buf, size_t len,
    size_t *consumed, struct analysis_message *msg)
{
	struct pw_error err;
	enum frame_status st;
	size_t i = 0, used;

	while (a->state != AS_ENDED) {
		if (a->state == AS_PAYLOAD) {
			if (i == len)
				break;
			if (feed_payload(a, buf + i, len - i, &used, msg)) {
				*consumed = i + used;
				return ANALYSIS_MESSAGE;
			}
			i += used;
			continue;
		}
		if (i == len)
			break;
		st = frame_next(a->frame, buf + i, len - i, &used, &a->fmsg,
		    &err);
		i += used;
		a->stream_pos += used;
		if (st == FRAME_INVALID) {
			add_own_reason(a, err.code, err.position, "%s",
			    err.message);
			deliver(a, msg, false, !in_handshake(a), true);
			*consumed = i;
			return ANALYSIS_MESSAGE;
		}
		if (st == FRAME_NEED_MORE) {
			if (used > 0)
				a->state = AS_HEADER;
			if (i == len)
				break;
			/* The framer must take all it is given. */
			add_own_reason(a, PW_INTERNAL, 0,
			    "framer stopped before the end of its input");
			deliver(a, msg, false, true, true);
			*consumed = i;
			return ANALYSIS_MESSAGE;
		}
		if (!a->fmsg.is_pickle) {
			a->handshakes_seen++;
			deliver(a, msg, false, false, false);
			*consumed = i;
			return ANALYSIS_MESSAGE;
		}
		begin_payload(a);
		if (a->fmsg.payload_bytes == 0) {
			/* Nothing will arrive to complete it: the empty
			 * payload is judged now. */
			(void)feed_payload(a, buf + i, 0, &used, msg);
			*consumed = i;
			return ANALYSIS_MESSAGE;
		}
	}
	*consumed = i;
	return ANALYSIS_NEED_MORE;
}

/**
 * analysis_finish(a, msg):
 * The stream has ended.  If a message was in progress, fill *${msg} with it
 * (denied as truncated) and return ANALYSIS_MESSAGE; otherwise return
 * ANALYSIS_NEED_MORE.
 */
enum analysis_status
analysis_finish(struct analysis *a, struct analysis_message *msg)
{
	size_t k;

	switch (a->state) {
	case AS_BETWEEN:
		a->state = AS_ENDED;
		return ANALYSIS_NEED_MORE;
	case AS_ENDED:
		return ANALYSIS_NEED_MORE;
	case AS_HEADER:
		add_own_reason(a, PW_TRUNCATED, 0,
		    "stream ended inside a message header after %" PRIu64
		    " bytes", a->stream_pos - a->msg_offset);
		deliver(a, msg, false, !in_handshake(a), true);
		return ANALYSIS_MESSAGE;
	case AS_PAYLOAD:
		break;
	}
	if (a->fmsg.payload_bytes != FRAME_PAYLOAD_UNTIL_STOP)
		add_own_reason(a, PW_TRUNCATED, a->payload_fed,
		    "stream ended after %" PRIu64 " of %" PRIu64
		    " payload bytes", a->payload_fed, a->fmsg.payload_bytes);
	for (k = 0; k < a->n_models; k++) {
		if (a->status[k] == PVM_NEED_MORE)
			a->status[k] = pvm_finish(a->models[k]);
	}
	deliver(a, msg, true, true, true);
	return ANALYSIS_MESSAGE;
}
