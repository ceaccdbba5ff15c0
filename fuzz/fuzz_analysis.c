/*
 * libFuzzer harness for a whole client stream: framing (raw, len32, mp with
 * and without the authkey handshake), one or both memo models, and the
 * built-in policy (made once, shared by every input, as a listener shares
 * its policy).  The first input byte picks the configuration and a
 * chunk size; the stream is analyzed fed whole and fed in chunks, and the
 * two runs must deliver the same messages with the same verdicts.  Under
 * raw framing the pickle analyzer is the framer, so this is its harness.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGES 4096

struct seen {
	size_t n;
	uint64_t offset[MAX_MESSAGES], length[MAX_MESSAGES];
	uint8_t verdict[MAX_MESSAGES];
	size_t n_imports[MAX_MESSAGES];
};

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
record(struct seen *s, const struct analysis_message *m)
{
	size_t i;

	/* Messages tile the stream: each starts where the last ended. */
	check(s->n == 0 ||
	    m->offset == s->offset[s->n - 1] + s->length[s->n - 1]);
	check(m->verdict == ANALYSIS_ALLOW || m->n_reasons > 0);
	for (i = 0; i < m->n_imports; i++)
		check(m->imports[i].module.ptr != NULL &&
		    m->imports[i].name.ptr != NULL);
	if (s->n == MAX_MESSAGES)
		return;
	s->offset[s->n] = m->offset;
	s->length[s->n] = m->length;
	s->verdict[s->n] = (uint8_t)m->verdict;
	s->n_imports[s->n] = m->n_imports;
	s->n++;
}

static void
run(const struct analysis_config *cfg, const uint8_t *data, size_t size,
    size_t chunk, struct seen *s)
{
	struct analysis *a = analysis_new(cfg);
	struct analysis_message msg;
	size_t off = 0, used, n;

	if (a == NULL)
		abort();
	memset(s, 0, sizeof(*s));
	while (off < size) {
		n = size - off < chunk ? size - off : chunk;
		if (analysis_feed(a, data + off, n, &used, &msg) ==
		    ANALYSIS_MESSAGE) {
			record(s, &msg);
		} else if (used == 0) {
			break;	/* the stream has ended */
		}
		check(used <= n);
		off += used;
	}
	if (analysis_finish(a, &msg) == ANALYSIS_MESSAGE)
		record(s, &msg);
	analysis_free(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seen whole, split;
	/* Made once: compiling the denylist's patterns for every input
	 * held the harness to ~50 inputs a second. */
	static struct policy *builtin;
	struct analysis_config cfg;
	uint8_t sel;
	size_t i;

	if (size < 1)
		return 0;
	if (builtin == NULL && (builtin = policy_builtin()) == NULL)
		abort();
	sel = data[0];
	memset(&cfg, 0, sizeof(cfg));
	cfg.policy = builtin;
	cfg.frame.kind = (enum frame_kind)(sel % 3);
	cfg.frame.max_message_bytes = 1 << 16;
	cfg.frame.mp_handshake_messages = cfg.frame.kind == FRAME_MP &&
	    (sel & 0x08) ? 3 : 0;
	cfg.limits.max_message_bytes = 1 << 16;
	cfg.limits.max_memo_entries = 1 << 12;
	cfg.memo = (enum analysis_memo)((sel >> 4) % 3);
	cfg.resume_after_error = cfg.frame.kind == FRAME_RAW && (sel & 0x04);
	run(&cfg, data + 1, size - 1, size, &whole);
	run(&cfg, data + 1, size - 1, (size_t)(sel >> 6) * 2 + 1, &split);
	check(whole.n == split.n);
	for (i = 0; i < whole.n; i++) {
		check(whole.offset[i] == split.offset[i]);
		check(whole.length[i] == split.length[i]);
		check(whole.verdict[i] == split.verdict[i]);
		check(whole.n_imports[i] == split.n_imports[i]);
	}
	return 0;
}
