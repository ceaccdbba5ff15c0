#ifndef POLICY_H
#define POLICY_H

/*
 * policy: from what a pickle does to allow or deny.
 *
 * For now there is only the built-in policy: a pickle is allowed only if it
 * imports nothing, calls nothing and the analysis found nothing wrong with
 * it.  Rule files (the next step) will take the same findings and report
 * through the same callback, so that callers do not change.
 */

#include <stddef.h>
#include <stdint.h>

#include "pvm.h"
#include "pw_error.h"

enum policy_verdict {
	POLICY_ALLOW,
	POLICY_DENY,
};

/* What the analysis found in one pickle; nothing here is owned. */
struct policy_findings {
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
int policy_builtin_decide(const struct policy_findings *findings,
    policy_reason_fn *add_reason, void *cookie, enum policy_verdict *verdict);

#endif /* !POLICY_H */
