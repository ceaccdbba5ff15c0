/*
 * The analysis of a stream: framing, memo models, the built-in policy.
 * One behaviour per test.  Pickles are written out opcode by opcode with
 * the comment saying what CPython's pickle.dumps would emit or what an
 * attacker sends instead.
 */

#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "unit.h"

#define P(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* pickle.dumps([1, 2], protocol=2): PROTO 2, EMPTY_LIST, BINPUT 0, MARK,
 * BININT1 1, BININT1 2, APPENDS, STOP. */
#define BENIGN "\x80\x02]q\x00(K\x01K\x02" "e."

/* STACK_GLOBAL os.system, MEMOIZE (index 0), STOP: leaves the function in
 * the memo of a persistent Unpickler. */
#define STASH_OS_SYSTEM "\x80\x04\x8c\x02os\x8c\x06system\x93\x94."

/* BINGET 0, ('echo',), REDUCE: calls whatever the memo holds at 0. */
#define CALL_MEMO_0 "\x80\x04h\x00\x8c\x04" "echo\x85R."

/* What the tests look at in one message; the analysis' arrays are only
 * valid until the next feed, so they are copied out. */
#define MAX_SEEN 16

struct seen {
	uint64_t offset, length;
	bool is_pickle, stream_ends;
	enum analysis_verdict verdict;
	int protocol;
	size_t n_reasons, n_imports, n_calls;
	enum pw_code reason_codes[MAX_SEEN];
	uint64_t reason_pos[MAX_SEEN];
	char reason_details[MAX_SEEN][200];
	char imports[MAX_SEEN][100];	/* "module.name" */
	char calls[MAX_SEEN][100];	/* callable, or "?why" */
};

static void
keep(struct seen *s, const struct analysis_message *m)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->offset = m->offset;
	s->length = m->length;
	s->is_pickle = m->is_pickle;
	s->stream_ends = m->stream_ends;
	s->verdict = m->verdict;
	s->protocol = m->protocol;
	s->n_reasons = m->n_reasons;
	s->n_imports = m->n_imports;
	s->n_calls = m->n_calls;
	for (i = 0; i < m->n_reasons && i < MAX_SEEN; i++) {
		s->reason_codes[i] = m->reasons[i].code;
		s->reason_pos[i] = m->reasons[i].pos;
		snprintf(s->reason_details[i], sizeof(s->reason_details[i]),
		    "%s", m->reasons[i].detail);
	}
	for (i = 0; i < m->n_imports && i < MAX_SEEN; i++)
		snprintf(s->imports[i], sizeof(s->imports[i]), "%.*s.%.*s",
		    (int)m->imports[i].module.len, m->imports[i].module.ptr,
		    (int)m->imports[i].name.len, m->imports[i].name.ptr);
	for (i = 0; i < m->n_calls && i < MAX_SEEN; i++) {
		if (m->calls[i].callable.ptr != NULL)
			snprintf(s->calls[i], sizeof(s->calls[i]), "%.*s",
			    (int)m->calls[i].callable.len,
			    m->calls[i].callable.ptr);
		else
			snprintf(s->calls[i], sizeof(s->calls[i]), "?%s",
			    m->calls[i].why);
	}
}

/*
 * Run ${len} bytes through a fresh analysis with ${config}, ${step} bytes
 * per analysis_feed call, then analysis_finish; store up to ${max}
 * messages in ${out} and return how many there were.
 */
static size_t
run(const struct analysis_config *config, const uint8_t *buf, size_t len,
    size_t step, struct seen *out, size_t max)
{
	struct analysis *a = analysis_new(config);
	struct analysis_message m;
	size_t off = 0, n = 0, used, piece, i;
	bool ended = false;

	ck_assert_ptr_nonnull(a);
	while (off < len && !ended) {
		piece = len - off < step ? len - off : step;
		for (i = 0; i < piece && !ended; i += used) {
			if (analysis_feed(a, buf + off + i, piece - i, &used,
			    &m) == ANALYSIS_MESSAGE) {
				if (n < max)
					keep(&out[n], &m);
				n++;
				ended = m.stream_ends;
			} else {
				ck_assert_uint_eq(used, piece - i);
			}
		}
		off += piece;
	}
	if (analysis_finish(a, &m) == ANALYSIS_MESSAGE) {
		if (n < max)
			keep(&out[n], &m);
		n++;
	}
	analysis_free(a);
	return n;
}

static struct analysis_config
config_of(enum frame_kind kind, enum analysis_memo memo)
{
	struct analysis_config c;

	memset(&c, 0, sizeof(c));
	c.frame.kind = kind;
	c.memo = memo;
	return c;
}

static bool
has_reason(const struct seen *s, enum pw_code code)
{
	size_t i;

	for (i = 0; i < s->n_reasons && i < MAX_SEEN; i++)
		if (s->reason_codes[i] == code)
			return true;
	return false;
}

static bool
has_detail(const struct seen *s, enum pw_code code, const char *detail)
{
	size_t i;

	for (i = 0; i < s->n_reasons && i < MAX_SEEN; i++)
		if (s->reason_codes[i] == code &&
		    strcmp(s->reason_details[i], detail) == 0)
			return true;
	return false;
}

START_TEST(benign_raw_pickle_is_allowed)
{
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct seen s[2];

	ck_assert_uint_eq(run(&c, P(BENIGN), 4096, s, 2), 1);
	ck_assert_int_eq(s[0].verdict, ANALYSIS_ALLOW);
	ck_assert_uint_eq(s[0].offset, 0);
	ck_assert_uint_eq(s[0].length, sizeof(BENIGN) - 1);
	ck_assert_int_eq(s[0].protocol, 2);
	ck_assert_uint_eq(s[0].n_reasons, 0);
	ck_assert(!s[0].stream_ends);
}
END_TEST

START_TEST(raw_pickles_are_split_at_stop)
{
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct seen s[3];

	ck_assert_uint_eq(run(&c, P(BENIGN BENIGN), 4096, s, 3), 2);
	ck_assert_uint_eq(s[1].offset, sizeof(BENIGN) - 1);
	ck_assert_uint_eq(s[1].length, sizeof(BENIGN) - 1);
	ck_assert_int_eq(s[1].verdict, ANALYSIS_ALLOW);
}
END_TEST

START_TEST(one_byte_at_a_time_gives_the_same_messages)
{
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct seen whole[3], bytewise[3];

	ck_assert_uint_eq(run(&c, P(BENIGN STASH_OS_SYSTEM), 4096, whole, 3), 2);
	ck_assert_uint_eq(run(&c, P(BENIGN STASH_OS_SYSTEM), 1, bytewise, 3), 2);
	ck_assert_mem_eq(&whole[1], &bytewise[1], sizeof(whole[1]));
}
END_TEST

START_TEST(import_gets_one_policy_reason_per_model_union)
{
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct seen s[2];

	/* Both models see the same import: reported once, not twice. */
	ck_assert_uint_eq(run(&c, P(STASH_OS_SYSTEM), 4096, s, 2), 1);
	ck_assert_int_eq(s[0].verdict, ANALYSIS_DENY);
	ck_assert_uint_eq(s[0].n_imports, 1);
	ck_assert_str_eq(s[0].imports[0], "os.system");
	ck_assert_uint_eq(s[0].n_reasons, 1);
	ck_assert_int_eq(s[0].reason_codes[0], PW_IMPORT);
	/* The built-in denylist names it; which rule is its business. */
	ck_assert_str_starts(s[0].reason_details[0],
	    "os.system: denied by rule ");
	ck_assert_uint_eq(s[0].reason_pos[0], 14);
}
END_TEST

START_TEST(remapped_import_shows_raw_name_in_parentheses)
{
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_PER_MESSAGE);
	struct seen s[2];

	/* Protocol 0: GLOBAL '__builtin__ eval', ("1",), REDUCE. */
	ck_assert_uint_eq(run(&c, P("c__builtin__\neval\n(S'1'\ntR."), 4096,
	    s, 2), 1);
	ck_assert_int_eq(s[0].verdict, ANALYSIS_DENY);
	ck_assert_str_eq(s[0].imports[0], "builtins.eval");
	ck_assert_uint_eq(s[0].n_reasons, 2);
	ck_assert_str_starts(s[0].reason_details[0],
	    "builtins.eval (__builtin__.eval): ");
	ck_assert_int_eq(s[0].reason_codes[1], PW_CALL);
	ck_assert_str_starts(s[0].reason_details[1],
	    "builtins.eval args (\"1\",): ");
}
END_TEST

START_TEST(both_models_report_the_union_of_a_memo_attack)
{
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct seen s[3];

	/* The second pickle calls memo entry 0 left by the first: a
	 * persistent Unpickler calls os.system; pickle.load per message
	 * fails.  Both findings are reported. */
	ck_assert_uint_eq(run(&c, P(STASH_OS_SYSTEM CALL_MEMO_0), 4096, s, 3), 2);
	ck_assert_int_eq(s[1].verdict, ANALYSIS_DENY);
	ck_assert_uint_eq(s[1].offset, sizeof(STASH_OS_SYSTEM) - 1);
	ck_assert(has_reason(&s[1], PW_MEMO_MISSING));
	ck_assert(has_reason(&s[1], PW_CALL));
	ck_assert_uint_eq(s[1].n_calls, 1);
	ck_assert_str_eq(s[1].calls[0], "os.system");
	/* The models end the pickle differently: where the next one starts
	 * is unknown. */
	ck_assert(has_reason(&s[1], PW_BAD_FRAMING));
	ck_assert(s[1].stream_ends);
}
END_TEST

START_TEST(per_message_model_alone_misses_the_memo_call)
{
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_PER_MESSAGE);
	struct seen s[3];

	ck_assert_uint_eq(run(&c, P(STASH_OS_SYSTEM CALL_MEMO_0), 4096, s, 3), 2);
	ck_assert_uint_eq(s[1].n_calls, 0);
	ck_assert(has_reason(&s[1], PW_MEMO_MISSING));
}
END_TEST

START_TEST(failing_raw_pickle_ends_the_stream)
{
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct analysis *a = analysis_new(&c);
	struct analysis_message m;
	size_t used;

	/* 0xff is no opcode: nothing after it can be located. */
	ck_assert_int_eq(analysis_feed(a, P("\x80\x02\xff" BENIGN), &used, &m),
	    ANALYSIS_MESSAGE);
	ck_assert(m.stream_ends);
	ck_assert_int_eq(m.verdict, ANALYSIS_DENY);
	ck_assert_int_eq(m.reasons[0].code, PW_UNKNOWN_OPCODE);
	ck_assert_int_eq(analysis_feed(a, P(BENIGN), &used, &m),
	    ANALYSIS_NEED_MORE);
	ck_assert_uint_eq(used, 0);
	ck_assert_int_eq(analysis_finish(a, &m), ANALYSIS_NEED_MORE);
	analysis_free(a);
}
END_TEST

START_TEST(raw_stream_ending_inside_a_pickle_is_truncated)
{
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct seen s[3];

	ck_assert_uint_eq(run(&c, P(BENIGN "\x80\x02]"), 4096, s, 3), 2);
	ck_assert_int_eq(s[1].verdict, ANALYSIS_DENY);
	ck_assert_uint_eq(s[1].n_reasons, 1);
	ck_assert_int_eq(s[1].reason_codes[0], PW_TRUNCATED);
	ck_assert_uint_eq(s[1].length, 3);
	ck_assert(s[1].stream_ends);
}
END_TEST

START_TEST(len32_bytes_after_stop_are_denied)
{
	struct analysis_config c = config_of(FRAME_LEN32, ANALYSIS_MEMO_PER_MESSAGE);
	struct seen s[3];

	/* A payload of 14 bytes whose pickle (12 bytes) ends early: the
	 * rest could be a second pickle that a loads() server ignores. */
	ck_assert_uint_eq(run(&c, P("\x00\x00\x00\x0e" BENIGN "N."
	    "\x00\x00\x00\x0c" BENIGN), 4096, s, 3), 2);
	ck_assert_int_eq(s[0].verdict, ANALYSIS_DENY);
	ck_assert_uint_eq(s[0].n_reasons, 1);
	ck_assert_int_eq(s[0].reason_codes[0], PW_TRAILING_BYTES);
	ck_assert_uint_eq(s[0].reason_pos[0], 12);
	ck_assert_str_eq(s[0].reason_details[0], "2 bytes after STOP");
	ck_assert(!s[0].stream_ends);
	/* The framing tells where the next message starts. */
	ck_assert_uint_eq(s[1].offset, 18);
	ck_assert_int_eq(s[1].verdict, ANALYSIS_ALLOW);
}
END_TEST

START_TEST(len32_payload_without_stop_is_truncated)
{
	struct analysis_config c = config_of(FRAME_LEN32, ANALYSIS_MEMO_PER_MESSAGE);
	struct seen s[3];

	/* The length says 3 bytes: PROTO 2 and EMPTY_LIST, no STOP. */
	ck_assert_uint_eq(run(&c, P("\x00\x00\x00\x03\x80\x02]"
	    "\x00\x00\x00\x0c" BENIGN), 4096, s, 3), 2);
	ck_assert_int_eq(s[0].verdict, ANALYSIS_DENY);
	ck_assert_int_eq(s[0].reason_codes[0], PW_TRUNCATED);
	ck_assert(!s[0].stream_ends);
	ck_assert_int_eq(s[1].verdict, ANALYSIS_ALLOW);
}
END_TEST

START_TEST(len32_stream_ending_inside_a_payload_is_truncated)
{
	struct analysis_config c = config_of(FRAME_LEN32, ANALYSIS_MEMO_PER_MESSAGE);
	struct seen s[2];

	/* 12 bytes announced, 5 sent. */
	ck_assert_uint_eq(run(&c, P("\x00\x00\x00\x0c\x80\x02]q\x00"), 4096,
	    s, 2), 1);
	ck_assert_int_eq(s[0].verdict, ANALYSIS_DENY);
	ck_assert_uint_eq(s[0].length, 9);
	ck_assert(has_detail(&s[0], PW_TRUNCATED,
	    "stream ended after 5 of 12 payload bytes"));
	ck_assert(s[0].stream_ends);
}
END_TEST

START_TEST(len32_stream_ending_inside_a_header_is_truncated)
{
	struct analysis_config c = config_of(FRAME_LEN32, ANALYSIS_MEMO_PER_MESSAGE);
	struct seen s[3];

	ck_assert_uint_eq(run(&c, P("\x00\x00\x00\x0c" BENIGN "\x00\x00"),
	    4096, s, 3), 2);
	ck_assert_int_eq(s[1].reason_codes[0], PW_TRUNCATED);
	ck_assert_uint_eq(s[1].offset, 16);
	ck_assert_uint_eq(s[1].length, 2);
}
END_TEST

START_TEST(len32_message_over_the_limit_ends_the_stream)
{
	struct analysis_config c = config_of(FRAME_LEN32, ANALYSIS_MEMO_PER_MESSAGE);
	struct seen s[2];

	c.frame.max_message_bytes = 11;
	c.limits.max_message_bytes = 11;
	ck_assert_uint_eq(run(&c, P("\x00\x00\x00\x0c" BENIGN), 4096, s, 2), 1);
	ck_assert_int_eq(s[0].reason_codes[0], PW_LIMIT_MESSAGE_BYTES);
	ck_assert(s[0].stream_ends);
}
END_TEST

START_TEST(mp_handshake_messages_pass_as_allowed)
{
	struct analysis_config c = config_of(FRAME_MP, ANALYSIS_MEMO_PER_MESSAGE);
	struct seen s[5];

	c.frame.mp_handshake_messages = 3;
	/* Digest (2 bytes here), #CHALLENGE# + nonce, #WELCOME#, then a
	 * pickle. */
	ck_assert_uint_eq(run(&c, P("\x00\x00\x00\x02" "dg"
	    "\x00\x00\x00\x0d" "#CHALLENGE#xy"
	    "\x00\x00\x00\x09" "#WELCOME#"
	    "\x00\x00\x00\x0c" BENIGN), 4096, s, 5), 4);
	ck_assert(!s[0].is_pickle);
	ck_assert_int_eq(s[0].verdict, ANALYSIS_ALLOW);
	ck_assert_uint_eq(s[0].length, 6);
	ck_assert(!s[1].is_pickle);
	ck_assert_uint_eq(s[1].offset, 6);
	ck_assert_int_eq(s[1].verdict, ANALYSIS_ALLOW);
	ck_assert(!s[2].is_pickle);
	ck_assert_int_eq(s[2].verdict, ANALYSIS_ALLOW);
	ck_assert(s[3].is_pickle);
	ck_assert_uint_eq(s[3].offset, 36);
	ck_assert_int_eq(s[3].verdict, ANALYSIS_ALLOW);
}
END_TEST

START_TEST(mp_bad_handshake_is_a_denied_handshake_that_ends_the_stream)
{
	struct analysis_config c = config_of(FRAME_MP, ANALYSIS_MEMO_PER_MESSAGE);
	struct seen s[3];

	c.frame.mp_handshake_messages = 3;
	ck_assert_uint_eq(run(&c, P("\x00\x00\x00\x02" "dg"
	    "\x00\x00\x00\x0d" "#CHALLENGX#xy"), 4096, s, 3), 2);
	ck_assert(!s[1].is_pickle);
	ck_assert_int_eq(s[1].verdict, ANALYSIS_DENY);
	ck_assert_int_eq(s[1].reason_codes[0], PW_BAD_FRAMING);
	ck_assert(s[1].stream_ends);
}
END_TEST

/* Rules that allow m.f and calling it, in ${mode}. */
static struct policy *
allow_m_f(const char *mode)
{
	char text[512];
	struct policy *p;

	snprintf(text, sizeof(text), "mode %s\n"
	    "allow import m:f (id: 1; rev: 1; msg: \"m.f\"; severity: info;)\n"
	    "allow call REDUCE m:f (id: 2; rev: 1; msg: \"m.f()\"; "
	    "severity: info;)\n", mode);
	p = policy_load_text("t.rules", text, strlen(text), 0, NULL, NULL);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* m.f() then a str: allowed, unless the server may read on after an
 * error (a fresh load() per pickle restarts where its buffer was last
 * refilled).  pickle.dumps emits the same shape for any reduced object. */
#define CALL_M_F "\x80\x04\x8c\x01m\x8c\x01" "f\x93)R0\x8c\x01" "a."

START_TEST(raw_call_is_denied_when_the_server_may_resume)
{
	struct policy *p = allow_m_f("enforce");
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct seen out[2];

	c.policy = p;
	ck_assert_uint_eq(run(&c, P(CALL_M_F), 4096, out, 2), 1);
	ck_assert_int_eq(out[0].verdict, ANALYSIS_ALLOW);

	c.resume_after_error = true;
	ck_assert_uint_eq(run(&c, P(CALL_M_F), 4096, out, 2), 1);
	ck_assert_int_eq(out[0].verdict, ANALYSIS_DENY);
	ck_assert_uint_eq(out[0].n_reasons, 1);
	ck_assert_int_eq(out[0].reason_codes[0], PW_RESUME_UNKNOWN);
	ck_assert_uint_eq(out[0].reason_pos[0], 8);	/* the import */
	ck_assert_str_eq(out[0].calls[0], "m.f");
	ck_assert(!out[0].stream_ends);

	/* One Unpickler resumes after the failing opcode: modelled. */
	c.memo = ANALYSIS_MEMO_PERSISTENT;
	ck_assert_uint_eq(run(&c, P(CALL_M_F), 4096, out, 2), 1);
	ck_assert_int_eq(out[0].verdict, ANALYSIS_ALLOW);

	/* Pure data needs no guess. */
	c.memo = ANALYSIS_MEMO_BOTH;
	ck_assert_uint_eq(run(&c, P(BENIGN), 1, out, 2), 1);
	ck_assert_int_eq(out[0].verdict, ANALYSIS_ALLOW);
	policy_free(p);
}
END_TEST

START_TEST(resume_reason_is_only_for_messages_the_policy_allowed)
{
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct policy *p = allow_m_f("detect");
	struct seen out[2];

	/* Denied for what it is: the reasons say that, and only that. */
	c.resume_after_error = true;
	ck_assert_uint_eq(run(&c, P(STASH_OS_SYSTEM), 4096, out, 2), 1);
	ck_assert_int_eq(out[0].verdict, ANALYSIS_DENY);
	ck_assert(!has_reason(&out[0], PW_RESUME_UNKNOWN));
	/* In detect mode the denial is a would_deny, like the policy's. */
	c.policy = p;
	ck_assert_uint_eq(run(&c, P(CALL_M_F), 4096, out, 2), 1);
	ck_assert_int_eq(out[0].verdict, ANALYSIS_WOULD_DENY);
	ck_assert(has_reason(&out[0], PW_RESUME_UNKNOWN));
	policy_free(p);
}
END_TEST

/* Feed all of ${buf} to ${a}; returns the messages it finished (at most
 * ${max} kept in ${out}). */
static size_t
feed_all(struct analysis *a, const uint8_t *buf, size_t len,
    struct seen *out, size_t max)
{
	struct analysis_message m;
	size_t off = 0, n = 0, used;

	while (off < len) {
		if (analysis_feed(a, buf + off, len - off, &used, &m) ==
		    ANALYSIS_MESSAGE) {
			if (n < max)
				keep(&out[n], &m);
			n++;
		}
		off += used;
	}
	return n;
}

START_TEST(models_that_disagree_end_the_message_alike_however_it_is_fed)
{
	/* The second pickle GETs what the first memoized: the per-message
	 * model fails at the GET, the persistent one reads on to STOP.  The
	 * message is the same, length and findings, fed whole or a byte at
	 * a time (found by fuzz_analysis: whole feeds used to end it where
	 * the last model stopped, byte feeds where the first did). */
	static const char stream[] = "\x80\x04\x8c\x01" "a\x94." "\x80\x04h\x00.";
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct seen whole[3], bytewise[3];
	size_t k;

	ck_assert_uint_eq(run(&c, P(stream), 4096, whole, 3), 2);
	ck_assert_uint_eq(run(&c, P(stream), 1, bytewise, 3), 2);
	for (k = 0; k < 2; k++) {
		ck_assert_uint_eq(whole[k].offset, bytewise[k].offset);
		ck_assert_uint_eq(whole[k].length, bytewise[k].length);
		ck_assert_int_eq(whole[k].verdict, bytewise[k].verdict);
		ck_assert_uint_eq(whole[k].n_reasons, bytewise[k].n_reasons);
	}
	ck_assert_uint_eq(whole[1].length, 5);	/* to the STOP */
	ck_assert_int_eq(whole[1].verdict, ANALYSIS_DENY);
	ck_assert(whole[1].stream_ends);
	ck_assert(has_reason(&whole[1], PW_BAD_FRAMING));
	ck_assert(has_reason(&whole[1], PW_MEMO_MISSING));
}
END_TEST

START_TEST(a_new_policy_decides_from_the_next_message_on)
{
	struct analysis_config c = config_of(FRAME_RAW,
	    ANALYSIS_MEMO_PERSISTENT);
	struct policy *p = allow_m_f("enforce");
	struct analysis *a;
	struct pw_error err;
	struct seen out[2];
	const size_t cut = 6;	/* inside the first pickle */

	c.policy = p;
	ck_assert_ptr_nonnull(a = analysis_new(&c));
	ck_assert_uint_eq(feed_all(a, P(CALL_M_F), out, 2), 1);
	ck_assert_int_eq(out[0].verdict, ANALYSIS_ALLOW);

	/* In the middle of a message the rules it started with stay. */
	ck_assert_uint_eq(feed_all(a, (const uint8_t *)CALL_M_F, cut, out, 2),
	    0);
	ck_assert_int_eq(analysis_set_policy(a, NULL, &err), -1);
	ck_assert_int_eq(err.code, PW_USAGE);
	ck_assert_uint_eq(feed_all(a, (const uint8_t *)CALL_M_F + cut,
	    sizeof(CALL_M_F) - 1 - cut, out, 2), 1);
	ck_assert_int_eq(out[0].verdict, ANALYSIS_ALLOW);

	/* Between messages: the built-in policy denies the next one, with
	 * the same stream state (the persistent memo goes on). */
	ck_assert_int_eq(analysis_set_policy(a, NULL, &err), 0);
	ck_assert_uint_eq(feed_all(a, P(CALL_M_F), out, 2), 1);
	ck_assert_int_eq(out[0].verdict, ANALYSIS_DENY);
	ck_assert_str_eq(out[0].calls[0], "m.f");

	/* And back: the given policy allows it again. */
	ck_assert_int_eq(analysis_set_policy(a, p, &err), 0);
	ck_assert_uint_eq(feed_all(a, P(CALL_M_F), out, 2), 1);
	ck_assert_int_eq(out[0].verdict, ANALYSIS_ALLOW);
	analysis_free(a);
	policy_free(p);
}
END_TEST

START_TEST(inst_after_a_call_is_reported_even_in_a_cut_pickle)
{
	/* A resumed server has no MARK at the INST and runs its lines as
	 * opcodes (cos / system); said whatever else ends the message, here
	 * the end of the stream. */
	static const char cut[] = "\x80\x05(cm\nfail\n)Ricos\nsystem\n\x8c\xffid";
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct seen out[2];

	c.resume_after_error = true;
	ck_assert_uint_eq(run(&c, P(cut), 4096, out, 2), 1);
	ck_assert_int_eq(out[0].verdict, ANALYSIS_DENY);
	ck_assert(has_reason(&out[0], PW_TRUNCATED));
	ck_assert(has_reason(&out[0], PW_RESUME_UNKNOWN));
	c.resume_after_error = false;
	ck_assert_uint_eq(run(&c, P(cut), 4096, out, 2), 1);
	ck_assert(!has_reason(&out[0], PW_RESUME_UNKNOWN));
}
END_TEST

START_TEST(finish_with_nothing_in_progress_gives_no_message)
{
	struct analysis_config c = config_of(FRAME_RAW, ANALYSIS_MEMO_BOTH);
	struct seen s[2];

	ck_assert_uint_eq(run(&c, (const uint8_t *)"", 0, 4096, s, 2), 0);
}
END_TEST

static Suite *
analysis_suite(void)
{
	Suite *s = suite_create("analysis");
	TCase *tc = tcase_create("analysis");

	tcase_add_test(tc, benign_raw_pickle_is_allowed);
	tcase_add_test(tc, raw_pickles_are_split_at_stop);
	tcase_add_test(tc, one_byte_at_a_time_gives_the_same_messages);
	tcase_add_test(tc, import_gets_one_policy_reason_per_model_union);
	tcase_add_test(tc, remapped_import_shows_raw_name_in_parentheses);
	tcase_add_test(tc, both_models_report_the_union_of_a_memo_attack);
	tcase_add_test(tc, per_message_model_alone_misses_the_memo_call);
	tcase_add_test(tc, failing_raw_pickle_ends_the_stream);
	tcase_add_test(tc, raw_stream_ending_inside_a_pickle_is_truncated);
	tcase_add_test(tc, len32_bytes_after_stop_are_denied);
	tcase_add_test(tc, len32_payload_without_stop_is_truncated);
	tcase_add_test(tc, len32_stream_ending_inside_a_payload_is_truncated);
	tcase_add_test(tc, len32_stream_ending_inside_a_header_is_truncated);
	tcase_add_test(tc, len32_message_over_the_limit_ends_the_stream);
	tcase_add_test(tc, mp_handshake_messages_pass_as_allowed);
	tcase_add_test(tc, mp_bad_handshake_is_a_denied_handshake_that_ends_the_stream);
	tcase_add_test(tc, finish_with_nothing_in_progress_gives_no_message);
	tcase_add_test(tc, raw_call_is_denied_when_the_server_may_resume);
	tcase_add_test(tc, resume_reason_is_only_for_messages_the_policy_allowed);
	tcase_add_test(tc, inst_after_a_call_is_reported_even_in_a_cut_pickle);
	tcase_add_test(tc, a_new_policy_decides_from_the_next_message_on);
	tcase_add_test(tc, models_that_disagree_end_the_message_alike_however_it_is_fed);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_SUITE(analysis_suite)
