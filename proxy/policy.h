#ifndef POLICY_H
#define POLICY_H

/*
 * policy: rule files, and from what a pickle does to allow or deny.
 *
 * A policy is a rule set loaded once (rules/REFERENCE.md is the language)
 * and never changed afterwards: connections and scans share it read-only.
 * The denylist layer (rules/gadgets.rules, compiled into the binary) comes
 * first in every policy.  A policy with no rule file of its own allows only
 * pure data: every import and every call is unmatched, hence denied.
 *
 * Deciding needs a little scratch memory (PCRE2 match data, name buffers):
 * it lives in a struct policy_eval, one per analysis, not in the policy.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvm.h"
#include "pw_error.h"

enum policy_verdict {
	POLICY_ALLOW,
	POLICY_DENY,
	POLICY_WOULD_DENY,	/* mode detect: deny, but forward and log */
};

enum policy_mode {
	POLICY_MODE_ENFORCE,
	POLICY_MODE_DETECT,
};

enum policy_action {
	POLICY_ACTION_ALLOW,
	POLICY_ACTION_DENY,
	POLICY_ACTION_ALERT,
};

/* What the audit log says of a rule; owned by the policy. */
struct policy_rule_info {
	uint32_t id;
	uint32_t rev;
	const char *msg;
	const char *severity;	/* info, low, medium, high, critical */
	const char *const *tags;
	size_t n_tags;
	enum policy_action action;
	const char *file;	/* where the rule was written */
	unsigned line;
};

/* A problem found while loading: an error, or a warning. */
struct policy_diag {
	bool warning;
	const char *file;	/* NULL: not about a place in a file */
	unsigned line, col;	/* 1-based */
	const char *message;	/* one line, no trailing newline */
};

/* Called for every error and warning; ${d} is valid only during the call. */
typedef void policy_diag_fn(void *cookie, const struct policy_diag *d);

#define POLICY_LOAD_STRICT	0x1	/* warnings are errors */
#define POLICY_LOAD_NO_INCLUDE	0x2	/* `include` is an error (fuzzing) */

struct policy;

/**
 * policy_load_file(path, flags, diag, cookie):
 * Load the rule file ${path} (and what it includes) on top of the denylist
 * layer.  Every error and warning goes to ${diag}(${cookie}, ...) if it is
 * not NULL.  Returns the policy, or NULL after the first error (or, with
 * POLICY_LOAD_STRICT, after the warnings) or on allocation failure.
 */
struct policy *policy_load_file(const char *path, unsigned flags,
    policy_diag_fn *diag, void *cookie);

/**
 * policy_load_text(name, text, len, flags, diag, cookie):
 * As policy_load_file() for rule text ${text} of ${len} bytes, reported as
 * file ${name}; includes are resolved relative to the directory of ${name}.
 */
struct policy *policy_load_text(const char *name, const char *text,
    size_t len, unsigned flags, policy_diag_fn *diag, void *cookie);

/**
 * policy_builtin():
 * The policy without a rule file: the denylist layer alone, default limits.
 * Returns NULL on allocation failure.
 */
struct policy *policy_builtin(void);

/**
 * policy_ref(p):
 * Take one more hold on ${p}, which a policy_free() lets go of: a policy
 * is released with its last holder.  Returns ${p}; NULL is a no-op.  Holds
 * are not atomic: one thread only.
 */
struct policy *policy_ref(struct policy *p);

/**
 * policy_free(p):
 * Let go of a hold on ${p} (the loader's, or one of policy_ref()),
 * releasing it with the last; NULL is a no-op.
 */
void policy_free(struct policy *p);

/**
 * policy_mode(p):
 * Whether ${p} enforces or only detects.
 */
enum policy_mode policy_mode(const struct policy *p);

/**
 * policy_rule_count(p, user_only):
 * The number of rules in ${p}, or of those from rule files if ${user_only}.
 */
size_t policy_rule_count(const struct policy *p, bool user_only);

/**
 * policy_allows_calls(p):
 * Whether a rule of ${p} can allow a call: an `allow call` rule, or an
 * `allow persid` rule (persistent_load is a call).  The built-in policy
 * and the denylist allow none.
 */
bool policy_allows_calls(const struct policy *p);

/**
 * policy_limits(p, limits):
 * Set the fields of *${limits} that a `limit` rule of ${p} sets; leave the
 * others as they are.
 */
void policy_limits(const struct policy *p, struct pvm_limits *limits);

/**
 * policy_ext_lookup(cookie, code, module, name):
 * A pvm_ext_lookup_fn for the policy ${cookie}: resolves the codes its
 * `ext` statements map.  The names live as long as the policy.
 */
int policy_ext_lookup(void *cookie, int64_t code, struct pvm_str *module,
    struct pvm_str *name);

/* What the analysis found in one message; nothing here is owned. */
struct policy_findings {
	int protocol;		/* last PROTO, 0 if none */
	uint64_t length;	/* bytes of the message, framing included */
	size_t n_imports, n_calls, n_reasons;
	const struct pvm_import *imports;
	const struct pvm_call *calls;
	const struct pvm_reason *reasons;	/* analysis reasons */
};

/*
 * Called once per reason the policy gives, in order; ${detail} is
 * NUL-terminated and valid only during the call.  Returns 0, or -1 if the
 * reason could not be kept (the policy then stops and denies).
 */
typedef int policy_reason_fn(void *cookie, enum pw_code code, uint64_t pos,
    const char *detail);

/*
 * Called once per rule that decided an import, a call, a message property
 * or a limit, and per alert that matched: once for each distinct (rule,
 * ${matched}) pair of the message.  ${matched} (${len} bytes, not
 * NUL-terminated) is what it matched: "module.qualname", a limit name, ...
 * Returns 0, or -1 (the policy then stops and denies).
 */
typedef int policy_hit_fn(void *cookie, const struct policy_rule_info *rule,
    const char *matched, size_t len);

struct policy_eval;

/**
 * policy_eval_new(p):
 * Scratch memory for deciding with ${p}, which must outlive it.  Returns
 * NULL on allocation failure.
 */
struct policy_eval *policy_eval_new(const struct policy *p);

/**
 * policy_eval_free(e):
 * Release ${e}; NULL is a no-op.
 */
void policy_eval_free(struct policy_eval *e);

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
int policy_decide(struct policy_eval *e,
    const struct policy_findings *findings, policy_reason_fn *add_reason,
    policy_hit_fn *add_hit, void *cookie, enum policy_verdict *verdict);

#endif /* !POLICY_H */
