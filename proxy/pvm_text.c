#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pvm_text.h"

/* Python 3.11's default sys.get_int_max_str_digits(). */
#define PY_INT_MAX_STR_DIGITS 4300

/* Py_ISSPACE: the C locale's isspace, fixed. */
static bool
py_isspace(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* _PyLong_DigitValue: 0-35 for [0-9a-zA-Z], 37 for anything else. */
static unsigned
digit_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 37;
}

#define HIGH_BITS 0x8080808080808080ULL

/* Whether 32 bytes are all ASCII; four independent loads pipeline well. */
static inline bool
ascii_block32(const uint8_t *p)
{
	uint64_t a, b, c, d;

	memcpy(&a, p, 8);
	memcpy(&b, p + 8, 8);
	memcpy(&c, p + 16, 8);
	memcpy(&d, p + 24, 8);
	return ((a | b | c | d) & HIGH_BITS) == 0;
}

/**
 * pvm_text_is_ascii(s, len):
 * Whether every byte of ${s} is below 0x80.
 */
bool
pvm_text_is_ascii(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint64_t word, acc = 0;
	size_t i = 0;

	for (; i + 32 <= len; i += 32)
		if (!ascii_block32(p + i))
			return false;
	for (; i + 8 <= len; i += 8) {
		memcpy(&word, p + i, 8);
		acc |= word;
	}
	for (; i < len; i++)
		acc |= p[i];
	return (acc & 0x8080808080808080ULL) == 0;
}

/**
 * pvm_text_utf8_init(st):
 * Start validating a new string with ${st}.
 */
void
pvm_text_utf8_init(struct pvm_text_utf8 *st)
{
	st->need = 0;
	st->lo = 0x80;
	st->hi = 0xBF;
}

/* Lead byte: how many continuation bytes follow, and the range allowed
 * for the first of them (this is where overlong forms, code points above
 * U+10FFFF and, without surrogatepass, surrogates are refused). */
static bool
utf8_lead(struct pvm_text_utf8 *st, uint8_t c, bool surrogates)
{
	st->lo = 0x80;
	st->hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF) {
		st->need = 1;
	} else if (c >= 0xE0 && c <= 0xEF) {
		st->need = 2;
		if (c == 0xE0)
			st->lo = 0xA0;
		else if (c == 0xED && !surrogates)
			st->hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		st->need = 3;
		if (c == 0xF0)
			st->lo = 0x90;
		else if (c == 0xF4)
			st->hi = 0x8F;
	} else {
		return false;
	}
	return true;
}

/* Offset of the first byte with its high bit set in a word whose high
 * bits are ${high} (not 0), as loaded from memory. */
static inline size_t
first_high_byte(uint64_t high)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return (size_t)__builtin_clzll(high) / 8;
#else
	return (size_t)__builtin_ctzll(high) / 8;
#endif
}

static bool
utf8_feed(struct pvm_text_utf8 *st, const uint8_t *p, size_t n,
    bool surrogates)
{
	size_t i = 0;
	uint64_t word, high;

	for (;;) {
		/* Continuation bytes of the current character. */
		for (; st->need > 0; st->need--, i++) {
			if (i == n)
				return true;
			if (p[i] < st->lo || p[i] > st->hi)
				return false;
			st->lo = 0x80;
			st->hi = 0xBF;
		}
		/* ASCII: skip whole words, and within a word jump straight
		 * to the first byte that is not ASCII. */
		for (;;) {
			if (i + 8 <= n) {
				memcpy(&word, p + i, 8);
				if ((high = word & HIGH_BITS) == 0) {
					i += 8;
					continue;
				}
				i += first_high_byte(high);
				break;
			}
			while (i < n && p[i] < 0x80)
				i++;
			break;
		}
		if (i == n)
			return true;
		if (!utf8_lead(st, p[i], surrogates))
			return false;
		i++;
	}
}

/**
 * pvm_text_utf8_feed(st, p, n):
 * Validate the next ${n} bytes; false once the string is invalid.
 */
bool
pvm_text_utf8_feed(struct pvm_text_utf8 *st, const uint8_t *p, size_t n)
{
	return utf8_feed(st, p, n, true);
}

/**
 * pvm_text_utf8_end(st):
 * Whether the string ends on a character boundary.
 */
bool
pvm_text_utf8_end(const struct pvm_text_utf8 *st)
{
	return st->need == 0;
}

/**
 * pvm_text_is_utf8(s, len, surrogates):
 * Whether ${s} is valid UTF-8 for CPython's strict decoder; with
 * ${surrogates} also accept encoded surrogates (the surrogatepass handler).
 */
bool
pvm_text_is_utf8(const char *s, size_t len, bool surrogates)
{
	struct pvm_text_utf8 st;

	pvm_text_utf8_init(&st);
	return utf8_feed(&st, (const uint8_t *)s, len, surrogates) &&
	    pvm_text_utf8_end(&st);
}

/*
 * Scan digits of ${base} with single '_' separators from *${p}, as
 * PyLong_FromString does; accumulate into *${value} while it fits.
 * Returns the digit count, or -1 on a misplaced underscore.
 */
static long
scan_digits(const char **p, unsigned base, uint64_t *value, bool *overflow)
{
	const char *s = *p;
	char prev = 0;
	long digits = 0;
	unsigned d;

	while ((d = digit_value((unsigned char)*s)) < base || *s == '_') {
		if (*s == '_') {
			if (prev == '_')
				return -1;
		} else {
			digits++;
			if (*value > (UINT64_MAX - d) / base)
				*overflow = true;
			else
				*value = *value * base + d;
		}
		prev = *s++;
	}
	if (prev == '_')
		return -1;
	*p = s;
	return digits;
}

/**
 * pvm_text_parse_pylong(s, base, value):
 * Whether the NUL-terminated ${s} is accepted by PyLong_FromString(s, NULL,
 * base) for base 0 or 10, including the 4300-digit limit of Python 3.11.
 * Returns -1 if rejected; 0 if accepted with a value in [0, 2^64) stored
 * in *${value} (if not NULL); 1 if accepted but negative or larger.
 */
int
pvm_text_parse_pylong(const char *s, int base, uint64_t *value)
{
	bool negative = false, zero_only = false, overflow = false;
	unsigned b = (unsigned)base;
	uint64_t v = 0;
	long digits;

	while (*s != '\0' && py_isspace((unsigned char)*s))
		s++;
	if (*s == '+') {
		s++;
	} else if (*s == '-') {
		s++;
		negative = true;
	}
	if (b == 0) {
		if (s[0] != '0')
			b = 10;
		else if (s[1] == 'x' || s[1] == 'X')
			b = 16;
		else if (s[1] == 'o' || s[1] == 'O')
			b = 8;
		else if (s[1] == 'b' || s[1] == 'B')
			b = 2;
		else {
			/* An old C-style octal literal: only zero is valid. */
			zero_only = true;
			b = 10;
		}
		if (b != 10) {
			s += 2;
			if (*s == '_')
				s++;
		}
	}
	if (*s == '_')
		return -1;
	if ((digits = scan_digits(&s, b, &v, &overflow)) <= 0)
		return -1;
	if (b == 10 && digits > PY_INT_MAX_STR_DIGITS)
		return -1;
	if (zero_only && (v != 0 || overflow))
		return -1;
	while (*s != '\0' && py_isspace((unsigned char)*s))
		s++;
	if (*s != '\0')
		return -1;
	if (overflow || (negative && v != 0))
		return 1;
	if (value != NULL)
		*value = v;
	return 0;
}

/**
 * pvm_text_parse_int_opcode(s):
 * Whether load_int accepts the NUL-terminated line ${s} ("…\n"): C strtol
 * with base 0 first, PyLong_FromString as the fallback.  0 or -1.
 */
int
pvm_text_parse_int_opcode(const char *s)
{
	char *end;

	errno = 0;
	(void)strtol(s, &end, 0);
	if (errno == 0 && (*end == '\n' || *end == '\0'))
		return 0;
	return pvm_text_parse_pylong(s, 0, NULL) < 0 ? -1 : 0;
}

static bool
match_nocase(const char *s, const char *word)
{
	for (; *word != '\0'; s++, word++)
		if (*s == '\0' || (*s | 0x20) != *word)
			return false;
	return true;
}

/**
 * pvm_text_parse_float(s):
 * Whether load_float accepts the NUL-terminated line ${s}
 * (PyOS_string_to_double with OverflowError, then '\n' or NUL).  0 or -1.
 */
int
pvm_text_parse_float(const char *s)
{
	const char *p = s, *start;
	char *copy, *end;
	bool digits = false;
	double d;
	size_t len;

	/* _Py_dg_strtod: no leading space, no hex, no underscores. */
	if (*p == '+' || *p == '-')
		p++;
	start = p;
	while (*p >= '0' && *p <= '9') {
		p++;
		digits = true;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			p++;
			digits = true;
		}
	}
	if (!digits) {
		/* _Py_parse_inf_or_nan */
		p = start;
		if (match_nocase(p, "inf")) {
			p += 3;
			if (match_nocase(p, "inity"))
				p += 5;
		} else if (match_nocase(p, "nan")) {
			p += 3;
		} else {
			return -1;
		}
		return *p == '\n' || *p == '\0' ? 0 : -1;
	}
	if (*p == 'e' || *p == 'E') {
		const char *e = p + 1;

		if (*e == '+' || *e == '-')
			e++;
		if (*e >= '0' && *e <= '9') {
			while (*e >= '0' && *e <= '9')
				e++;
			p = e;
		}
	}
	if (*p != '\n' && *p != '\0')
		return -1;
	/* Overflow raises OverflowError; both strtods round correctly, so
	 * glibc's agrees with dtoa.c on which literals overflow. */
	len = (size_t)(p - s);
	if ((copy = malloc(len + 1)) == NULL)
		return -1;
	memcpy(copy, s, len);
	copy[len] = '\0';
	errno = 0;
	d = strtod(copy, &end);
	free(copy);
	if (errno == ERANGE && fabs(d) >= 1.0)
		return -1;
	return 0;
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/**
 * pvm_text_decode_escape(s, len, out, out_len):
 * Decode the STRING opcode's escapes in ${s} as PyBytes_DecodeEscape does,
 * writing at most ${len} bytes to ${out} (which may be ${s}).  Returns 0
 * and sets *${out_len}, or -1 on an invalid escape.
 */
int
pvm_text_decode_escape(const char *s, size_t len, char *out, size_t *out_len)
{
	const char *end = s + len;
	char *o = out;
	unsigned c;
	int h1, h2;

	while (s < end) {
		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		s++;
		if (s >= end)
			return -1;	/* "Trailing \ in string" */
		switch (*s++) {
		case '\n': break;
		case '\\': *o++ = '\\'; break;
		case '\'': *o++ = '\''; break;
		case '"': *o++ = '"'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\014'; break;
		case 't': *o++ = '\t'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 'v': *o++ = '\013'; break;
		case 'a': *o++ = '\007'; break;
		case '0': case '1': case '2': case '3':
		case '4': case '5': case '6': case '7':
			c = (unsigned)(s[-1] - '0');
			if (s < end && *s >= '0' && *s <= '7') {
				c = (c << 3) + (unsigned)(*s++ - '0');
				if (s < end && *s >= '0' && *s <= '7')
					c = (c << 3) + (unsigned)(*s++ - '0');
			}
			/* 3.11 keeps the low byte of \400-\777. */
			*o++ = (char)(c & 0xFF);
			break;
		case 'x':
			if (s + 1 < end && (h1 = hex_value((unsigned char)s[0])) >= 0 &&
			    (h2 = hex_value((unsigned char)s[1])) >= 0) {
				*o++ = (char)((h1 << 4) | h2);
				s += 2;
				break;
			}
			return -1;	/* "invalid \x escape" */
		default:
			/* Unknown escapes stay as written (a warning only). */
			*o++ = '\\';
			s--;
			break;
		}
	}
	*out_len = (size_t)(o - out);
	return 0;
}

static char *
put_wtf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xC0 | (cp >> 6));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xE0 | (cp >> 12));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (char)(0xF0 | (cp >> 18));
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	}
	return o;
}

/**
 * pvm_text_decode_raw_unicode_escape(s, len, out, out_len):
 * Decode ${s} as raw-unicode-escape (the UNICODE opcode) into WTF-8 at
 * ${out}, which must hold 2 * ${len} bytes, or be NULL to only validate.
 * Returns 0 and sets *${out_len}, or -1 on an invalid escape.
 */
int
pvm_text_decode_raw_unicode_escape(const char *s, size_t len, char *out,
    size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	char buf[4], *o = out;
	size_t total = 0;
	unsigned count;
	uint32_t cp;
	int h;

	while (p < end) {
		char *w = out != NULL ? o : buf;

		cp = *p++;
		/* Only \u and \U escape; any other byte is its own code
		 * point (latin-1), a backslash included. */
		if (cp == '\\' && p < end && (*p == 'u' || *p == 'U')) {
			count = *p++ == 'u' ? 4 : 8;
			for (cp = 0; count > 0; count--) {
				if (p >= end || (h = hex_value(*p)) < 0)
					return -1;
				cp = (cp << 4) | (uint32_t)h;
				p++;
			}
			if (cp > 0x10FFFF)
				return -1;
		} else if (cp == '\\' && p < end) {
			/* "\\x": the backslash and the next byte both stay. */
			char *next = put_wtf8(w, '\\');

			total += (size_t)(next - w);
			if (out != NULL)
				o = next;
			w = out != NULL ? o : buf;
			cp = *p++;
		}
		{
			char *next = put_wtf8(w, cp);

			total += (size_t)(next - w);
			if (out != NULL)
				o = next;
		}
	}
	*out_len = total;
	return 0;
}
