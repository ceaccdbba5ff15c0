/*
 * libFuzzer harness for the mp framer (multiprocessing.connection), with
 * and without the authkey handshake.  Beyond "no crash, no undefined
 * behaviour", it checks the framer's contract on every input:
 *   - consumed <= len, and all of it on FRAME_NEED_MORE;
 *   - headers are 4 or 12 bytes; a pickle announces 1..max_message_bytes,
 *     a handshake message 1..256 bytes and is consumed whole with its
 *     header; handshake messages come first, numbered 1, 2, 3;
 *   - after FRAME_INVALID the framer stays invalid and consumes nothing;
 *   - the input fed whole, one byte at a time, and in chunks drawn from the
 *     input itself (empty calls included) gives the same messages, the
 *     same outcome and the same error;
 *   - all of that equals what a plain whole-buffer reading of the format
 *     (reference() below) finds.
 */

#include <stdlib.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HANDSHAKE_MAX_BYTES 256

struct config {
	uint64_t max_message_bytes;	/* 0: the 64 MiB default */
	unsigned handshake_messages;
};

/* What framing a whole stream gave. */
struct outcome {
	struct frame_message *msgs;
	size_t n_msgs;
	enum frame_status last;		/* FRAME_INVALID or FRAME_NEED_MORE */
	enum pw_code code;
	uint64_t position;
	char message[PW_ERROR_MESSAGE_MAX];
	size_t framed_bytes;
};

static void
check(int ok)
{
	if (!ok)
		abort();
}

static uint64_t
limit_of(const struct config *c)
{
	return c->max_message_bytes ? c->max_message_bytes : 64ULL << 20;
}

/*
 * Frame ${data} with a new framer for ${c}, as a caller would: skip each
 * pickle's payload, hand frame_next pieces whose sizes come from
 * ${schedule} (cycled; a 0 is an empty call, then one byte), or the
 * whole rest if ${schedule_len} is 0.  The framer is freed before
 * returning.
 */
static void
run(const uint8_t *data, size_t size, const struct config *c,
    const uint8_t *schedule, size_t schedule_len, struct outcome *o)
{
	struct frame_config config = { .kind = FRAME_MP,
	    .max_message_bytes = c->max_message_bytes,
	    .mp_handshake_messages = c->handshake_messages };
	struct frame *f;
	struct frame_message m;
	struct pw_error err, again;
	uint64_t payload_left = 0, since_message = 0;
	size_t off = 0, n, used, want, step = 0;
	enum frame_status st;

	if ((f = frame_new(&config)) == NULL)
		abort();
	/* An empty call before any input changes nothing. */
	check(frame_next(f, NULL, 0, &used, &m, &err) == FRAME_NEED_MORE &&
	    used == 0);
	memset(&err, 0, sizeof(err));
	o->n_msgs = 0;
	o->last = FRAME_NEED_MORE;
	o->framed_bytes = 0;
	while (off < size) {
		if (payload_left > 0) {
			n = size - off < payload_left ? size - off :
			    (size_t)payload_left;
			off += n;
			payload_left -= n;
			continue;
		}
		n = size - off;
		if (schedule_len > 0) {
			want = schedule[step++ % schedule_len] % 9;
			/* An empty call changes nothing; then take a byte. */
			if (want == 0) {
				check(frame_next(f, NULL, 0, &used, &m, &err) ==
				    FRAME_NEED_MORE && used == 0);
				want = 1;
			}
			if (want < n)
				n = want;
		}
		st = frame_next(f, data + off, n, &used, &m, &err);
		check(used <= n);
		off += used;
		o->framed_bytes += used;
		since_message += used;
		if (st == FRAME_INVALID) {
			o->last = FRAME_INVALID;
			break;
		}
		if (st == FRAME_NEED_MORE) {
			check(used == n);
			continue;
		}
		check(st == FRAME_MESSAGE);
		check(m.header_bytes == 4 || m.header_bytes == 12);
		check(m.payload_bytes >= 1);
		if (o->n_msgs < c->handshake_messages) {
			check(!m.is_pickle);
			check(m.handshake_index == o->n_msgs + 1);
			check(m.payload_bytes <= HANDSHAKE_MAX_BYTES);
			check(since_message == m.header_bytes +
			    m.payload_bytes);
		} else {
			check(m.is_pickle && m.handshake_index == 0);
			check(m.payload_bytes <= limit_of(c));
			check(since_message == m.header_bytes);
			payload_left = m.payload_bytes;
		}
		o->msgs[o->n_msgs++] = m;
		since_message = 0;
	}
	if (o->last == FRAME_INVALID) {
		check(err.code == PW_BAD_FRAMING ||
		    err.code == PW_LIMIT_MESSAGE_BYTES);
		check(err.message[0] != '\0');
		o->code = err.code;
		o->position = err.position;
		memcpy(o->message, err.message, sizeof(o->message));
		/* Stays invalid, consuming nothing, even on an empty call. */
		check(frame_next(f, data, size, &used, &m, &again) ==
		    FRAME_INVALID && used == 0 && again.code == err.code);
		check(frame_next(f, NULL, 0, &used, &m, &again) ==
		    FRAME_INVALID && used == 0);
	}
	frame_free(f);
}

static uint64_t
be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/* Whether the ${n} bytes at ${p} can begin the handshake message ${index}. */
static int
handshake_prefix_ok(unsigned index, const uint8_t *p, size_t n)
{
	if (index == 2)
		return memcmp(p, "#CHALLENGE#", n < 11 ? n : 11) == 0;
	if (index == 3)
		return memcmp(p, "#WELCOME#", n) == 0 ||
		    memcmp(p, "#FAILURE#", n) == 0;
	return 1;
}

/* The mp format read straight from a whole buffer. */
static void
reference(const uint8_t *data, size_t size, const struct config *c,
    struct outcome *o)
{
	size_t off = 0, header, avail;
	uint64_t length;
	unsigned index;

	o->n_msgs = 0;
	o->last = FRAME_NEED_MORE;
	o->code = PW_BAD_FRAMING;
	while (size - off >= 4) {
		header = 4;
		length = be(data + off, 4);
		if (length == 0xffffffffU) {
			if (size - off < 12)
				return;
			header = 12;
			length = be(data + off + 4, 8);
		} else if (length > 0x7fffffffU) {
			o->last = FRAME_INVALID;
			return;
		}
		if (length == 0) {
			o->last = FRAME_INVALID;
			return;
		}
		off += header;
		avail = size - off;
		index = (unsigned)o->n_msgs + 1;
		if (index <= c->handshake_messages) {
			if (length > HANDSHAKE_MAX_BYTES ||
			    (index == 2 && length < 11) ||
			    (index == 3 && length != 9)) {
				o->last = FRAME_INVALID;
				return;
			}
			if (!handshake_prefix_ok(index, data + off,
			    avail < length ? avail : (size_t)length)) {
				o->last = FRAME_INVALID;
				return;
			}
			if (avail < length)
				return;
		} else if (length > limit_of(c)) {
			o->last = FRAME_INVALID;
			o->code = PW_LIMIT_MESSAGE_BYTES;
			return;
		}
		o->msgs[o->n_msgs].header_bytes = header;
		o->msgs[o->n_msgs++].payload_bytes = length;
		if (avail < length)
			return;
		off += (size_t)length;
	}
}

static int
same(const struct outcome *a, const struct outcome *b, int reference_b)
{
	size_t i;

	if (a->n_msgs != b->n_msgs || a->last != b->last)
		return 0;
	for (i = 0; i < a->n_msgs; i++) {
		if (a->msgs[i].header_bytes != b->msgs[i].header_bytes ||
		    a->msgs[i].payload_bytes != b->msgs[i].payload_bytes)
			return 0;
		if (!reference_b && memcmp(&a->msgs[i], &b->msgs[i],
		    sizeof(a->msgs[i])) != 0)
			return 0;
	}
	if (a->last == FRAME_INVALID && a->code != b->code)
		return 0;
	if (!reference_b && a->last == FRAME_INVALID &&
	    (a->position != b->position ||
	    strcmp(a->message, b->message) != 0))
		return 0;
	return reference_b || a->framed_bytes == b->framed_bytes;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* With the handshake and without; the default limit and a small one. */
	static const struct config configs[] = {
		{ 0, 3 }, { 0, 0 }, { 40, 3 }, { 300, 0 },
	};
	static const uint8_t one = 1;
	struct outcome whole, bytewise, chunked, ref;
	size_t i, cap = size / 4 + 1;

	memset(&whole, 0, sizeof(whole));
	memset(&bytewise, 0, sizeof(bytewise));
	memset(&chunked, 0, sizeof(chunked));
	memset(&ref, 0, sizeof(ref));
	whole.msgs = calloc(cap, sizeof(*whole.msgs));
	bytewise.msgs = calloc(cap, sizeof(*bytewise.msgs));
	chunked.msgs = calloc(cap, sizeof(*chunked.msgs));
	ref.msgs = calloc(cap, sizeof(*ref.msgs));
	if (!whole.msgs || !bytewise.msgs || !chunked.msgs || !ref.msgs)
		abort();
	for (i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		run(data, size, &configs[i], NULL, 0, &whole);
		run(data, size, &configs[i], &one, 1, &bytewise);
		run(data, size, &configs[i], data, size, &chunked);
		reference(data, size, &configs[i], &ref);
		check(same(&whole, &bytewise, 0));
		check(same(&whole, &chunked, 0));
		check(same(&whole, &ref, 1));
	}
	free(whole.msgs);
	free(bytewise.msgs);
	free(chunked.msgs);
	free(ref.msgs);
	return 0;
}
