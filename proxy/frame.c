/*
 * frame: message boundaries in a client's byte stream.
 *
 * References (Python 3.11 stdlib, the senders whose bytes we split):
 *   len32  logging/handlers.py SocketHandler.makePickle:
 *          struct.pack(">L", len(s)) + s.
 *   mp     multiprocessing/connection.py Connection._send_bytes and
 *          _recv_bytes: struct "!i" length, or -1 then "!Q" length; and
 *          answer_challenge / deliver_challenge for the authkey handshake,
 *          every message of which the server reads with recv_bytes(256).
 *
 * The framer keeps a header accumulator and a position in the current
 * handshake message, never a copy of the input, so each byte is looked at
 * once however the stream is split across calls.  Every decision (a
 * message starts, a length is too big, a handshake byte is wrong) is taken
 * on the first byte that makes it certain, hence does not depend on the
 * split either.
 *
 * err->position is the offset of the offending byte from the first header
 * byte of the message being framed (0 for a bad length): the framer does
 * not see pickle payloads, so it cannot know the offset in the stream.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* Python's "!i" header, and the "!Q" that follows a -1. */
#define SHORT_HEADER_BYTES 4
#define LONG_HEADER_BYTES (4 + 8)

#define DEFAULT_MAX_MESSAGE_BYTES (64ULL << 20)

/* The server reads every handshake message with recv_bytes(256). */
#define MP_HANDSHAKE_MAX_BYTES 256
#define MP_HANDSHAKE_MESSAGES 3

static const char mp_challenge[] = "#CHALLENGE#";
static const char mp_welcome[] = "#WELCOME#";
static const char mp_failure[] = "#FAILURE#";
#define MP_CHALLENGE_BYTES (sizeof(mp_challenge) - 1)
#define MP_VERDICT_BYTES (sizeof(mp_welcome) - 1)

enum frame_state {
	STATE_HEADER,		/* reading a length */
	STATE_HANDSHAKE,	/* mp: consuming a handshake payload */
	STATE_FAILED,		/* stream rejected; ${failure} says why */
};

struct frame {
	enum frame_kind kind;
	uint64_t max_message_bytes;
	unsigned handshake_messages;	/* 0 or 3 */
	unsigned handshake_done;	/* handshake messages reported so far */

	enum frame_state state;
	uint64_t header_value;		/* big-endian accumulator */
	unsigned header_have;		/* header bytes of this message */

	/* The handshake message in progress (STATE_HANDSHAKE). */
	uint64_t payload_bytes;
	uint64_t payload_have;
	/* Message 3 so far is a prefix of #WELCOME#, of #FAILURE#. */
	bool maybe_welcome;
	bool maybe_failure;

	/* Kept so that every later call can report it again. */
	struct pw_error failure;
};

/* Make ${f} fail for good with ${code}, ${position} and ${what}. */
static enum frame_status
fail(struct frame *f, struct pw_error *err, enum pw_code code,
    uint64_t position, const char *what)
{
	pw_error_set(&f->failure, code, position, "%s framing: %s",
	    frame_kind_name(f->kind), what);
	f->state = STATE_FAILED;
	if (err != NULL)
		*err = f->failure;
	return FRAME_INVALID;
}

/* Ready ${f} for the header of the next message. */
static void
start_header(struct frame *f)
{
	f->state = STATE_HEADER;
	f->header_value = 0;
	f->header_have = 0;
}

/*
 * The header of a message of ${length} payload bytes is complete.  Return
 * FRAME_MESSAGE with *${msg} filled for a pickle, FRAME_NEED_MORE to go on
 * with a handshake payload, or FRAME_INVALID.
 */
static enum frame_status
header_done(struct frame *f, uint64_t length, struct frame_message *msg,
    struct pw_error *err)
{
	unsigned index = f->handshake_done + 1;
	char what[128];

	/* Neither pickle.loads(b'') nor a handshake accepts nothing. */
	if (length == 0)
		return fail(f, err, PW_BAD_FRAMING, 0, "zero-length message");

	if (f->handshake_done < f->handshake_messages) {
		if (length > MP_HANDSHAKE_MAX_BYTES) {
			snprintf(what, sizeof(what), "handshake message %u "
			    "is %llu bytes, more than the %d the server reads",
			    index, (unsigned long long)length,
			    MP_HANDSHAKE_MAX_BYTES);
			return fail(f, err, PW_BAD_FRAMING, 0, what);
		}
		if (index == 2 && length < MP_CHALLENGE_BYTES) {
			snprintf(what, sizeof(what), "handshake message 2 "
			    "is %llu bytes, too short for #CHALLENGE#",
			    (unsigned long long)length);
			return fail(f, err, PW_BAD_FRAMING, 0, what);
		}
		if (index == 3 && length != MP_VERDICT_BYTES) {
			snprintf(what, sizeof(what), "handshake message 3 "
			    "is %llu bytes, not #WELCOME# or #FAILURE#",
			    (unsigned long long)length);
			return fail(f, err, PW_BAD_FRAMING, 0, what);
		}
		f->state = STATE_HANDSHAKE;
		f->payload_bytes = length;
		f->payload_have = 0;
		f->maybe_welcome = true;
		f->maybe_failure = true;
		return FRAME_NEED_MORE;
	}

	if (length > f->max_message_bytes) {
		snprintf(what, sizeof(what), "message of %llu bytes exceeds "
		    "max_message_bytes %llu", (unsigned long long)length,
		    (unsigned long long)f->max_message_bytes);
		return fail(f, err, PW_LIMIT_MESSAGE_BYTES, 0, what);
	}
	msg->header_bytes = f->header_have;
	msg->payload_bytes = length;
	msg->is_pickle = true;
	msg->handshake_index = 0;
	start_header(f);
	return FRAME_MESSAGE;
}

/*
 * Take header byte ${c}.  Return FRAME_NEED_MORE while the header (or, for
 * a handshake message, its payload) goes on, else as header_done().
 */
static enum frame_status
header_byte(struct frame *f, uint8_t c, struct frame_message *msg,
    struct pw_error *err)
{
	f->header_value = (f->header_value << 8) | c;
	f->header_have++;
	if (f->header_have == LONG_HEADER_BYTES)
		return header_done(f, f->header_value, msg, err);
	if (f->header_have != SHORT_HEADER_BYTES)
		return FRAME_NEED_MORE;
	if (f->kind == FRAME_LEN32)
		return header_done(f, f->header_value, msg, err);

	/* mp reads "!i": the top bit is a sign, and -1 announces "!Q". */
	if (f->header_value == 0xffffffffU) {
		f->header_value = 0;
		return FRAME_NEED_MORE;
	}
	if (f->header_value > 0x7fffffffU)
		return fail(f, err, PW_BAD_FRAMING, 0,
		    "negative length other than -1");
	return header_done(f, f->header_value, msg, err);
}

/*
 * Take byte ${c} of the handshake payload in progress.  Return
 * FRAME_MESSAGE with *${msg} filled if it was the last, FRAME_NEED_MORE if
 * not, or FRAME_INVALID if the message cannot be what it must be.
 */
static enum frame_status
handshake_byte(struct frame *f, uint8_t c, struct frame_message *msg,
    struct pw_error *err)
{
	unsigned index = f->handshake_done + 1;
	uint64_t at = f->payload_have;

	/* Message 1, the digest, is opaque: only its length is checked. */
	if (index == 2 && at < MP_CHALLENGE_BYTES &&
	    c != (uint8_t)mp_challenge[at])
		return fail(f, err, PW_BAD_FRAMING, f->header_have + at,
		    "handshake message 2 does not start with #CHALLENGE#");
	if (index == 3) {
		/* header_done() made the length exactly MP_VERDICT_BYTES. */
		if (c != (uint8_t)mp_welcome[at])
			f->maybe_welcome = false;
		if (c != (uint8_t)mp_failure[at])
			f->maybe_failure = false;
		if (!f->maybe_welcome && !f->maybe_failure)
			return fail(f, err, PW_BAD_FRAMING,
			    f->header_have + at, "handshake message 3 is "
			    "neither #WELCOME# nor #FAILURE#");
	}
	if (++f->payload_have < f->payload_bytes)
		return FRAME_NEED_MORE;

	msg->header_bytes = f->header_have;
	msg->payload_bytes = f->payload_bytes;
	msg->is_pickle = false;
	msg->handshake_index = ++f->handshake_done;
	start_header(f);
	return FRAME_MESSAGE;
}

/**
 * frame_new(config):
 * Create a framer for ${config}.  Returns NULL on allocation failure or an
 * unknown kind.
 */
struct frame *
frame_new(const struct frame_config *config)
{
	struct frame *f;

	if (config == NULL)
		return NULL;
	switch (config->kind) {
	case FRAME_RAW:
	case FRAME_LEN32:
	case FRAME_MP:
		break;
	default:
		return NULL;
	}
	/* The authkey exchange is three messages or none: never part of it. */
	if (config->mp_handshake_messages != 0 &&
	    config->mp_handshake_messages != MP_HANDSHAKE_MESSAGES)
		return NULL;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->kind = config->kind;
	f->max_message_bytes = config->max_message_bytes;
	if (f->max_message_bytes == 0)
		f->max_message_bytes = DEFAULT_MAX_MESSAGE_BYTES;
	/*
	 * A payload of UINT64_MAX bytes would read as FRAME_PAYLOAD_UNTIL_STOP;
	 * no such message could be held anyway.
	 */
	if (f->max_message_bytes == FRAME_PAYLOAD_UNTIL_STOP)
		f->max_message_bytes = FRAME_PAYLOAD_UNTIL_STOP - 1;
	if (f->kind == FRAME_MP)
		f->handshake_messages = config->mp_handshake_messages;
	start_header(f);
	return f;
}

/**
 * frame_free(f):
 * Release ${f}; NULL is a no-op.
 */
void
frame_free(struct frame *f)
{
	free(f);
}

/**
 * frame_kind_parse(name, kind):
 * Set *${kind} from "raw", "len32" or "mp"; return 0, or -1 if unknown.
 */
int
frame_kind_parse(const char *name, enum frame_kind *kind)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "raw") == 0)
		*kind = FRAME_RAW;
	else if (strcmp(name, "len32") == 0)
		*kind = FRAME_LEN32;
	else if (strcmp(name, "mp") == 0)
		*kind = FRAME_MP;
	else
		return -1;
	return 0;
}

/**
 * frame_kind_name(kind):
 * The name of ${kind} ("raw", "len32", "mp").
 */
const char *
frame_kind_name(enum frame_kind kind)
{
	switch (kind) {
	case FRAME_RAW:
		return "raw";
	case FRAME_LEN32:
		return "len32";
	case FRAME_MP:
		return "mp";
	}
	/* A value outside the enum is a caller's bug; still print something. */
	return "unknown";
}

/**
 * frame_next(f, buf, len, consumed, msg, err):
 * Parse the next message header from ${buf}.  Sets *${consumed} to the
 * bytes used.  On FRAME_MESSAGE fills *${msg}; for a pickle the caller then
 * consumes msg->payload_bytes of payload before calling frame_next again.
 * Handshake messages are consumed whole by the framer (payload_bytes tells
 * their size, header excluded) and need no further action.  On
 * FRAME_INVALID fills *${err} (code PW_BAD_FRAMING or
 * PW_LIMIT_MESSAGE_BYTES) and the stream cannot continue.
 */
enum frame_status
frame_next(struct frame *f, const uint8_t *buf, size_t len,
    size_t *consumed, struct frame_message *msg, struct pw_error *err)
{
	enum frame_status status = FRAME_NEED_MORE;
	size_t i = 0;

	*consumed = 0;
	if (f->state == STATE_FAILED) {
		if (err != NULL)
			*err = f->failure;
		return FRAME_INVALID;
	}

	/* The pickle analyzer finds the end of a raw message at its STOP. */
	if (f->kind == FRAME_RAW) {
		msg->header_bytes = 0;
		msg->payload_bytes = FRAME_PAYLOAD_UNTIL_STOP;
		msg->is_pickle = true;
		msg->handshake_index = 0;
		return FRAME_MESSAGE;
	}

	/*
	 * The byte that decides counts as consumed, also on FRAME_INVALID, so
	 * the bytes consumed up to any decision do not depend on the split.
	 */
	while (i < len && status == FRAME_NEED_MORE) {
		if (f->state == STATE_HANDSHAKE)
			status = handshake_byte(f, buf[i++], msg, err);
		else
			status = header_byte(f, buf[i++], msg, err);
	}
	*consumed = i;
	return status;
}
