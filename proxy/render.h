#ifndef RENDER_H
#define RENDER_H

/*
 * render: one analyzed message as a JSON line or as a text report.
 *
 * The JSON field names are an interface (README.md, "JSON output"):
 *   {"file", "offset", "length", "sha256", "protocol", "kind", "verdict",
 *    "reasons": [{"code", "detail", "pos"}],
 *    "imports": [{"module", "name", "op", "pos"
 *                 [, "raw_module", "raw_name"] [, "ext_code"]}],
 *    "calls":   [{"op", "callable", ["why",] "pos"}]}
 * offset and length are stream offsets of the whole message, frame header
 * included; every pos is an offset in the pickle (the payload).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis.h"
#include "json.h"

/**
 * render_json(j, file, msg, bytes, len):
 * Write ${msg}, read from the input named ${file}, as one JSON object into
 * the empty writer ${j}.  ${bytes} holds the ${len} bytes of the whole
 * message (header included) for its SHA-256, or is NULL if they were not
 * kept ("sha256": null).  Returns 0, or -1 if the writer failed or the hash
 * could not be computed.
 */
int render_json(struct json *j, const char *file,
    const struct analysis_message *msg, const uint8_t *bytes, size_t len);

/**
 * render_message_fields(j, msg, bytes, len):
 * Write the members "length", "sha256", "protocol", "kind", "verdict",
 * "reasons", "imports", "calls", "rules" of ${msg}, in that order, into the
 * open object of ${j}; ${bytes}/${len} as for render_json().  The audit
 * log's message events use it, so they describe a message exactly as scan
 * does.  Returns 0, or -1 if the writer failed or the hash could not be
 * computed.
 */
int render_message_fields(struct json *j, const struct analysis_message *msg,
    const uint8_t *bytes, size_t len);

/* The bytes render_message_fields_hash_later() leaves for the hash: the
 * 64 digits and their quotes. */
#define RENDER_HASH_FIELD_BYTES 66

/**
 * render_message_fields_hash_later(j, msg, hash_at):
 * render_message_fields() with 64 zeros for the SHA-256, at offset
 * *${hash_at} of the text of ${j} (the opening quote): the caller writes
 * the hash there (RENDER_HASH_FIELD_BYTES, quotes included) when it has
 * it.  Returns 0, or -1 if the writer failed.
 */
int render_message_fields_hash_later(struct json *j,
    const struct analysis_message *msg, size_t *hash_at);

/* Room render_message_fields_text() needs, whatever the message. */
#define RENDER_FIELDS_TEXT_MAX 256

/**
 * render_message_fields_text(out, msg, hex, hash_at):
 * The members render_message_fields() writes, byte for byte, as text at
 * ${out} (RENDER_FIELDS_TEXT_MAX bytes of room, no NUL), for a message
 * without findings (no reasons, imports, calls or rules): an audit log
 * writes one such event per message, and assembling it from constants
 * costs a fraction of the writer's checks.  ${hex} is the SHA-256 (64
 * digits) or NULL (null); if ${hash_at} is not NULL, *${hash_at} is the
 * offset of its opening quote, as for render_message_fields_hash_later().
 * Returns the number of bytes written, or 0 if the message has findings
 * (render_message_fields() is then the way).
 */
size_t render_message_fields_text(char *out,
    const struct analysis_message *msg, const char *hex, size_t *hash_at);

/**
 * render_text(out, file, msg, bytes, len):
 * Write ${msg} to ${out} for a person: a header line with ${file}, offset,
 * length, protocol and the verdict, then one line per reason, import and
 * call, each followed by the opcodes around its position (two before, the
 * opcode itself marked '>', one after) disassembled from ${bytes} (the
 * ${len} bytes of the whole message, or NULL: no disassembly).  Returns 0,
 * or -1 on a write error.
 */
int render_text(FILE *out, const char *file,
    const struct analysis_message *msg, const uint8_t *bytes, size_t len);

#endif /* !RENDER_H */
