#ifndef JSON_H
#define JSON_H

/*
 * json: a writer of one JSON value at a time into a growable buffer.
 *
 * Used for `picklewall scan` output and the audit log, where each event is
 * one line.  The writer tracks nesting and places commas and colons itself,
 * so a caller cannot produce malformed output by forgetting one; any misuse
 * (a value in an object without a key, unbalanced ends, nesting deeper than
 * JSON_MAX_DEPTH) or allocation failure makes the writer fail, and the
 * failure is sticky: every later call returns -1 until json_reset().
 *
 * Strings are byte strings, expected to be UTF-8 in which lone surrogates
 * may appear as 3-byte WTF-8 sequences (what the pickle analyzer produces
 * for Python str values).  They are written as follows:
 *   - '"' and '\\' as \" and \\;
 *   - bytes below 0x20 and 0x7f as \u00XX;
 *   - U+2028 and U+2029 as \u2028 and \u2029 (JavaScript line ends);
 *   - other valid UTF-8 sequences unchanged;
 *   - a surrogate encoded as ED A0..BF xx as \udXXX (its code point), so a
 *     JSON reader sees the same Python str that the pickle carried;
 *   - any other byte that does not start a valid UTF-8 sequence as \u00XX
 *     of the byte value, and decoding resumes at the next byte.
 * The output is therefore always valid UTF-8 JSON.  The last rule loses
 * information: an invalid byte 0xNN and the character U+00NN read back the
 * same.  Inputs that must round-trip exactly are to be valid WTF-8.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32

struct json;

/**
 * json_new(max_bytes):
 * Create an empty writer whose output may grow to ${max_bytes} bytes (0: no
 * bound beyond memory); writing past the bound fails the writer.  Returns
 * NULL on allocation failure.  The caller frees it with json_free().
 */
struct json *json_new(size_t max_bytes);

/**
 * json_free(j):
 * Release ${j} and its buffer; NULL is a no-op.
 */
void json_free(struct json *j);

/**
 * json_reset(j):
 * Empty ${j} and clear any failure, keeping its buffer for the next value.
 */
void json_reset(struct json *j);

/**
 * json_data(j, len):
 * The text written to ${j} so far and, in *${len}, its length; the text is
 * NUL-terminated and owned by ${j} until the next call on it.  Returns NULL
 * if the writer failed or the value is not complete (open containers, a
 * key without its value, nothing written).
 */
const char *json_data(const struct json *j, size_t *len);

/**
 * json_length(j):
 * The number of bytes written to ${j} so far, complete value or not: where
 * the next bytes will go.
 */
size_t json_length(const struct json *j);

/**
 * json_object_begin(j), json_object_end(j), json_array_begin(j),
 * json_array_end(j):
 * Open or close an object or array.  Return 0, or -1 if the writer failed.
 */
int json_object_begin(struct json *j);
int json_object_end(struct json *j);
int json_array_begin(struct json *j);
int json_array_end(struct json *j);

/**
 * json_key(j, key):
 * Write the NUL-terminated ${key} of the next member of the open object.
 * Returns 0, or -1 if the writer failed or no object is open.
 */
int json_key(struct json *j, const char *key);

/**
 * json_key_quoted(j, text, len):
 * json_key() of a key the program spells out, given as the ${len} bytes at
 * ${text} already quoted and followed by the colon ("\"name\":"); the
 * text is not checked.  JSON_KEY() makes that text of a string literal
 * at compile time, so that the keys of the audit log's many events cost
 * a copy each, not a scan.  Returns 0, or -1 if the writer failed or no
 * object is open.
 */
int json_key_quoted(struct json *j, const char *text, size_t len);

/* json_key(j, key) of the string literal ${key}, which must need no
 * escape (letters, digits, '_'). */
#define JSON_KEY(j, key) \
	json_key_quoted((j), "\"" key "\":", sizeof(key) + 2)

/**
 * json_raw_members(j, text, len):
 * Append the ${len} bytes at ${text} to the open object as one or more
 * members: text that another json writer made of members (what it wrote
 * between the braces of an object, "k":v,"k2":v2).  For a part of an
 * object that stays the same over many (the fields of a connection on each
 * of its events).  The text is not checked.  Returns 0, or -1 if the
 * writer failed or no object is open.
 */
int json_raw_members(struct json *j, const char *text, size_t len);

/**
 * json_string(j, s, len):
 * Write the ${len} bytes at ${s} as a string, escaped as described above.
 * Returns 0, or -1 if the writer failed.
 */
int json_string(struct json *j, const char *s, size_t len);

/**
 * json_cstring(j, s):
 * json_string() of the NUL-terminated ${s}.
 */
int json_cstring(struct json *j, const char *s);

/**
 * json_uint(j, v), json_int(j, v), json_bool(j, v), json_null(j):
 * Write a number, true/false or null.  Return 0, or -1 if the writer
 * failed.
 */
int json_uint(struct json *j, uint64_t v);
int json_int(struct json *j, int64_t v);
int json_bool(struct json *j, bool v);
int json_null(struct json *j);

/* The longest text of a number: 20 digits of UINT64_MAX, or the sign and
 * 19 digits of INT64_MIN. */
#define JSON_NUMBER_MAX 20

/**
 * json_format_uint(out, v), json_format_int(out, v):
 * Write ${v} in decimal, as json_uint() and json_int() do, into ${out}
 * (no NUL), for callers that assemble a line themselves.  Return the
 * number of bytes written (at most JSON_NUMBER_MAX).
 */
size_t json_format_uint(char out[JSON_NUMBER_MAX], uint64_t v);
size_t json_format_int(char out[JSON_NUMBER_MAX], int64_t v);

#endif /* !JSON_H */
