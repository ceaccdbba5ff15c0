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

/**
 * json_length(j):
 * The number of bytes written to ${j} so far, complete value or not: where
 * the next bytes will go.
 */
size_t
json_length(const struct json *j)
{
	return j->len;
}

static int
fail(struct json *j)
{
	j->failed = true;
	return -1;
}

/* put() when the bytes do not fit in the buffer as it is. */
static int
put_grow(struct json *j, const char *p, size_t n)
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

/* Append ${n} bytes, keeping the buffer NUL-terminated.  Every byte of an
 * audit event passes here, so the common case (no failure, room, within
 * the bound) is one test before the copy. */
static inline int
put(struct json *j, const char *p, size_t n)
{
	if (n < j->cap - j->len && j->len + n <= j->max_bytes && !j->failed) {
		memcpy(j->buf + j->len, p, n);
		j->len += n;
		j->buf[j->len] = '\0';
		return 0;
	}
	return put_grow(j, p, n);
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

/* Printable ASCII but the quote and the backslash: the bytes a string
 * body copies as they are without looking further. */
#define PLAIN_16(b) \
	PLAIN_1((b) + 0), PLAIN_1((b) + 1), PLAIN_1((b) + 2), \
	PLAIN_1((b) + 3), PLAIN_1((b) + 4), PLAIN_1((b) + 5), \
	PLAIN_1((b) + 6), PLAIN_1((b) + 7), PLAIN_1((b) + 8), \
	PLAIN_1((b) + 9), PLAIN_1((b) + 10), PLAIN_1((b) + 11), \
	PLAIN_1((b) + 12), PLAIN_1((b) + 13), PLAIN_1((b) + 14), \
	PLAIN_1((b) + 15)
#define PLAIN_1(c) ((c) >= 0x20 && (c) < 0x7f && (c) != '"' && (c) != '\\')
static const bool plain_byte[256] = {
	PLAIN_16(0x00), PLAIN_16(0x10), PLAIN_16(0x20), PLAIN_16(0x30),
	PLAIN_16(0x40), PLAIN_16(0x50), PLAIN_16(0x60), PLAIN_16(0x70),
	/* 0x80..0xff: false */
};
#undef PLAIN_1
#undef PLAIN_16

#define BYTES_OF(b) (UINT64_C(0x0101010101010101) * (b))

/* Are all 8 bytes of ${w} plain?  A zero byte of w ^ BYTES_OF(c) is a byte
 * equal to c; (x - BYTES_OF(1)) & ~x & BYTES_OF(0x80) is nonzero exactly
 * when x has a zero byte, and with BYTES_OF(0x20) when x has a byte below
 * 0x20 (bytes of 0x80 and up are caught first). */
static inline bool
word_is_plain(uint64_t w)
{
	uint64_t q = w ^ BYTES_OF('"'), b = w ^ BYTES_OF('\\'),
	    del = w ^ BYTES_OF(0x7f);

	return ((w & BYTES_OF(0x80)) |
	    ((w - BYTES_OF(0x20)) & ~w & BYTES_OF(0x80)) |
	    ((q - BYTES_OF(1)) & ~q & BYTES_OF(0x80)) |
	    ((b - BYTES_OF(1)) & ~b & BYTES_OF(0x80)) |
	    ((del - BYTES_OF(1)) & ~del & BYTES_OF(0x80))) == 0;
}

/* The string body between its quotes. */
static int
put_escaped(struct json *j, const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, run = 0, n;
	uint64_t w;

	/* Copy runs of bytes that need no escape in one put(); most strings
	 * (hashes, names, times) are plain from end to end, and are looked
	 * at a word at a time. */
	while (i < len) {
		uint8_t c = p[i];

		if (len - i >= sizeof(w)) {
			memcpy(&w, p + i, sizeof(w));
			if (word_is_plain(w)) {
				i += sizeof(w);
				run += sizeof(w);
				continue;
			}
		}
		if (plain_byte[c]) {
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

/* Open the next member of the open object: the comma before it. */
static int
member_prefix(struct json *j)
{
	if (j->failed || j->depth == 0 ||
	    j->frames[j->depth - 1] != IN_OBJECT || j->after_key)
		return fail(j);
	if (j->has_items[j->depth - 1] && put(j, ",", 1) < 0)
		return -1;
	j->has_items[j->depth - 1] = true;
	return 0;
}

/* Keys are short literals that need no escape: "key": goes out in one
 * put() when that is so. */
#define SHORT_KEY_MAX 48

/**
 * json_key(j, key):
 * Write the NUL-terminated ${key} of the next member of the open object.
 * Returns 0, or -1 if the writer failed or no object is open.
 */
int
json_key(struct json *j, const char *key)
{
	char text[SHORT_KEY_MAX + 3];
	size_t n;

	if (member_prefix(j) < 0)
		return -1;
	text[0] = '"';
	for (n = 0; n < SHORT_KEY_MAX && plain_byte[(uint8_t)key[n]]; n++)
		text[n + 1] = key[n];
	if (key[n] == '\0') {
		text[n + 1] = '"';
		text[n + 2] = ':';
		if (put(j, text, n + 3) < 0)
			return -1;
	} else if (put_string(j, key, strlen(key)) < 0 || put(j, ":", 1) < 0) {
		return -1;
	}
	j->after_key = true;
	return 0;
}

/**
 * json_key_quoted(j, text, len):
 * json_key() of a key the program spells out, given as the ${len} bytes at
 * ${text} already quoted and followed by the colon ("\"name\":"); the
 * text is not checked.  JSON_KEY() makes that text of a string literal
 * at compile time, so that the keys of the audit log's many events cost
 * a copy each, not a scan.  Returns 0, or -1 if the writer failed or no
 * object is open.
 */
int
json_key_quoted(struct json *j, const char *text, size_t len)
{
	if (member_prefix(j) < 0 || put(j, text, len) < 0)
		return -1;
	j->after_key = true;
	return 0;
}

/**
 * json_raw_members(j, text, len):
 * Append the ${len} bytes at ${text} to the open object as one or more
 * members: text that another json writer made of members (what it wrote
 * between the braces of an object, "k":v,"k2":v2).  For a part of an
 * object that stays the same over many (the fields of a connection on each
 * of its events).  The text is not checked.  Returns 0, or -1 if the
 * writer failed or no object is open.
 */
int
json_raw_members(struct json *j, const char *text, size_t len)
{
	if (len == 0)
		return j->failed ? -1 : 0;
	if (member_prefix(j) < 0 || put(j, text, len) < 0)
		return -1;
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

/* ${v} in decimal, preceded by a minus sign if ${negative}, at the end of
 * the JSON_NUMBER_MAX bytes at ${text}; returns where it starts.  An
 * audit event has a dozen numbers, and snprintf would be most of its
 * cost. */
static size_t
decimal_tail(char text[JSON_NUMBER_MAX], uint64_t v, bool negative)
{
	size_t at = JSON_NUMBER_MAX;

	do {
		text[--at] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (negative)
		text[--at] = '-';
	return at;
}

/* The magnitude of INT64_MIN does not fit in int64_t. */
static uint64_t
magnitude(int64_t v)
{
	return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

static int
put_decimal(struct json *j, uint64_t v, bool negative)
{
	char text[JSON_NUMBER_MAX];
	size_t at = decimal_tail(text, v, negative);

	if (value_prefix(j) < 0 || put(j, text + at, sizeof(text) - at) < 0)
		return -1;
	value_done(j);
	return 0;
}

/* "00" to "99": a line of the audit log has five numbers, written two
 * digits per division. */
static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* ${v} in decimal at ${out}, written from the end; ${n} is its number of
 * digits. */
static void
put_digits(char *out, size_t n, uint64_t v)
{
	uint32_t w, r;

	while (v > UINT32_MAX) {
		r = (uint32_t)(v % 100);
		v /= 100;
		n -= 2;
		out[n] = digit_pairs[2 * r];
		out[n + 1] = digit_pairs[2 * r + 1];
	}
	/* The rest in 32 bits, where dividing is cheaper. */
	for (w = (uint32_t)v; w >= 100; w /= 100) {
		r = w % 100;
		n -= 2;
		out[n] = digit_pairs[2 * r];
		out[n + 1] = digit_pairs[2 * r + 1];
	}
	if (w >= 10) {
		out[0] = digit_pairs[2 * w];
		out[1] = digit_pairs[2 * w + 1];
	} else {
		out[0] = (char)('0' + w);
	}
}

static size_t
digit_count(uint64_t v)
{
	size_t n = 1;

	for (; v >= 10000; v /= 10000)
		n += 4;
	if (v >= 100)
		n += v >= 1000 ? 3 : 2;
	else if (v >= 10)
		n += 1;
	return n;
}

/**
 * json_format_uint(out, v), json_format_int(out, v):
 * Write ${v} in decimal, as json_uint() and json_int() do, into ${out}
 * (no NUL), for callers that assemble a line themselves.  Return the
 * number of bytes written (at most JSON_NUMBER_MAX).
 */
size_t
json_format_uint(char out[JSON_NUMBER_MAX], uint64_t v)
{
	size_t n = digit_count(v);

	put_digits(out, n, v);
	return n;
}

size_t
json_format_int(char out[JSON_NUMBER_MAX], int64_t v)
{
	/* A negative one has 19 digits at most, after its sign. */
	uint64_t m = magnitude(v);
	size_t n = digit_count(m);

	if (v >= 0) {
		put_digits(out, n, m);
		return n;
	}
	out[0] = '-';
	put_digits(out + 1, n, m);
	return n + 1;
}

/**
 * json_uint(j, v), json_int(j, v), json_bool(j, v), json_null(j):
 * Write a number, true/false or null.  Return 0, or -1 if the writer
 * failed.
 */
int
json_uint(struct json *j, uint64_t v)
{
	return put_decimal(j, v, false);
}

int
json_int(struct json *j, int64_t v)
{
	return put_decimal(j, magnitude(v), v < 0);
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
