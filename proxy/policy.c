#include <stdlib.h>
#include <string.h>

#include "policy.h"

/* A NUL-terminated text being built; grows as needed. */
struct text {
	char *buf;
	size_t len, cap;
};

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
		t->buf = nb;
		t->cap = new_cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return 0;
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

/* Start a new text; the buffer exists and is NUL-terminated afterwards
 * even if nothing else is added. */
static int
text_clear(struct text *t)
{
	t->len = 0;
	return text_put(t, "", 0);
}

static int
import_detail(struct text *t, const struct pvm_import *imp)
{
	if (text_clear(t) < 0 ||
	    text_put_qualified(t, imp->module, imp->name) < 0)
		return -1;
	if (!imp->remapped)
		return 0;
	if (text_put(t, " (", 2) < 0 ||
	    text_put_qualified(t, imp->raw_module, imp->raw_name) < 0)
		return -1;
	return text_put(t, ")", 1);
}

static int
call_detail(struct text *t, const struct pvm_call *call)
{
	const char *why = call->why != NULL ? call->why : "no reason given";
	static const char prefix[] = "unknown callable: ";

	if (text_clear(t) < 0)
		return -1;
	if (call->callable.ptr != NULL)
		return text_put_name(t, call->callable);
	if (text_put(t, prefix, sizeof(prefix) - 1) < 0)
		return -1;
	return text_put(t, why, strlen(why));
}

/**
 * policy_builtin_decide(findings, add_reason, cookie, verdict):
 * Decide on ${findings} with the built-in policy and set *${verdict}:
 * POLICY_ALLOW only if there is no import, no call and no analysis reason.
 * Every import and every call is reported, so a reviewer sees all of them
 * and not just the first: for each import add_reason(${cookie}, PW_IMPORT,
 * pos, "module.name"), with " (raw_module.raw_name)" appended when the name
 * was remapped; for each call add_reason(${cookie}, PW_CALL, pos,
 * "callable") or "unknown callable: <why>".  A NUL byte inside a name is
 * written as "\x00" in the detail, which is text for people; the import
 * and call records keep the exact bytes.  Returns 0, or -1 (with *${verdict}
 * POLICY_DENY) if add_reason failed or memory ran out.
 */
int
policy_builtin_decide(const struct policy_findings *findings,
    policy_reason_fn *add_reason, void *cookie, enum policy_verdict *verdict)
{
	struct text t = { NULL, 0, 0 };
	size_t i;

	/* Decided before any reason is added, so a failure below cannot
	 * leave an allow behind. */
	*verdict = findings->n_imports == 0 && findings->n_calls == 0 &&
	    findings->n_reasons == 0 ? POLICY_ALLOW : POLICY_DENY;

	for (i = 0; i < findings->n_imports; i++) {
		const struct pvm_import *imp = &findings->imports[i];

		if (import_detail(&t, imp) < 0 ||
		    add_reason(cookie, PW_IMPORT, imp->pos, t.buf) < 0)
			goto err0;
	}
	for (i = 0; i < findings->n_calls; i++) {
		const struct pvm_call *call = &findings->calls[i];

		if (call_detail(&t, call) < 0 ||
		    add_reason(cookie, PW_CALL, call->pos, t.buf) < 0)
			goto err0;
	}
	free(t.buf);
	return 0;

err0:
	free(t.buf);
	*verdict = POLICY_DENY;
	return -1;
}
