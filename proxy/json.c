#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

enum json_frame {
	IN_OBJECT,
	IN_ARRAY,
};

struct json {
	char *buf;
	size_t len, cap;
	size_t max_bytes;
	bool failed;
	bool done;		/* the top-level value is complete */
	bool after_key;		/* a key was written, its value is due */
	unsigned depth;
	uint8_t frames[JSON_MAX_DEPTH];	/* enum json_frame per open level */
	bool has_items[JSON_MAX_DEPTH];	/* the level needs a comma */
};

/**
 * json_new(max_bytes):
 * Create an empty writer whose output may grow to ${max_bytes} bytes (0: no
 * bound beyond memory); writing past the bound fails the writer.  Returns
 * NULL on allocation failure.  The caller frees it with json_free().
 */
struct json *
json_new(size_t max_bytes)
{
	struct json *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	/* One byte is kept for the NUL that json_data() promises. */
	j->max_bytes = max_bytes == 0 || max_bytes == SIZE_MAX ?
	    SIZE_MAX - 1 : max_bytes;
	return j;
}

/**
 * json_free(j):
 * Release ${j} and its buffer; NULL is a no-op.
 */
void
json_free(struct json *j)
{
	if (j == NULL)
		return;
	free(j->buf);
	free(j);
}

/**
 * json_reset(j):
 * Empty ${j} and clear any failure, keeping its buffer for the next value.
 */
void
json_reset(struct json *j)
{
	j->len = 0;
	j->failed = false;
	j->done = false;
	j->after_key = false;
	j->depth = 0;
}

/**
 * json_data(j, len):
 * The text written to ${j} so far and, in *${len}, its length; the text is
 * NUL-terminated and owned by ${j} until the next call on it.  Returns NULL
 * if the writer failed or the value is not complete (open containers, a
 * key without its value, nothing written).
 */
const char *
json_data(const struct json *j, size_t *len)
{
	if (j->failed || !j->done)
		return NULL;
	*len = j->len;
	return j->buf;
}

static int
fail(struct json *j)
{
	j->failed = true;
	return -1;
}

/* Append ${n} bytes, keeping the buffer NUL-terminated. */
static int
put(struct json *j, const char *p, size_t n)
{
	size_t new_cap;
	char *nb;

	if (j->failed)
		return -1;
	if (n > j->max_bytes - j->len)
		return fail(j);
	if (j->len + n + 1 > j->cap) {
		new_cap = j->cap ? j->cap : 256;
		while (new_cap < j->len + n + 1) {
			if (new_cap > SIZE_MAX / 2) {
				new_cap = j->len + n + 1;
				break;
			}
			new_cap *= 2;
		}
		if ((nb = realloc(j->buf, new_cap)) == NULL)
			return fail(j);
		j->buf = nb;
		j->cap = new_cap;
	}
	memcpy(j->buf + j->len, p, n);
	j->len += n;
	j->buf[j->len] = '\0';
	return 0;
}

/* Everything a value needs before it: a comma between array items, and a
 * check that the position admits a value at all. */
static int
value_prefix(struct json *j)
{
	if (j->failed || j->done)
		return fail(j);
	if (j->depth == 0)
		return 0;
	if (j->frames[j->depth - 1] == IN_OBJECT) {
		if (!j->after_key)
			return fail(j);
		j->after_key = false;
		return 0;
	}
	if (j->has_items[j->depth - 1] && put(j, ",", 1) < 0)
		return -1;
	j->has_items[j->depth - 1] = true;
	return 0;
}

/* A scalar or a closed container completes the top-level value. */
static void
value_done(struct json *j)
{
	if (j->depth == 0)
		j->done = true;
}

static int
open_frame(struct json *j, enum json_frame frame, const char *text)
{
	if (value_prefix(j) < 0)
		return -1;
	if (j->depth == JSON_MAX_DEPTH)
		return fail(j);
	if (put(j, text, 1) < 0)
		return -1;
	j->frames[j->depth] = (uint8_t)frame;
	j->has_items[j->depth] = false;
	j->depth++;
	return 0;
}

static int
close_frame(struct json *j, enum json_frame frame, const char *text)
{
	if (j->failed || j->depth == 0 || j->frames[j->depth - 1] != frame ||
	    j->after_key)
		return fail(j);
	if (put(j, text, 1) < 0)
		return -1;
	j->depth--;
	value_done(j);
	return 0;
}

/**
 * json_object_begin(j), json_object_end(j), json_array_begin(j),
 * json_array_end(j):
 * Open or close an object or array.  Return 0, or -1 if the writer failed.
 */
int
json_object_begin(struct json *j)
{
	return open_frame(j, IN_OBJECT, "{");
}

int
json_object_end(struct json *j)
{
	return close_frame(j, IN_OBJECT, "}");
}

int
json_array_begin(struct json *j)
{
	return open_frame(j, IN_ARRAY, "[");
}

int
json_array_end(struct json *j)
{
	return close_frame(j, IN_ARRAY, "]");
}

/* Length of the valid UTF-8 sequence at ${p} (1..4), or 0 if the byte
 * there does not start one.  Surrogates (ED A0..BF xx) count as valid
 * here; the caller tells them apart. */
static size_t
utf8_sequence(const uint8_t *p, size_t n)
{
	uint8_t lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 1;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		need = 2;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		need = 3;
	else
		return 0;
	/* Overlong forms and code points above U+10FFFF. */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (need >= n)
		return 0;
	for (i = 1; i <= need; i++) {
		if (p[i] < lo || p[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

static int
put_u_escape(struct json *j, unsigned code_point)
{
	char esc[8];

	snprintf(esc, sizeof(esc), "\\u%04x", code_point & 0xffffU);
	return put(j, esc, 6);
}

/* The string body between its quotes. */
static int
put_escaped(struct json *j, const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, run = 0, n;

	/* Copy runs of bytes that need no escape in one put(). */
	while (i < len) {
		uint8_t c = p[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			run++;
			continue;
		}
		n = c < 0x80 ? 1 : utf8_sequence(p + i, len - i);
		if (n > 1 && !(c == 0xed && p[i + 1] >= 0xa0) &&
		    !(c == 0xe2 && p[i + 1] == 0x80 &&
		    (p[i + 2] == 0xa8 || p[i + 2] == 0xa9))) {
			i += n;
			run += n;
			continue;
		}
		if (put(j, (const char *)p + i - run, run) < 0)
			return -1;
		run = 0;
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };

			if (put(j, esc, 2) < 0)
				return -1;
			i++;
		} else if (n == 3) {
			/* A surrogate or U+2028/U+2029: write its code
			 * point. */
			if (put_u_escape(j, ((unsigned)(c & 0x0f) << 12) |
			    ((unsigned)(p[i + 1] & 0x3f) << 6) |
			    (unsigned)(p[i + 2] & 0x3f)) < 0)
				return -1;
			i += 3;
		} else {
			/* A control character, DEL, or an invalid byte. */
			if (put_u_escape(j, c) < 0)
				return -1;
			i++;
		}
	}
	return put(j, (const char *)p + i - run, run);
}

static int
put_string(struct json *j, const char *s, size_t len)
{
	if (put(j, "\"", 1) < 0 || put_escaped(j, s, len) < 0)
		return -1;
	return put(j, "\"", 1);
}

/**
 * json_key(j, key):
 * Write the NUL-terminated ${key} of the next member of the open object.
 * Returns 0, or -1 if the writer failed or no object is open.
 */
int
json_key(struct json *j, const char *key)
{
	if (j->failed || j->depth == 0 ||
	    j->frames[j->depth - 1] != IN_OBJECT || j->after_key)
		return fail(j);
	if (j->has_items[j->depth - 1] && put(j, ",", 1) < 0)
		return -1;
	j->has_items[j->depth - 1] = true;
	if (put_string(j, key, strlen(key)) < 0 || put(j, ":", 1) < 0)
		return -1;
	j->after_key = true;
	return 0;
}

/**
 * json_string(j, s, len):
 * Write the ${len} bytes at ${s} as a string, escaped as described above.
 * Returns 0, or -1 if the writer failed.
 */
int
json_string(struct json *j, const char *s, size_t len)
{
	if (value_prefix(j) < 0 || put_string(j, s, len) < 0)
		return -1;
	value_done(j);
	return 0;
}

/**
 * json_cstring(j, s):
 * json_string() of the NUL-terminated ${s}.
 */
int
json_cstring(struct json *j, const char *s)
{
	return json_string(j, s, strlen(s));
}

static int
put_scalar(struct json *j, const char *text)
{
	if (value_prefix(j) < 0 || put(j, text, strlen(text)) < 0)
		return -1;
	value_done(j);
	return 0;
}

/**
 * json_uint(j, v), json_int(j, v), json_bool(j, v), json_null(j):
 * Write a number, true/false or null.  Return 0, or -1 if the writer
 * failed.
 */
int
json_uint(struct json *j, uint64_t v)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRIu64, v);
	return put_scalar(j, text);
}

int
json_int(struct json *j, int64_t v)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRId64, v);
	return put_scalar(j, text);
}

int
json_bool(struct json *j, bool v)
{
	return put_scalar(j, v ? "true" : "false");
}

int
json_null(struct json *j)
{
	return put_scalar(j, "null");
}
