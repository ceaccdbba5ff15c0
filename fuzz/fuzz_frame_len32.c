/*
 * libFuzzer harness for the len32 framer (logging.handlers.SocketHandler).
 * Beyond "no crash, no undefined behaviour", it checks the framer's
 * contract on every input:
 *   - consumed <= len, and all of it on FRAME_NEED_MORE;
 *   - every header is 4 bytes and announces 1..max_message_bytes;
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

/*
 * Frame ${data} with a new framer for ${max}, as a caller would: skip each
 * pickle's payload, hand frame_next pieces whose sizes come from
 * ${schedule} (cycled; a 0 is an empty call, then one byte), or the
 * whole rest if ${schedule_len} is 0.  The framer is freed before
 * returning.
 */
static void
run(const uint8_t *data, size_t size, uint64_t max, const uint8_t *schedule,
    size_t schedule_len, struct outcome *o)
{
	struct frame_config config = { .kind = FRAME_LEN32,
	    .max_message_bytes = max };
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
		check(m.is_pickle && m.handshake_index == 0);
		check(m.header_bytes == 4 && since_message == 4);
		check(m.payload_bytes >= 1);
		check(m.payload_bytes <= (max ? max : 64ULL << 20));
		o->msgs[o->n_msgs++] = m;
		payload_left = m.payload_bytes;
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

/* The len32 format read straight from a whole buffer. */
static void
reference(const uint8_t *data, size_t size, uint64_t max, struct outcome *o)
{
	size_t off = 0;
	uint64_t length;

	o->n_msgs = 0;
	o->last = FRAME_NEED_MORE;
	while (size - off >= 4) {
		length = (uint64_t)data[off] << 24 | (uint64_t)data[off + 1] << 16 |
		    (uint64_t)data[off + 2] << 8 | data[off + 3];
		if (length == 0 || length > (max ? max : 64ULL << 20)) {
			o->last = FRAME_INVALID;
			o->code = length == 0 ? PW_BAD_FRAMING :
			    PW_LIMIT_MESSAGE_BYTES;
			return;
		}
		o->msgs[o->n_msgs].header_bytes = 4;
		o->msgs[o->n_msgs++].payload_bytes = length;
		off += 4;
		if (size - off < length)
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
	/* The default limit, and one small enough to be hit often. */
	static const uint64_t limits[] = { 0, 300 };
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
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		run(data, size, limits[i], NULL, 0, &whole);
		run(data, size, limits[i], &one, 1, &bytewise);
		run(data, size, limits[i], data, size, &chunked);
		reference(data, size, limits[i], &ref);
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
