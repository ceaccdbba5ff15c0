#ifndef PVM_TEXT_H
#define PVM_TEXT_H

/*
 * pvm_text: the text and encoding rules CPython applies to pickle opcode
 * arguments, reproduced exactly (Objects/longobject.c PyLong_FromString,
 * Python/pystrtod.c PyOS_string_to_double, Objects/bytesobject.c
 * _PyBytes_DecodeEscape, Objects/unicodeobject.c raw-unicode-escape and
 * UTF-8 with surrogatepass).  Pure functions over caller buffers; part of
 * the pvm module.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * pvm_text_is_ascii(s, len):
 * Whether every byte of ${s} is below 0x80.
 */
bool pvm_text_is_ascii(const char *s, size_t len);

/**
 * pvm_text_is_utf8(s, len, surrogates):
 * Whether ${s} is valid UTF-8 for CPython's strict decoder; with
 * ${surrogates} also accept encoded surrogates (the surrogatepass handler).
 */
bool pvm_text_is_utf8(const char *s, size_t len, bool surrogates);

/* Streaming UTF-8 (surrogatepass) validation across chunks. */
struct pvm_text_utf8 {
	uint8_t need;		/* continuation bytes still expected */
	uint8_t lo, hi;		/* allowed range of the next byte */
};

/**
 * pvm_text_utf8_init(st):
 * Start validating a new string with ${st}.
 */
void pvm_text_utf8_init(struct pvm_text_utf8 *st);

/**
 * pvm_text_utf8_feed(st, p, n):
 * Validate the next ${n} bytes; false once the string is invalid.
 */
bool pvm_text_utf8_feed(struct pvm_text_utf8 *st, const uint8_t *p, size_t n);

/**
 * pvm_text_utf8_end(st):
 * Whether the string ends on a character boundary.
 */
bool pvm_text_utf8_end(const struct pvm_text_utf8 *st);

/**
 * pvm_text_utf8_impl(k):
 * Tests only: from now on validate long runs of UTF-8 with implementation
 * ${k} of this build (0 is the fastest; the last one is the scalar code
 * alone).  Returns 1 if it is in use now, 0 if the CPU cannot run it
 * (nothing changes), or -1 if there is no implementation ${k}: then the
 * default, the best the CPU can run, is back in use.
 */
int pvm_text_utf8_impl(size_t k);

/**
 * pvm_text_parse_pylong(s, base, value):
 * Whether the NUL-terminated ${s} is accepted by PyLong_FromString(s, NULL,
 * base) for base 0 or 10, including the 4300-digit limit of Python 3.11.
 * Returns -1 if rejected; 0 if accepted with a value in [0, 2^64) stored
 * in *${value} (if not NULL); 1 if accepted but negative or larger.
 */
int pvm_text_parse_pylong(const char *s, int base, uint64_t *value);

/**
 * pvm_text_parse_int_opcode(s):
 * Whether load_int accepts the NUL-terminated line ${s} ("…\n"): C strtol
 * with base 0 first, PyLong_FromString as the fallback.  0 or -1.
 */
int pvm_text_parse_int_opcode(const char *s);

/**
 * pvm_text_parse_float(s):
 * Whether load_float accepts the NUL-terminated line ${s}
 * (PyOS_string_to_double with OverflowError, then '\n' or NUL).  0 or -1.
 */
int pvm_text_parse_float(const char *s);

/**
 * pvm_text_decode_escape(s, len, out, out_len):
 * Decode the STRING opcode's escapes in ${s} as PyBytes_DecodeEscape does,
 * writing at most ${len} bytes to ${out} (which may be ${s}).  Returns 0
 * and sets *${out_len}, or -1 on an invalid escape.
 */
int pvm_text_decode_escape(const char *s, size_t len, char *out,
    size_t *out_len);

/**
 * pvm_text_decode_raw_unicode_escape(s, len, out, out_len):
 * Decode ${s} as raw-unicode-escape (the UNICODE opcode) into WTF-8 at
 * ${out}, which must hold 2 * ${len} bytes, or be NULL to only validate.
 * Returns 0 and sets *${out_len}, or -1 on an invalid escape.
 */
int pvm_text_decode_raw_unicode_escape(const char *s, size_t len, char *out,
    size_t *out_len);

#endif /* !PVM_TEXT_H */
