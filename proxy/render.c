#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "render.h"
#include "sha256.h"

/* Argument bytes shown per opcode in the text report; the rest is
 * summarized by its length. */
#define TEXT_ARG_BYTES_MAX 32

/* Bytes shown where no opcode starts (trailing bytes, a bad opcode). */
#define TEXT_RAW_BYTES_MAX 16

static const char *
op_name(uint8_t op)
{
	const struct pvm_opinfo *info = pvm_opinfo(op);

	return info != NULL ? info->name : "?";
}

/* EXT1, EXT2 and EXT4 name their target by a registry code. */
static bool
op_is_ext(uint8_t op)
{
	return strncmp(op_name(op), "EXT", 3) == 0;
}

/* ---- JSON -------------------------------------------------------------- */

static int
json_pvm_str_quoted(struct json *j, const char *key, size_t key_len,
    struct pvm_str s)
{
	if (json_key_quoted(j, key, key_len) < 0)
		return -1;
	return s.ptr != NULL ? json_string(j, s.ptr, s.len) : json_null(j);
}

#define json_pvm_str(j, key, s) \
	json_pvm_str_quoted((j), "\"" key "\":", sizeof(key) + 2, (s))

static int
json_reasons(struct json *j, const struct analysis_message *msg)
{
	size_t i;

	if (JSON_KEY(j, "reasons") < 0 || json_array_begin(j) < 0)
		return -1;
	for (i = 0; i < msg->n_reasons; i++) {
		const struct pvm_reason *r = &msg->reasons[i];

		if (json_object_begin(j) < 0 ||
		    JSON_KEY(j, "code") < 0 ||
		    json_cstring(j, pw_code_name(r->code)) < 0 ||
		    JSON_KEY(j, "detail") < 0 ||
		    json_cstring(j, r->detail) < 0 ||
		    JSON_KEY(j, "pos") < 0 || json_uint(j, r->pos) < 0 ||
		    json_object_end(j) < 0)
			return -1;
	}
	return json_array_end(j);
}

static int
json_imports(struct json *j, const struct analysis_message *msg)
{
	size_t i;

	if (JSON_KEY(j, "imports") < 0 || json_array_begin(j) < 0)
		return -1;
	for (i = 0; i < msg->n_imports; i++) {
		const struct pvm_import *imp = &msg->imports[i];

		if (json_object_begin(j) < 0 ||
		    json_pvm_str(j, "module", imp->module) < 0 ||
		    json_pvm_str(j, "name", imp->name) < 0 ||
		    JSON_KEY(j, "op") < 0 || json_cstring(j, op_name(imp->op)) < 0 ||
		    JSON_KEY(j, "pos") < 0 || json_uint(j, imp->pos) < 0)
			return -1;
		if (imp->remapped &&
		    (json_pvm_str(j, "raw_module", imp->raw_module) < 0 ||
		    json_pvm_str(j, "raw_name", imp->raw_name) < 0))
			return -1;
		if (op_is_ext(imp->op) &&
		    (JSON_KEY(j, "ext_code") < 0 ||
		    json_int(j, imp->ext_code) < 0))
			return -1;
		if (json_object_end(j) < 0)
			return -1;
	}
	return json_array_end(j);
}

static const char *
verdict_name(enum analysis_verdict v)
{
	return v == ANALYSIS_ALLOW ? "allow" : v == ANALYSIS_WOULD_DENY ?
	    "would_deny" : "deny";
}

static const char *
action_name(enum policy_action a)
{
	return a == POLICY_ACTION_ALLOW ? "allow" :
	    a == POLICY_ACTION_DENY ? "deny" : "alert";
}

/* Every rule that decided something, so a reviewer can see why. */
static int
json_rules(struct json *j, const struct analysis_message *msg)
{
	size_t i, k;

	if (JSON_KEY(j, "rules") < 0 || json_array_begin(j) < 0)
		return -1;
	for (i = 0; i < msg->n_hits; i++) {
		const struct policy_rule_info *r = msg->hits[i].rule;

		if (json_object_begin(j) < 0 ||
		    JSON_KEY(j, "id") < 0 || json_uint(j, r->id) < 0 ||
		    JSON_KEY(j, "rev") < 0 || json_uint(j, r->rev) < 0 ||
		    JSON_KEY(j, "msg") < 0 || json_cstring(j, r->msg) < 0 ||
		    JSON_KEY(j, "severity") < 0 ||
		    json_cstring(j, r->severity) < 0 ||
		    JSON_KEY(j, "tags") < 0 || json_array_begin(j) < 0)
			return -1;
		for (k = 0; k < r->n_tags; k++)
			if (json_cstring(j, r->tags[k]) < 0)
				return -1;
		if (json_array_end(j) < 0 ||
		    JSON_KEY(j, "action") < 0 ||
		    json_cstring(j, action_name(r->action)) < 0 ||
		    json_pvm_str(j, "matched", msg->hits[i].matched) < 0 ||
		    json_object_end(j) < 0)
			return -1;
	}
	return json_array_end(j);
}

static int
json_calls(struct json *j, const struct analysis_message *msg)
{
	size_t i;

	if (JSON_KEY(j, "calls") < 0 || json_array_begin(j) < 0)
		return -1;
	for (i = 0; i < msg->n_calls; i++) {
		const struct pvm_call *c = &msg->calls[i];

		if (json_object_begin(j) < 0 ||
		    JSON_KEY(j, "op") < 0 || json_cstring(j, op_name(c->op)) < 0 ||
		    json_pvm_str(j, "callable", c->callable) < 0)
			return -1;
		if (c->callable.ptr == NULL &&
		    (JSON_KEY(j, "why") < 0 || json_cstring(j,
		    c->why != NULL ? c->why : "no reason given") < 0))
			return -1;
		if (c->args.ptr != NULL &&
		    json_pvm_str(j, "args", c->args) < 0)
			return -1;
		if (c->pid.ptr != NULL && json_pvm_str(j, "pid", c->pid) < 0)
			return -1;
		if (JSON_KEY(j, "pos") < 0 || json_uint(j, c->pos) < 0 ||
		    json_object_end(j) < 0)
			return -1;
	}
	return json_array_end(j);
}

/**
 * render_json(j, file, msg, bytes, len):
 * Write ${msg}, read from the input named ${file}, as one JSON object into
 * the empty writer ${j}.  ${bytes} holds the ${len} bytes of the whole
 * message (header included) for its SHA-256, or is NULL if they were not
 * kept ("sha256": null).  Returns 0, or -1 if the writer failed or the hash
 * could not be computed.
 */
int
render_json(struct json *j, const char *file,
    const struct analysis_message *msg, const uint8_t *bytes, size_t len)
{
	if (json_object_begin(j) < 0 ||
	    JSON_KEY(j, "file") < 0 || json_cstring(j, file) < 0 ||
	    JSON_KEY(j, "offset") < 0 || json_uint(j, msg->offset) < 0 ||
	    render_message_fields(j, msg, bytes, len) < 0)
		return -1;
	return json_object_end(j);
}

/* The members of render_message_fields(), with ${hex} as the SHA-256
 * (NULL: null), whose offset in the text goes to *${hash_at} if that is
 * not NULL. */
static int
message_fields(struct json *j, const struct analysis_message *msg,
    const char *hex, size_t *hash_at)
{
	if (JSON_KEY(j, "length") < 0 || json_uint(j, msg->length) < 0 ||
	    JSON_KEY(j, "sha256") < 0)
		return -1;
	if (hash_at != NULL)
		*hash_at = json_length(j);
	if (hex != NULL) {
		if (json_string(j, hex, SHA256_HEX_SIZE - 1) < 0)
			return -1;
	} else if (json_null(j) < 0) {
		return -1;
	}
	if (JSON_KEY(j, "protocol") < 0 || json_int(j, msg->protocol) < 0 ||
	    JSON_KEY(j, "kind") < 0 ||
	    json_cstring(j, msg->is_pickle ? "pickle" : "handshake") < 0 ||
	    JSON_KEY(j, "verdict") < 0 ||
	    json_cstring(j, verdict_name(msg->verdict)) < 0 ||
	    json_reasons(j, msg) < 0 || json_imports(j, msg) < 0 ||
	    json_calls(j, msg) < 0 || json_rules(j, msg) < 0)
		return -1;
	return 0;
}

/**
 * render_message_fields(j, msg, bytes, len):
 * Write the members "length", "sha256", "protocol", "kind", "verdict",
 * "reasons", "imports", "calls", "rules" of ${msg}, in that order, into the
 * open object of ${j}; ${bytes}/${len} as for render_json().  Returns 0, or
 * -1 if the writer failed or the hash could not be computed.
 */
int
render_message_fields(struct json *j, const struct analysis_message *msg,
    const uint8_t *bytes, size_t len)
{
	char hex[SHA256_HEX_SIZE];

	if (bytes != NULL && sha256_hex(bytes, len, hex) < 0)
		return -1;
	return message_fields(j, msg, bytes != NULL ? hex : NULL, NULL);
}

/**
 * render_message_fields_hash_later(j, msg, hash_at):
 * render_message_fields() with 64 zeros for the SHA-256, at offset
 * *${hash_at} of the text of ${j} (the opening quote): the caller writes
 * the hash there (RENDER_HASH_FIELD_BYTES, quotes included) when it has
 * it.  Returns 0, or -1 if the writer failed.
 */
int
render_message_fields_hash_later(struct json *j,
    const struct analysis_message *msg, size_t *hash_at)
{
	char zeros[SHA256_HEX_SIZE];

	memset(zeros, '0', SHA256_HEX_SIZE - 1);
	zeros[SHA256_HEX_SIZE - 1] = '\0';
	return message_fields(j, msg, zeros, hash_at);
}

/* Append the string literal ${lit} at ${p}, moving ${p} past it. */
#define PUT_LITERAL(p, lit) \
	(memcpy((p), (lit), sizeof(lit) - 1), (p) += sizeof(lit) - 1)

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
size_t
render_message_fields_text(char *out, const struct analysis_message *msg,
    const char *hex, size_t *hash_at)
{
	const char *verdict = verdict_name(msg->verdict);
	size_t verdict_len = strlen(verdict);
	char *p = out;

	if (msg->n_reasons != 0 || msg->n_imports != 0 || msg->n_calls != 0 ||
	    msg->n_hits != 0)
		return 0;
	/* At most 9 + 20 + 10 + 66 + 12 + 20 + 19 + 12 + 10 + 49 = 227
	 * bytes: within RENDER_FIELDS_TEXT_MAX. */
	PUT_LITERAL(p, "\"length\":");
	p += json_format_uint(p, msg->length);
	PUT_LITERAL(p, ",\"sha256\":");
	if (hash_at != NULL)
		*hash_at = (size_t)(p - out);
	if (hex != NULL) {
		/* Hex digits need no escape. */
		*p++ = '"';
		memcpy(p, hex, SHA256_HEX_SIZE - 1);
		p += SHA256_HEX_SIZE - 1;
		*p++ = '"';
	} else {
		PUT_LITERAL(p, "null");
	}
	PUT_LITERAL(p, ",\"protocol\":");
	p += json_format_int(p, msg->protocol);
	if (msg->is_pickle)
		PUT_LITERAL(p, ",\"kind\":\"pickle\"");
	else
		PUT_LITERAL(p, ",\"kind\":\"handshake\"");
	PUT_LITERAL(p, ",\"verdict\":\"");
	memcpy(p, verdict, verdict_len);
	p += verdict_len;
	PUT_LITERAL(p, "\",\"reasons\":[],\"imports\":[],\"calls\":[],"
	    "\"rules\":[]");
	return (size_t)(p - out);
}

/* ---- text ---------------------------------------------------------------- */

/* Bytes as a person can read them in any terminal: printable ASCII as is,
 * everything else (and the backslash) escaped, so that no byte from the
 * input can move the cursor or change colours. */
static void
text_escaped(FILE *out, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i] == '\\')
			fputs("\\\\", out);
		else if (b[i] >= 0x20 && b[i] < 0x7f)
			fputc(b[i], out);
		else
			fprintf(out, "\\x%02x", b[i]);
	}
}

static void
text_str(FILE *out, struct pvm_str s)
{
	if (s.ptr == NULL)
		fputs("(unknown)", out);
	else
		text_escaped(out, s.ptr, s.len);
}

/*
 * Where the disassembly stands in the pickle.  Opcode starts are only
 * known by walking from the start, so the walk resumes from the last
 * position shown and restarts only when a finding lies behind it.
 */
struct walk {
	const uint8_t *pickle;
	size_t len;
	size_t pos;		/* an opcode start, or where decoding failed */
	size_t before[2];	/* the two opcode starts before pos */
	size_t n_before;
};

static void
walk_to(struct walk *w, size_t target)
{
	size_t oplen;

	if (target < w->pos) {
		w->pos = 0;
		w->n_before = 0;
	}
	while (w->pos < target &&
	    pvm_op_length(w->pickle + w->pos, w->len - w->pos, &oplen) == 0 &&
	    oplen <= target - w->pos) {
		w->before[0] = w->before[1];
		w->before[1] = w->pos;
		if (w->n_before < 2)
			w->n_before++;
		w->pos += oplen;
	}
}

/* One disassembly line; false if no whole opcode starts at ${pos}. */
static bool
text_opcode(FILE *out, const struct walk *w, size_t pos, bool marked,
    size_t *oplen)
{
	size_t shown;

	if (pos >= w->len ||
	    pvm_op_length(w->pickle + pos, w->len - pos, oplen) < 0)
		return false;
	fprintf(out, "      %s %8zu  %s", marked ? ">" : " ", pos,
	    op_name(w->pickle[pos]));
	shown = *oplen - 1 < TEXT_ARG_BYTES_MAX ? *oplen - 1 : TEXT_ARG_BYTES_MAX;
	if (shown > 0)
		fprintf(out, "%*s", 18 - (int)strlen(op_name(w->pickle[pos])),
		    "");
	text_escaped(out, w->pickle + pos + 1, shown);
	if (shown < *oplen - 1)
		fprintf(out, "... (%zu bytes)", *oplen - 1);
	fputc('\n', out);
	return true;
}

static void
text_context(FILE *out, struct walk *w, uint64_t pos)
{
	size_t target, oplen, k, shown;

	if (w->pickle == NULL)
		return;
	target = pos < w->len ? (size_t)pos : w->len;
	walk_to(w, target);
	for (k = 2 - w->n_before; k < 2; k++)
		(void)text_opcode(out, w, w->before[k], false, &oplen);
	if (w->pos == target && text_opcode(out, w, target, true, &oplen)) {
		(void)text_opcode(out, w, target + oplen, false, &oplen);
		return;
	}
	/* The end of the data, bytes after STOP, or an opcode that does not
	 * decode: show the bytes themselves. */
	fprintf(out, "      > %8" PRIu64 "  ", pos);
	if (pos >= w->len) {
		fputs("(end of data)\n", out);
		return;
	}
	shown = w->len - target < TEXT_RAW_BYTES_MAX ?
	    w->len - target : TEXT_RAW_BYTES_MAX;
	fputs("bytes ", out);
	text_escaped(out, w->pickle + target, shown);
	if (shown < w->len - target)
		fprintf(out, "... (%zu bytes)", w->len - target);
	fputc('\n', out);
}

/**
 * render_text(out, file, msg, bytes, len):
 * Write ${msg} to ${out} for a person: a header line with ${file}, offset,
 * length, protocol and the verdict, then one line per reason, import and
 * call, each followed by the opcodes around its position (two before, the
 * opcode itself marked '>', one after) disassembled from ${bytes} (the
 * ${len} bytes of the whole message, or NULL: no disassembly).  Returns 0,
 * or -1 on a write error.
 */
int
render_text(FILE *out, const char *file, const struct analysis_message *msg,
    const uint8_t *bytes, size_t len)
{
	struct walk w;
	uint64_t header;
	size_t i;

	memset(&w, 0, sizeof(w));
	header = msg->payload_offset - msg->offset;
	if (bytes != NULL && msg->is_pickle && msg->payload_offset >= msg->offset &&
	    header <= len) {
		w.pickle = bytes + header;
		w.len = len - (size_t)header;
	}

	text_escaped(out, file, strlen(file));
	fprintf(out, " offset=%" PRIu64 " length=%" PRIu64 " protocol=%d %s %s\n",
	    msg->offset, msg->length, msg->protocol,
	    msg->is_pickle ? "pickle" : "handshake",
	    msg->verdict == ANALYSIS_ALLOW ? "ALLOW" :
	    msg->verdict == ANALYSIS_WOULD_DENY ? "WOULD_DENY" : "DENY");

	for (i = 0; i < msg->n_reasons; i++) {
		const struct pvm_reason *r = &msg->reasons[i];

		fprintf(out, "  reason %s at %" PRIu64 ": ", pw_code_name(r->code),
		    r->pos);
		text_escaped(out, r->detail, strlen(r->detail));
		fputc('\n', out);
		text_context(out, &w, r->pos);
	}
	for (i = 0; i < msg->n_imports; i++) {
		const struct pvm_import *imp = &msg->imports[i];

		fprintf(out, "  import %s at %" PRIu64 ": ", op_name(imp->op),
		    imp->pos);
		text_str(out, imp->module);
		fputc('.', out);
		text_str(out, imp->name);
		if (imp->remapped) {
			fputs(" (raw ", out);
			text_str(out, imp->raw_module);
			fputc('.', out);
			text_str(out, imp->raw_name);
			fputc(')', out);
		}
		if (op_is_ext(imp->op))
			fprintf(out, " ext_code=%" PRId64, imp->ext_code);
		fputc('\n', out);
		text_context(out, &w, imp->pos);
	}
	for (i = 0; i < msg->n_calls; i++) {
		const struct pvm_call *c = &msg->calls[i];

		fprintf(out, "  call %s at %" PRIu64 ": ", op_name(c->op), c->pos);
		if (c->callable.ptr != NULL) {
			text_str(out, c->callable);
		} else {
			fputs("unknown callable: ", out);
			fputs(c->why != NULL ? c->why : "no reason given", out);
		}
		if (c->args.ptr != NULL) {
			fputs(" args ", out);
			text_str(out, c->args);
		}
		fputc('\n', out);
		text_context(out, &w, c->pos);
	}
	for (i = 0; i < msg->n_hits; i++) {
		const struct policy_rule_info *r = msg->hits[i].rule;

		fprintf(out, "  rule %u rev %u %s (%s): ", r->id, r->rev,
		    action_name(r->action), r->severity);
		text_str(out, msg->hits[i].matched);
		fputs(": ", out);
		text_escaped(out, r->msg, strlen(r->msg));
		fputc('\n', out);
	}
	if (msg->stream_ends)
		fputs("  stream ends: the bytes after this message are not "
		    "analyzed\n", out);
	return ferror(out) ? -1 : 0;
}
