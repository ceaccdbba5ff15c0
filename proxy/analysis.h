#ifndef ANALYSIS_H
#define ANALYSIS_H

/*
 * analysis: one client byte stream -> messages -> findings -> verdict.
 *
 * It joins frame (where a message ends), pvm (what it imports and calls)
 * and the policy (allow or deny).  `picklewall scan` and the proxy both use
 * it, so a verdict computed offline is the verdict the proxy gives.
 *
 * Memo models: a server that calls pickle.loads() per message starts each
 * pickle with an empty memo; one that keeps an Unpickler reading the stream
 * keeps its memo.  The same bytes import different names under the two
 * models, so ANALYSIS_MEMO_BOTH runs both and reports the union.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "policy.h"
#include "pvm.h"
#include "pw_error.h"

enum analysis_memo {
	ANALYSIS_MEMO_PER_MESSAGE,
	ANALYSIS_MEMO_PERSISTENT,
	ANALYSIS_MEMO_BOTH,
};

struct analysis_config {
	struct frame_config frame;
	struct pvm_limits limits;	/* as given: policy_limits() is the
					 * caller's to apply */
	enum analysis_memo memo;
	bool resume_after_error;	/* the server calls load() again on the
					 * stream after an unpickling error
					 * (pvm_set_resume): raw framing */
	const struct policy *policy;	/* NULL: policy_builtin(); else it
					 * must outlive the analysis */
};

enum analysis_verdict {
	ANALYSIS_ALLOW,
	ANALYSIS_DENY,
	ANALYSIS_WOULD_DENY,	/* the policy's mode is detect */
};

/* A rule that decided something in a message, and what it matched. */
struct analysis_hit {
	const struct policy_rule_info *rule;	/* owned by the policy */
	struct pvm_str matched;
};

/* One finished message.  Arrays are owned by the analysis and valid until
 * the next analysis_feed() or analysis_free(). */
struct analysis_message {
	uint64_t offset;	/* stream offset of the first header byte */
	uint64_t length;	/* header + payload bytes */
	uint64_t payload_offset;
	bool is_pickle;		/* false: mp handshake message */
	unsigned handshake_index;
	int protocol;
	uint64_t opcodes;
	enum analysis_verdict verdict;
	size_t n_imports, n_calls, n_reasons;
	const struct pvm_import *imports;	/* union over memo models */
	const struct pvm_call *calls;
	const struct pvm_reason *reasons;	/* analysis and policy reasons */
	size_t n_hits;
	const struct analysis_hit *hits;
	bool stream_ends;	/* the stream cannot continue after this */
};

enum analysis_status {
	ANALYSIS_NEED_MORE,	/* all input consumed, no message finished */
	ANALYSIS_MESSAGE,	/* *msg filled */
};

struct analysis;

/**
 * analysis_new(config):
 * Create the analysis of one stream.  Returns NULL on allocation failure.
 */
struct analysis *analysis_new(const struct analysis_config *config);

/**
 * analysis_set_policy(a, policy, err):
 * Decide the messages from the next one on with ${policy} (NULL: the
 * built-in one), which must outlive the analysis or the next call.  Only
 * between messages: returns -1 with PW_USAGE in ${err} if a message is in
 * progress, or PW_INTERNAL if memory ran out; either way the policy in use
 * stays.  The limits stay those the analysis was created with.
 */
int analysis_set_policy(struct analysis *a, const struct policy *policy,
    struct pw_error *err);

/**
 * analysis_free(a):
 * Release ${a}; NULL is a no-op.
 */
void analysis_free(struct analysis *a);

/**
 * analysis_feed(a, buf, len, consumed, msg):
 * Consume stream bytes from ${buf} until a message finishes or the input is
 * used up; *${consumed} says how many were used.  ANALYSIS_MESSAGE fills
 * *${msg}; call again with the rest of the buffer.  A message with
 * msg->stream_ends set (invalid framing, or a pickle that could not be
 * analyzed to its end under raw framing) is the last one: further calls
 * consume nothing and return ANALYSIS_NEED_MORE.
 */
enum analysis_status analysis_feed(struct analysis *a, const uint8_t *buf,
    size_t len, size_t *consumed, struct analysis_message *msg);

/**
 * analysis_finish(a, msg):
 * The stream has ended.  If a message was in progress, fill *${msg} with it
 * (denied as truncated) and return ANALYSIS_MESSAGE; otherwise return
 * ANALYSIS_NEED_MORE.
 */
enum analysis_status analysis_finish(struct analysis *a,
    struct analysis_message *msg);

#endif /* !ANALYSIS_H */
