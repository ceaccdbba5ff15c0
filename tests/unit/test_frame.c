/*
 * The message framers, one behaviour per test.  Byte strings are written
 * as they travel on the wire; the senders are Python 3.11's
 * logging.handlers.SocketHandler (len32) and multiprocessing.connection
 * (mp).  The captured_* arrays are real stdlib output (Python 3.11 and
 * 3.12) recorded over loopback, so these tests prove we split what the
 * stdlib really sends.
 */

#include <string.h>

#include "frame.h"
#include "unit.h"

#define P(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/*
 * SocketHandler('127.0.0.1', 9).makePickle(LogRecord('app', INFO,
 * '/srv/app.py', 7, 'hi %s', ('bob',), None)) under /usr/bin/python3
 * (3.11): a 4-byte length 0x1be = 446, then a protocol-1 pickle of the
 * record's __dict__.
 */
static const uint8_t captured_logrecord[] = {
	0x00, 0x00, 0x01, 0xbe, 0x7d, 0x71, 0x00, 0x28, 0x58, 0x04, 0x00, 0x00,
	0x00, 0x6e, 0x61, 0x6d, 0x65, 0x71, 0x01, 0x58, 0x03, 0x00, 0x00, 0x00,
	0x61, 0x70, 0x70, 0x71, 0x02, 0x58, 0x03, 0x00, 0x00, 0x00, 0x6d, 0x73,
	0x67, 0x71, 0x03, 0x58, 0x06, 0x00, 0x00, 0x00, 0x68, 0x69, 0x20, 0x62,
	0x6f, 0x62, 0x71, 0x04, 0x58, 0x04, 0x00, 0x00, 0x00, 0x61, 0x72, 0x67,
	0x73, 0x71, 0x05, 0x4e, 0x58, 0x09, 0x00, 0x00, 0x00, 0x6c, 0x65, 0x76,
	0x65, 0x6c, 0x6e, 0x61, 0x6d, 0x65, 0x71, 0x06, 0x58, 0x04, 0x00, 0x00,
	0x00, 0x49, 0x4e, 0x46, 0x4f, 0x71, 0x07, 0x58, 0x07, 0x00, 0x00, 0x00,
	0x6c, 0x65, 0x76, 0x65, 0x6c, 0x6e, 0x6f, 0x71, 0x08, 0x4b, 0x14, 0x58,
	0x08, 0x00, 0x00, 0x00, 0x70, 0x61, 0x74, 0x68, 0x6e, 0x61, 0x6d, 0x65,
	0x71, 0x09, 0x58, 0x0b, 0x00, 0x00, 0x00, 0x2f, 0x73, 0x72, 0x76, 0x2f,
	0x61, 0x70, 0x70, 0x2e, 0x70, 0x79, 0x71, 0x0a, 0x58, 0x08, 0x00, 0x00,
	0x00, 0x66, 0x69, 0x6c, 0x65, 0x6e, 0x61, 0x6d, 0x65, 0x71, 0x0b, 0x58,
	0x06, 0x00, 0x00, 0x00, 0x61, 0x70, 0x70, 0x2e, 0x70, 0x79, 0x71, 0x0c,
	0x58, 0x06, 0x00, 0x00, 0x00, 0x6d, 0x6f, 0x64, 0x75, 0x6c, 0x65, 0x71,
	0x0d, 0x58, 0x03, 0x00, 0x00, 0x00, 0x61, 0x70, 0x70, 0x71, 0x0e, 0x58,
	0x08, 0x00, 0x00, 0x00, 0x65, 0x78, 0x63, 0x5f, 0x69, 0x6e, 0x66, 0x6f,
	0x71, 0x0f, 0x4e, 0x58, 0x08, 0x00, 0x00, 0x00, 0x65, 0x78, 0x63, 0x5f,
	0x74, 0x65, 0x78, 0x74, 0x71, 0x10, 0x4e, 0x58, 0x0a, 0x00, 0x00, 0x00,
	0x73, 0x74, 0x61, 0x63, 0x6b, 0x5f, 0x69, 0x6e, 0x66, 0x6f, 0x71, 0x11,
	0x4e, 0x58, 0x06, 0x00, 0x00, 0x00, 0x6c, 0x69, 0x6e, 0x65, 0x6e, 0x6f,
	0x71, 0x12, 0x4b, 0x07, 0x58, 0x08, 0x00, 0x00, 0x00, 0x66, 0x75, 0x6e,
	0x63, 0x4e, 0x61, 0x6d, 0x65, 0x71, 0x13, 0x4e, 0x58, 0x07, 0x00, 0x00,
	0x00, 0x63, 0x72, 0x65, 0x61, 0x74, 0x65, 0x64, 0x71, 0x14, 0x47, 0x41,
	0xd9, 0x54, 0xfc, 0x40, 0x00, 0x00, 0x00, 0x58, 0x05, 0x00, 0x00, 0x00,
	0x6d, 0x73, 0x65, 0x63, 0x73, 0x71, 0x15, 0x47, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x58, 0x0f, 0x00, 0x00, 0x00, 0x72, 0x65, 0x6c,
	0x61, 0x74, 0x69, 0x76, 0x65, 0x43, 0x72, 0x65, 0x61, 0x74, 0x65, 0x64,
	0x71, 0x16, 0x47, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x58,
	0x06, 0x00, 0x00, 0x00, 0x74, 0x68, 0x72, 0x65, 0x61, 0x64, 0x71, 0x17,
	0x4b, 0x01, 0x58, 0x0a, 0x00, 0x00, 0x00, 0x74, 0x68, 0x72, 0x65, 0x61,
	0x64, 0x4e, 0x61, 0x6d, 0x65, 0x71, 0x18, 0x58, 0x0a, 0x00, 0x00, 0x00,
	0x4d, 0x61, 0x69, 0x6e, 0x54, 0x68, 0x72, 0x65, 0x61, 0x64, 0x71, 0x19,
	0x58, 0x0b, 0x00, 0x00, 0x00, 0x70, 0x72, 0x6f, 0x63, 0x65, 0x73, 0x73,
	0x4e, 0x61, 0x6d, 0x65, 0x71, 0x1a, 0x58, 0x0b, 0x00, 0x00, 0x00, 0x4d,
	0x61, 0x69, 0x6e, 0x50, 0x72, 0x6f, 0x63, 0x65, 0x73, 0x73, 0x71, 0x1b,
	0x58, 0x07, 0x00, 0x00, 0x00, 0x70, 0x72, 0x6f, 0x63, 0x65, 0x73, 0x73,
	0x71, 0x1c, 0x4b, 0x02, 0x75, 0x2e,
};

/*
 * The client->server bytes of Client(addr, authkey=b'k') talking to
 * Listener(authkey=b'k') under Python 3.11, then c.send({'x': 1}) and
 * c.send([1, 2, 3]): the 16-byte HMAC-MD5 digest, #CHALLENGE# + 20 random
 * bytes, #WELCOME#, then two pickles of 21 and 22 bytes.
 */
static const uint8_t captured_mp_client[] = {
	0x00, 0x00, 0x00, 0x10, 0x04, 0x91, 0x36, 0x8f, 0x39, 0x12, 0xe4, 0xdc,
	0xff, 0xb6, 0x3d, 0x2c, 0x2c, 0x8a, 0xca, 0xf2, 0x00, 0x00, 0x00, 0x1f,
	0x23, 0x43, 0x48, 0x41, 0x4c, 0x4c, 0x45, 0x4e, 0x47, 0x45, 0x23, 0x83,
	0x08, 0xd8, 0x9f, 0x2a, 0x75, 0x59, 0xe3, 0x85, 0x97, 0xb6, 0xf7, 0xd3,
	0x1a, 0x39, 0xa8, 0xd0, 0x07, 0x5a, 0x83, 0x00, 0x00, 0x00, 0x09, 0x23,
	0x57, 0x45, 0x4c, 0x43, 0x4f, 0x4d, 0x45, 0x23, 0x00, 0x00, 0x00, 0x15,
	0x80, 0x04, 0x95, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7d,
	0x94, 0x8c, 0x01, 0x78, 0x94, 0x4b, 0x01, 0x73, 0x2e, 0x00, 0x00, 0x00,
	0x16, 0x80, 0x04, 0x95, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x5d, 0x94, 0x28, 0x4b, 0x01, 0x4b, 0x02, 0x4b, 0x03, 0x65, 0x2e,
};

/*
 * The same exchange under Python 3.12.1, whose handshake names its digest:
 * b'{sha256}' + 32-byte HMAC-SHA256, b'#CHALLENGE#{sha256}' + 40 random
 * bytes, #WELCOME#, then the same two pickles.
 */
static const uint8_t captured_mp_client_py312[] = {
	0x00, 0x00, 0x00, 0x28, 0x7b, 0x73, 0x68, 0x61, 0x32, 0x35, 0x36, 0x7d,
	0x7f, 0xf4, 0x35, 0xff, 0xd0, 0xae, 0xb0, 0x6c, 0xf4, 0xee, 0xfb, 0x57,
	0x67, 0xcd, 0x6d, 0xfb, 0x9d, 0xc4, 0x7a, 0xe1, 0x33, 0xde, 0x35, 0x3b,
	0x5d, 0x76, 0x82, 0x21, 0x0b, 0x72, 0x39, 0x81, 0x00, 0x00, 0x00, 0x3b,
	0x23, 0x43, 0x48, 0x41, 0x4c, 0x4c, 0x45, 0x4e, 0x47, 0x45, 0x23, 0x7b,
	0x73, 0x68, 0x61, 0x32, 0x35, 0x36, 0x7d, 0x13, 0xbd, 0x54, 0x64, 0x76,
	0x8c, 0xd8, 0x66, 0x2d, 0xaa, 0x78, 0xed, 0x49, 0x20, 0x06, 0x7c, 0x78,
	0xb1, 0x28, 0xc2, 0xe8, 0xa0, 0x1f, 0xdd, 0x32, 0xd6, 0x7e, 0xa3, 0x87,
	0x5b, 0x8e, 0x34, 0xd5, 0xc0, 0xa8, 0xbe, 0xe1, 0xbe, 0xf3, 0xb5, 0x00,
	0x00, 0x00, 0x09, 0x23, 0x57, 0x45, 0x4c, 0x43, 0x4f, 0x4d, 0x45, 0x23,
	0x00, 0x00, 0x00, 0x15, 0x80, 0x04, 0x95, 0x0a, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x7d, 0x94, 0x8c, 0x01, 0x78, 0x94, 0x4b, 0x01, 0x73,
	0x2e, 0x00, 0x00, 0x00, 0x16, 0x80, 0x04, 0x95, 0x0b, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x5d, 0x94, 0x28, 0x4b, 0x01, 0x4b, 0x02, 0x4b,
	0x03, 0x65, 0x2e,
};

static struct frame *f;

static void
teardown(void)
{
	frame_free(f);
	f = NULL;
}

/* Make the framer under test; a limit of 0 means the 64 MiB default. */
static void
use(enum frame_kind kind, uint64_t max_message_bytes, unsigned handshake)
{
	struct frame_config config = { .kind = kind,
	    .max_message_bytes = max_message_bytes,
	    .mp_handshake_messages = handshake };

	f = frame_new(&config);
	ck_assert_ptr_nonnull(f);
}

/* Write an mp message (short header) with ${payload} into ${out}. */
static size_t
put_mp(uint8_t *out, const void *payload, size_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	memcpy(out + 4, payload, len);
	return 4 + len;
}

#define STREAM_MAX_MESSAGES 16

/* What a caller sees when it frames a whole stream. */
struct stream {
	struct frame_message msgs[STREAM_MAX_MESSAGES];
	size_t n_msgs;
	enum frame_status last;		/* INVALID or NEED_MORE */
	struct pw_error err;
	size_t framed_bytes;		/* input the framer consumed */
	uint64_t payload_left;		/* pickle payload not yet seen */
};

/*
 * Frame ${buf} as a caller would, handing frame_next pieces of at most
 * ${chunk} bytes and skipping each pickle's payload itself.
 */
static struct stream
run_stream(const uint8_t *buf, size_t len, size_t chunk)
{
	struct stream s;
	struct frame_message m;
	size_t off = 0, n, used;
	enum frame_status st;

	memset(&s, 0, sizeof(s));
	s.last = FRAME_NEED_MORE;
	while (off < len) {
		if (s.payload_left > 0) {
			n = len - off < s.payload_left ? len - off :
			    (size_t)s.payload_left;
			off += n;
			s.payload_left -= n;
			continue;
		}
		n = len - off < chunk ? len - off : chunk;
		st = frame_next(f, buf + off, n, &used, &m, &s.err);
		ck_assert_uint_le(used, n);
		off += used;
		s.framed_bytes += used;
		if (st == FRAME_INVALID) {
			s.last = FRAME_INVALID;
			break;
		}
		if (st == FRAME_NEED_MORE) {
			ck_assert_uint_eq(used, n);
			continue;
		}
		ck_assert_uint_lt(s.n_msgs, STREAM_MAX_MESSAGES);
		s.msgs[s.n_msgs++] = m;
		if (m.is_pickle)
			s.payload_left = m.payload_bytes;
	}
	return s;
}

static void
assert_handshake(const struct frame_message *m, unsigned index,
    uint64_t header_bytes, uint64_t payload_bytes)
{
	ck_assert(!m->is_pickle);
	ck_assert_uint_eq(m->handshake_index, index);
	ck_assert_uint_eq(m->header_bytes, header_bytes);
	ck_assert_uint_eq(m->payload_bytes, payload_bytes);
}

static void
assert_pickle(const struct frame_message *m, uint64_t header_bytes,
    uint64_t payload_bytes)
{
	ck_assert(m->is_pickle);
	ck_assert_uint_eq(m->handshake_index, 0);
	ck_assert_uint_eq(m->header_bytes, header_bytes);
	ck_assert_uint_eq(m->payload_bytes, payload_bytes);
}

/* ---- names and construction ---------------------------------------------- */

START_TEST(kind_parse_accepts_the_three_names)
{
	enum frame_kind k;

	ck_assert_int_eq(frame_kind_parse("raw", &k), 0);
	ck_assert_int_eq(k, FRAME_RAW);
	ck_assert_int_eq(frame_kind_parse("len32", &k), 0);
	ck_assert_int_eq(k, FRAME_LEN32);
	ck_assert_int_eq(frame_kind_parse("mp", &k), 0);
	ck_assert_int_eq(k, FRAME_MP);
}
END_TEST

START_TEST(kind_parse_rejects_other_names_and_leaves_kind_alone)
{
	enum frame_kind k = FRAME_MP;

	ck_assert_int_eq(frame_kind_parse("RAW", &k), -1);
	ck_assert_int_eq(frame_kind_parse("len", &k), -1);
	ck_assert_int_eq(frame_kind_parse("len32 ", &k), -1);
	ck_assert_int_eq(frame_kind_parse("", &k), -1);
	ck_assert_int_eq(frame_kind_parse(NULL, &k), -1);
	ck_assert_int_eq(k, FRAME_MP);
}
END_TEST

START_TEST(kind_name_gives_the_configuration_names)
{
	ck_assert_str_eq(frame_kind_name(FRAME_RAW), "raw");
	ck_assert_str_eq(frame_kind_name(FRAME_LEN32), "len32");
	ck_assert_str_eq(frame_kind_name(FRAME_MP), "mp");
}
END_TEST

START_TEST(new_rejects_an_unknown_kind)
{
	struct frame_config config = { .kind = (enum frame_kind)3 };

	ck_assert_ptr_null(frame_new(&config));
}
END_TEST

START_TEST(new_rejects_a_handshake_count_other_than_0_or_3)
{
	struct frame_config config = { .kind = FRAME_MP };

	config.mp_handshake_messages = 1;
	ck_assert_ptr_null(frame_new(&config));
	config.mp_handshake_messages = 2;
	ck_assert_ptr_null(frame_new(&config));
	config.mp_handshake_messages = 4;
	ck_assert_ptr_null(frame_new(&config));
}
END_TEST

START_TEST(free_of_null_is_a_no_op)
{
	frame_free(NULL);
}
END_TEST

/* ---- raw ----------------------------------------------------------------- */

START_TEST(raw_reports_a_message_at_once_consuming_nothing)
{
	struct frame_message m;
	struct pw_error err;
	size_t used = 99;

	use(FRAME_RAW, 0, 0);
	ck_assert_int_eq(frame_next(f, P("\x80\x04K\x01."), &used, &m, &err),
	    FRAME_MESSAGE);
	ck_assert_uint_eq(used, 0);
	assert_pickle(&m, 0, FRAME_PAYLOAD_UNTIL_STOP);
}
END_TEST

START_TEST(raw_reports_a_message_on_empty_input)
{
	struct frame_message m;
	struct pw_error err;
	size_t used = 99;

	use(FRAME_RAW, 0, 0);
	ck_assert_int_eq(frame_next(f, NULL, 0, &used, &m, &err),
	    FRAME_MESSAGE);
	ck_assert_uint_eq(used, 0);
	assert_pickle(&m, 0, FRAME_PAYLOAD_UNTIL_STOP);
}
END_TEST

/* ---- len32 --------------------------------------------------------------- */

START_TEST(len32_header_gives_the_payload_length)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_LEN32, 0, 0);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x01\x02" "payload"),
	    &used, &m, &err), FRAME_MESSAGE);
	ck_assert_uint_eq(used, 4);
	assert_pickle(&m, 4, 258);
}
END_TEST

START_TEST(len32_length_is_unsigned)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_LEN32, 1ULL << 32, 0);
	ck_assert_int_eq(frame_next(f, P("\x80\x00\x00\x00"), &used, &m,
	    &err), FRAME_MESSAGE);
	assert_pickle(&m, 4, 0x80000000ULL);
}
END_TEST

START_TEST(len32_partial_header_needs_more_and_is_consumed)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_LEN32, 0, 0);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x01"), &used, &m, &err),
	    FRAME_NEED_MORE);
	ck_assert_uint_eq(used, 3);
	ck_assert_int_eq(frame_next(f, P("\x05" "abc"), &used, &m, &err),
	    FRAME_MESSAGE);
	ck_assert_uint_eq(used, 1);
	assert_pickle(&m, 4, 0x105);
}
END_TEST

START_TEST(len32_empty_input_needs_more)
{
	struct frame_message m;
	struct pw_error err;
	size_t used = 99;

	use(FRAME_LEN32, 0, 0);
	ck_assert_int_eq(frame_next(f, NULL, 0, &used, &m, &err),
	    FRAME_NEED_MORE);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(len32_reads_one_header_per_call)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_LEN32, 0, 0);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x00\x01\x00\x00\x00\x02"),
	    &used, &m, &err), FRAME_MESSAGE);
	ck_assert_uint_eq(used, 4);
	assert_pickle(&m, 4, 1);
}
END_TEST

START_TEST(len32_zero_length_is_bad_framing)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_LEN32, 0, 0);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x00\x00" "."), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_int_eq(err.code, PW_BAD_FRAMING);
	ck_assert_uint_eq(err.position, 0);
}
END_TEST

START_TEST(len32_length_over_limit_fails_on_the_header_alone)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_LEN32, 1000, 0);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x03\xe9"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_int_eq(err.code, PW_LIMIT_MESSAGE_BYTES);
	ck_assert_str_eq(err.message, "len32 framing: message of 1001 bytes "
	    "exceeds max_message_bytes 1000");
}
END_TEST

START_TEST(len32_length_equal_to_limit_is_accepted)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_LEN32, 1000, 0);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x03\xe8"), &used, &m,
	    &err), FRAME_MESSAGE);
	assert_pickle(&m, 4, 1000);
}
END_TEST

START_TEST(len32_default_limit_is_64_mib)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_LEN32, 0, 0);
	ck_assert_int_eq(frame_next(f, P("\x04\x00\x00\x00"), &used, &m,
	    &err), FRAME_MESSAGE);
	assert_pickle(&m, 4, 64ULL << 20);
	ck_assert_int_eq(frame_next(f, P("\x04\x00\x00\x01"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_int_eq(err.code, PW_LIMIT_MESSAGE_BYTES);
}
END_TEST

START_TEST(invalid_stays_invalid_consuming_nothing)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_LEN32, 0, 0);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x00\x00"), &used, &m,
	    &err), FRAME_INVALID);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x00\x01"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_uint_eq(used, 0);
	ck_assert_int_eq(err.code, PW_BAD_FRAMING);
	ck_assert_str_eq(err.message, "len32 framing: zero-length message");
	ck_assert_int_eq(frame_next(f, NULL, 0, &used, &m, &err),
	    FRAME_INVALID);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(len32_real_socket_handler_record_is_one_message)
{
	struct stream s;

	use(FRAME_LEN32, 0, 0);
	s = run_stream(captured_logrecord, sizeof(captured_logrecord), 4096);
	ck_assert_int_eq(s.last, FRAME_NEED_MORE);
	ck_assert_uint_eq(s.n_msgs, 1);
	assert_pickle(&s.msgs[0], 4, 446);
	ck_assert_uint_eq(s.payload_left, 0);
	/* The payload is the pickle: protocol 1 EMPTY_DICT ... STOP. */
	ck_assert_uint_eq(captured_logrecord[4], '}');
	ck_assert_uint_eq(captured_logrecord[sizeof(captured_logrecord) - 1],
	    '.');
}
END_TEST

START_TEST(len32_real_record_byte_by_byte_gives_the_same_message)
{
	struct stream s;

	use(FRAME_LEN32, 0, 0);
	s = run_stream(captured_logrecord, sizeof(captured_logrecord), 1);
	ck_assert_int_eq(s.last, FRAME_NEED_MORE);
	ck_assert_uint_eq(s.n_msgs, 1);
	assert_pickle(&s.msgs[0], 4, 446);
	ck_assert_uint_eq(s.framed_bytes, 4);
}
END_TEST

/* ---- mp without handshake ------------------------------------------------ */

START_TEST(mp_positive_length_gives_the_payload_length)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 0, 0);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x00\x15\x80\x04"), &used,
	    &m, &err), FRAME_MESSAGE);
	ck_assert_uint_eq(used, 4);
	assert_pickle(&m, 4, 21);
}
END_TEST

START_TEST(mp_minus_one_announces_an_8_byte_length)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 1ULL << 40, 0);
	ck_assert_int_eq(frame_next(f,
	    P("\xff\xff\xff\xff\x00\x00\x00\x01\x00\x00\x00\x00"), &used, &m,
	    &err), FRAME_MESSAGE);
	ck_assert_uint_eq(used, 12);
	assert_pickle(&m, 12, 0x100000000ULL);
}
END_TEST

START_TEST(mp_minus_one_with_a_small_length_is_accepted)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	/* CPython only sends it above 0x7fffffff but _recv_bytes takes it. */
	use(FRAME_MP, 0, 0);
	ck_assert_int_eq(frame_next(f,
	    P("\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x05"), &used, &m,
	    &err), FRAME_MESSAGE);
	assert_pickle(&m, 12, 5);
}
END_TEST

START_TEST(mp_8_byte_length_over_limit_is_limit_message_bytes)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 0, 0);
	ck_assert_int_eq(frame_next(f,
	    P("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_int_eq(err.code, PW_LIMIT_MESSAGE_BYTES);
}
END_TEST

START_TEST(mp_8_byte_zero_length_is_bad_framing)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 0, 0);
	ck_assert_int_eq(frame_next(f,
	    P("\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_int_eq(err.code, PW_BAD_FRAMING);
}
END_TEST

START_TEST(mp_negative_length_other_than_minus_one_is_bad_framing)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 1ULL << 40, 0);
	ck_assert_int_eq(frame_next(f, P("\xff\xff\xff\xfe"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_int_eq(err.code, PW_BAD_FRAMING);
	ck_assert_str_eq(err.message,
	    "mp framing: negative length other than -1");
}
END_TEST

START_TEST(mp_length_with_only_the_sign_bit_is_bad_framing)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	/* "!i" reads 0x80000000 as -2147483648, not 2 GiB. */
	use(FRAME_MP, 1ULL << 40, 0);
	ck_assert_int_eq(frame_next(f, P("\x80\x00\x00\x00"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_int_eq(err.code, PW_BAD_FRAMING);
}
END_TEST

START_TEST(mp_zero_length_is_bad_framing)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 0, 0);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x00\x00"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_int_eq(err.code, PW_BAD_FRAMING);
}
END_TEST

START_TEST(mp_length_over_limit_fails_on_the_header_alone)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 16, 0);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x00\x11"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_uint_eq(used, 4);
	ck_assert_int_eq(err.code, PW_LIMIT_MESSAGE_BYTES);
}
END_TEST

START_TEST(mp_without_handshake_takes_a_challenge_as_a_pickle)
{
	struct stream s;

	use(FRAME_MP, 0, 0);
	s = run_stream(P("\x00\x00\x00\x0d#CHALLENGE#xy"), 1);
	ck_assert_int_eq(s.last, FRAME_NEED_MORE);
	ck_assert_uint_eq(s.n_msgs, 1);
	assert_pickle(&s.msgs[0], 4, 13);
}
END_TEST

/* ---- mp handshake -------------------------------------------------------- */

START_TEST(mp_handshake_real_client_stream_gives_3_handshakes_then_pickles)
{
	struct stream s;

	use(FRAME_MP, 0, 3);
	s = run_stream(captured_mp_client, sizeof(captured_mp_client), 4096);
	ck_assert_int_eq(s.last, FRAME_NEED_MORE);
	ck_assert_uint_eq(s.n_msgs, 5);
	assert_handshake(&s.msgs[0], 1, 4, 16);
	assert_handshake(&s.msgs[1], 2, 4, 31);
	assert_handshake(&s.msgs[2], 3, 4, 9);
	assert_pickle(&s.msgs[3], 4, 21);
	assert_pickle(&s.msgs[4], 4, 22);
	ck_assert_uint_eq(s.payload_left, 0);
}
END_TEST

START_TEST(mp_handshake_real_client_stream_byte_by_byte_gives_the_same)
{
	struct stream s;

	use(FRAME_MP, 0, 3);
	s = run_stream(captured_mp_client, sizeof(captured_mp_client), 1);
	ck_assert_int_eq(s.last, FRAME_NEED_MORE);
	ck_assert_uint_eq(s.n_msgs, 5);
	assert_handshake(&s.msgs[0], 1, 4, 16);
	assert_handshake(&s.msgs[1], 2, 4, 31);
	assert_handshake(&s.msgs[2], 3, 4, 9);
	assert_pickle(&s.msgs[3], 4, 21);
	assert_pickle(&s.msgs[4], 4, 22);
	/* Handshakes whole (20 + 35 + 13) plus two 4-byte pickle headers. */
	ck_assert_uint_eq(s.framed_bytes, 76);
}
END_TEST

START_TEST(mp_handshake_message_is_consumed_whole_in_one_call)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 0, 3);
	ck_assert_int_eq(frame_next(f, captured_mp_client,
	    sizeof(captured_mp_client), &used, &m, &err), FRAME_MESSAGE);
	ck_assert_uint_eq(used, 20);
	assert_handshake(&m, 1, 4, 16);
}
END_TEST

START_TEST(mp_handshake_partial_payload_needs_more_and_is_consumed)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 0, 3);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x00\x10" "0123456789"),
	    &used, &m, &err), FRAME_NEED_MORE);
	ck_assert_uint_eq(used, 14);
	ck_assert_int_eq(frame_next(f, P("abcdef" "\x00\x00"), &used, &m,
	    &err), FRAME_MESSAGE);
	ck_assert_uint_eq(used, 6);
	assert_handshake(&m, 1, 4, 16);
}
END_TEST

START_TEST(mp_handshake_accepts_python_3_12_sha256_forms)
{
	struct stream s;

	use(FRAME_MP, 0, 3);
	s = run_stream(captured_mp_client_py312,
	    sizeof(captured_mp_client_py312), 7);
	ck_assert_int_eq(s.last, FRAME_NEED_MORE);
	ck_assert_uint_eq(s.n_msgs, 5);
	assert_handshake(&s.msgs[0], 1, 4, 40);
	assert_handshake(&s.msgs[1], 2, 4, 59);
	assert_handshake(&s.msgs[2], 3, 4, 9);
	assert_pickle(&s.msgs[3], 4, 21);
	assert_pickle(&s.msgs[4], 4, 22);
}
END_TEST

START_TEST(mp_handshake_accepts_the_failure_verdict)
{
	struct stream s;

	use(FRAME_MP, 0, 3);
	s = run_stream(P("\x00\x00\x00\x01" "d"
	    "\x00\x00\x00\x0b" "#CHALLENGE#"
	    "\x00\x00\x00\x09" "#FAILURE#"), 1);
	ck_assert_int_eq(s.last, FRAME_NEED_MORE);
	ck_assert_uint_eq(s.n_msgs, 3);
	assert_handshake(&s.msgs[2], 3, 4, 9);
}
END_TEST

START_TEST(mp_handshake_accepts_the_minus_one_header_form)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 0, 3);
	ck_assert_int_eq(frame_next(f, P("\xff\xff\xff\xff"
	    "\x00\x00\x00\x00\x00\x00\x00\x02" "dg"), &used, &m, &err),
	    FRAME_MESSAGE);
	ck_assert_uint_eq(used, 14);
	assert_handshake(&m, 1, 12, 2);
}
END_TEST

START_TEST(mp_handshake_message_of_256_bytes_is_accepted)
{
	uint8_t buf[4 + 256];
	uint8_t digest[256];
	struct frame_message m;
	struct pw_error err;
	size_t used;

	memset(digest, 'd', sizeof(digest));
	put_mp(buf, digest, sizeof(digest));
	use(FRAME_MP, 0, 3);
	ck_assert_int_eq(frame_next(f, buf, sizeof(buf), &used, &m, &err),
	    FRAME_MESSAGE);
	assert_handshake(&m, 1, 4, 256);
}
END_TEST

START_TEST(mp_handshake_message_over_256_bytes_is_bad_framing)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 0, 3);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x01\x01"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_int_eq(err.code, PW_BAD_FRAMING);
	ck_assert_str_eq(err.message, "mp framing: handshake message 1 is "
	    "257 bytes, more than the 256 the server reads");
}
END_TEST

START_TEST(mp_handshake_zero_length_message_is_bad_framing)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 0, 3);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x00\x00"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_int_eq(err.code, PW_BAD_FRAMING);
}
END_TEST

START_TEST(mp_handshake_challenge_without_its_prefix_is_bad_framing)
{
	struct stream s;

	use(FRAME_MP, 0, 3);
	s = run_stream(P("\x00\x00\x00\x01" "d"
	    "\x00\x00\x00\x0d" "#CHALLENGX#ab"), 1);
	ck_assert_int_eq(s.last, FRAME_INVALID);
	ck_assert_uint_eq(s.n_msgs, 1);
	ck_assert_int_eq(s.err.code, PW_BAD_FRAMING);
	ck_assert_str_eq(s.err.message, "mp framing: handshake message 2 "
	    "does not start with #CHALLENGE#");
	/* The 'X' is byte 9 of the payload, after the 4-byte header. */
	ck_assert_uint_eq(s.err.position, 13);
}
END_TEST

START_TEST(mp_handshake_challenge_shorter_than_its_prefix_is_bad_framing)
{
	struct stream s;

	use(FRAME_MP, 0, 3);
	s = run_stream(P("\x00\x00\x00\x01" "d" "\x00\x00\x00\x05" "#CHAL"),
	    64);
	ck_assert_int_eq(s.last, FRAME_INVALID);
	ck_assert_int_eq(s.err.code, PW_BAD_FRAMING);
	ck_assert_str_eq(s.err.message, "mp framing: handshake message 2 "
	    "is 5 bytes, too short for #CHALLENGE#");
}
END_TEST

START_TEST(mp_handshake_wrong_byte_fails_before_the_message_ends)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 0, 3);
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x00\x01" "d"), &used, &m,
	    &err), FRAME_MESSAGE);
	/* 200 bytes announced; the first payload byte already decides. */
	ck_assert_int_eq(frame_next(f, P("\x00\x00\x00\xc8" "?"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_uint_eq(used, 5);
	ck_assert_uint_eq(err.position, 4);
}
END_TEST

START_TEST(mp_handshake_verdict_other_than_welcome_or_failure_is_bad)
{
	struct stream s;

	use(FRAME_MP, 0, 3);
	s = run_stream(P("\x00\x00\x00\x01" "d"
	    "\x00\x00\x00\x0b" "#CHALLENGE#"
	    "\x00\x00\x00\x09" "#WELFARE#"), 4096);
	ck_assert_int_eq(s.last, FRAME_INVALID);
	ck_assert_uint_eq(s.n_msgs, 2);
	ck_assert_int_eq(s.err.code, PW_BAD_FRAMING);
	ck_assert_str_eq(s.err.message, "mp framing: handshake message 3 is "
	    "neither #WELCOME# nor #FAILURE#");
	/* "#WEL" fits #WELCOME#; 'F' fits neither. */
	ck_assert_uint_eq(s.err.position, 8);
}
END_TEST

START_TEST(mp_handshake_verdict_of_the_wrong_length_is_bad)
{
	struct stream s;

	use(FRAME_MP, 0, 3);
	s = run_stream(P("\x00\x00\x00\x01" "d"
	    "\x00\x00\x00\x0b" "#CHALLENGE#"
	    "\x00\x00\x00\x0a" "#WELCOME#\n"), 4096);
	ck_assert_int_eq(s.last, FRAME_INVALID);
	ck_assert_uint_eq(s.n_msgs, 2);
	ck_assert_str_eq(s.err.message, "mp framing: handshake message 3 is "
	    "10 bytes, not #WELCOME# or #FAILURE#");
}
END_TEST

START_TEST(mp_handshake_bound_is_256_even_under_a_larger_limit)
{
	struct frame_message m;
	struct pw_error err;
	size_t used;

	use(FRAME_MP, 1ULL << 30, 3);
	ck_assert_int_eq(frame_next(f, P("\x00\x10\x00\x00"), &used, &m,
	    &err), FRAME_INVALID);
	ck_assert_int_eq(err.code, PW_BAD_FRAMING);
}
END_TEST

START_TEST(mp_after_the_handshake_the_message_limit_applies)
{
	struct stream s;

	use(FRAME_MP, 8, 3);
	s = run_stream(P("\x00\x00\x00\x10" "0123456789abcdef"
	    "\x00\x00\x00\x0b" "#CHALLENGE#"
	    "\x00\x00\x00\x09" "#WELCOME#"
	    "\x00\x00\x00\x09"), 4096);
	ck_assert_int_eq(s.last, FRAME_INVALID);
	ck_assert_uint_eq(s.n_msgs, 3);
	ck_assert_int_eq(s.err.code, PW_LIMIT_MESSAGE_BYTES);
}
END_TEST

static Suite *
frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("frame");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, kind_parse_accepts_the_three_names);
	tcase_add_test(tc,
	    kind_parse_rejects_other_names_and_leaves_kind_alone);
	tcase_add_test(tc, kind_name_gives_the_configuration_names);
	tcase_add_test(tc, new_rejects_an_unknown_kind);
	tcase_add_test(tc, new_rejects_a_handshake_count_other_than_0_or_3);
	tcase_add_test(tc, free_of_null_is_a_no_op);
	tcase_add_test(tc, raw_reports_a_message_at_once_consuming_nothing);
	tcase_add_test(tc, raw_reports_a_message_on_empty_input);
	tcase_add_test(tc, len32_header_gives_the_payload_length);
	tcase_add_test(tc, len32_length_is_unsigned);
	tcase_add_test(tc, len32_partial_header_needs_more_and_is_consumed);
	tcase_add_test(tc, len32_empty_input_needs_more);
	tcase_add_test(tc, len32_reads_one_header_per_call);
	tcase_add_test(tc, len32_zero_length_is_bad_framing);
	tcase_add_test(tc, len32_length_over_limit_fails_on_the_header_alone);
	tcase_add_test(tc, len32_length_equal_to_limit_is_accepted);
	tcase_add_test(tc, len32_default_limit_is_64_mib);
	tcase_add_test(tc, invalid_stays_invalid_consuming_nothing);
	tcase_add_test(tc, len32_real_socket_handler_record_is_one_message);
	tcase_add_test(tc,
	    len32_real_record_byte_by_byte_gives_the_same_message);
	tcase_add_test(tc, mp_positive_length_gives_the_payload_length);
	tcase_add_test(tc, mp_minus_one_announces_an_8_byte_length);
	tcase_add_test(tc, mp_minus_one_with_a_small_length_is_accepted);
	tcase_add_test(tc, mp_8_byte_length_over_limit_is_limit_message_bytes);
	tcase_add_test(tc, mp_8_byte_zero_length_is_bad_framing);
	tcase_add_test(tc,
	    mp_negative_length_other_than_minus_one_is_bad_framing);
	tcase_add_test(tc, mp_length_with_only_the_sign_bit_is_bad_framing);
	tcase_add_test(tc, mp_zero_length_is_bad_framing);
	tcase_add_test(tc, mp_length_over_limit_fails_on_the_header_alone);
	tcase_add_test(tc, mp_without_handshake_takes_a_challenge_as_a_pickle);
	tcase_add_test(tc,
	    mp_handshake_real_client_stream_gives_3_handshakes_then_pickles);
	tcase_add_test(tc,
	    mp_handshake_real_client_stream_byte_by_byte_gives_the_same);
	tcase_add_test(tc, mp_handshake_message_is_consumed_whole_in_one_call);
	tcase_add_test(tc,
	    mp_handshake_partial_payload_needs_more_and_is_consumed);
	tcase_add_test(tc, mp_handshake_accepts_python_3_12_sha256_forms);
	tcase_add_test(tc, mp_handshake_accepts_the_failure_verdict);
	tcase_add_test(tc, mp_handshake_accepts_the_minus_one_header_form);
	tcase_add_test(tc, mp_handshake_message_of_256_bytes_is_accepted);
	tcase_add_test(tc, mp_handshake_message_over_256_bytes_is_bad_framing);
	tcase_add_test(tc, mp_handshake_zero_length_message_is_bad_framing);
	tcase_add_test(tc,
	    mp_handshake_challenge_without_its_prefix_is_bad_framing);
	tcase_add_test(tc,
	    mp_handshake_challenge_shorter_than_its_prefix_is_bad_framing);
	tcase_add_test(tc,
	    mp_handshake_wrong_byte_fails_before_the_message_ends);
	tcase_add_test(tc,
	    mp_handshake_verdict_other_than_welcome_or_failure_is_bad);
	tcase_add_test(tc, mp_handshake_verdict_of_the_wrong_length_is_bad);
	tcase_add_test(tc, mp_handshake_bound_is_256_even_under_a_larger_limit);
	tcase_add_test(tc, mp_after_the_handshake_the_message_limit_applies);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_SUITE(frame_suite)
