#ifndef FRAME_H
#define FRAME_H

/*
 * frame: message boundaries in a client's byte stream.
 *
 * A framer is a resumable parser of message *headers*.  The caller feeds it
 * stream bytes; once a header is complete it says how many bytes of payload
 * follow (or, for raw framing, that the pickle analyzer finds the end), and
 * the caller consumes that payload itself before asking for the next header.
 * It never reads a socket and never allocates after frame_new().
 *
 *   raw    consecutive pickles, as pickle.load(sock.makefile('rb')) reads
 *          them: no header, the end of each message is its STOP opcode.
 *   len32  4-byte big-endian unsigned length + pickle
 *          (logging.handlers.SocketHandler).
 *   mp     multiprocessing.connection: signed 4-byte big-endian length, or
 *          -1 followed by an 8-byte big-endian length.  With an authkey the
 *          client first sends three handshake messages that are not
 *          pickles (its digest, its own #CHALLENGE#, then #WELCOME# or
 *          #FAILURE#); the framer reads and checks those itself.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"

/* Room for the largest frame header (mp: -1 marker and 8-byte length)
 * on top of the payload bound, for whoever holds a whole message. */
#define FRAME_HEADER_MAX_BYTES 16

enum frame_kind {
	FRAME_RAW,
	FRAME_LEN32,
	FRAME_MP,
};

struct frame_config {
	enum frame_kind kind;
	uint64_t max_message_bytes;	/* payload bound; 0: 64 MiB */
	unsigned mp_handshake_messages;	/* mp only: 3 with an authkey, or 0 */
};

#define FRAME_PAYLOAD_UNTIL_STOP UINT64_MAX

struct frame_message {
	uint64_t header_bytes;	/* bytes of header just consumed */
	uint64_t payload_bytes;	/* FRAME_PAYLOAD_UNTIL_STOP for raw */
	bool is_pickle;		/* false: an mp handshake message */
	unsigned handshake_index; /* 1..3 for handshake messages */
};

enum frame_status {
	FRAME_NEED_MORE,	/* all input consumed, header incomplete */
	FRAME_MESSAGE,		/* *msg filled: a message starts */
	FRAME_INVALID,		/* the stream violates the framing; *err set */
};

struct frame;

/**
 * frame_new(config):
 * Create a framer for ${config}.  Returns NULL on allocation failure or an
 * unknown kind.
 */
struct frame *frame_new(const struct frame_config *config);

/**
 * frame_free(f):
 * Release ${f}; NULL is a no-op.
 */
void frame_free(struct frame *f);

/**
 * frame_kind_parse(name, kind):
 * Set *${kind} from "raw", "len32" or "mp"; return 0, or -1 if unknown.
 */
int frame_kind_parse(const char *name, enum frame_kind *kind);

/**
 * frame_kind_name(kind):
 * The name of ${kind} ("raw", "len32", "mp").
 */
const char *frame_kind_name(enum frame_kind kind);

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
enum frame_status frame_next(struct frame *f, const uint8_t *buf, size_t len,
    size_t *consumed, struct frame_message *msg, struct pw_error *err);

#endif /* !FRAME_H */
