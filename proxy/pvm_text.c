#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
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

/*
 * Long runs are validated in blocks of 16, 32 or 64 bytes with no branch
 * per character.  Every byte is checked against the three before it
 * (loaded from memory, one to three bytes back), so a block needs no state
 * from the one before.  A block may cut the last character; utf8_blocks()
 * returns that character's start and the scalar code checks it again.
 * The implementations, best first: the lookup-table method of Keiser and
 * Lemire ("Validating UTF-8 in less than one instruction per byte", 2021,
 * as simdjson has it) with AVX-512BW, AVX2 or SSSE3, chosen at startup
 * from what the CPU has (function-level target attributes, so no build
 * flags); the same rules as plain comparisons with the compiler's generic
 * vectors (SSE2 on x86-64 and NEON on aarch64 are in the base ABI); else
 * none, and the scalar code does it all.
 */
#if defined(__GNUC__) && defined(__x86_64__)
#define UTF8_X86 1
#endif
#if defined(__GNUC__) && (defined(__SSE2__) || defined(__aarch64__))
#define UTF8_VECTOR 1
#endif

#define UTF8_BLOCKS_MIN 32	/* runs shorter than this stay scalar */

typedef size_t utf8_blocks_fn(const uint8_t *p, size_t i, size_t n,
    bool surrogates);

#if defined(UTF8_X86) || defined(UTF8_VECTOR)
/* After blocks that found no error and ended at ${i}: the start of a
 * character they cut, or ${i}. */
static size_t
utf8_cut(const uint8_t *p, size_t i)
{
	if (p[i - 1] >= 0xC0)
		return i - 1;
	if (p[i - 2] >= 0xE0)
		return i - 2;
	if (p[i - 3] >= 0xF0)
		return i - 3;
	return i;
}

/* Whether the bytes before ${i} leave a character open (then an ASCII
 * block after them is an error, and must not be skipped). */
static inline bool
utf8_open_before(const uint8_t *p, size_t i)
{
	return p[i - 1] >= 0xC0 || p[i - 2] >= 0xE0 || p[i - 3] >= 0xF0;
}
#endif

#ifdef UTF8_X86
#include <immintrin.h>

/* For the error bits of the lookup tables, see the paper. */
#define U8_TOO_SHORT	0x01
#define U8_TOO_LONG	0x02
#define U8_OVERLONG_3	0x04
#define U8_TOO_LARGE	0x08
#define U8_SURROGATE	0x10
#define U8_OVERLONG_2	0x20
#define U8_TOO_LARGE_1000 0x40
#define U8_OVERLONG_4	0x40
#define U8_TWO_CONTS	0x80
#define U8_CARRY	(U8_TOO_SHORT | U8_TOO_LONG | U8_TWO_CONTS)

/* By the high nibble of the byte before. */
static const uint8_t utf8_byte1_high[16] = {
	U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG,
	U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG,
	U8_TWO_CONTS, U8_TWO_CONTS, U8_TWO_CONTS, U8_TWO_CONTS,
	U8_TOO_SHORT | U8_OVERLONG_2,
	U8_TOO_SHORT,
	U8_TOO_SHORT | U8_OVERLONG_3 | U8_SURROGATE,
	U8_TOO_SHORT | U8_TOO_LARGE | U8_TOO_LARGE_1000 | U8_OVERLONG_4,
};

/* By the low nibble of the byte before; [1] without U8_SURROGATE, for
 * surrogatepass. */
static const uint8_t utf8_byte1_low[2][16] = {
#define U8_LOW(surrogate) {						\
	U8_CARRY | U8_OVERLONG_3 | U8_OVERLONG_2 | U8_OVERLONG_4,	\
	U8_CARRY | U8_OVERLONG_2,					\
	U8_CARRY,							\
	U8_CARRY,							\
	U8_CARRY | U8_TOO_LARGE,					\
	U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,			\
	U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,			\
	U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,			\
	U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,			\
	U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,			\
	U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,			\
	U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,			\
	U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,			\
	U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000 | (surrogate),	\
	U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,			\
	U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,			\
}
	U8_LOW(U8_SURROGATE), U8_LOW(0),
#undef U8_LOW
};

/* By the high nibble of the byte itself. */
static const uint8_t utf8_byte2_high[16] = {
	U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT,
	U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT,
	U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_OVERLONG_3 |
	    U8_TOO_LARGE_1000 | U8_OVERLONG_4,
	U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_OVERLONG_3 |
	    U8_TOO_LARGE,
	U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_SURROGATE |
	    U8_TOO_LARGE,
	U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_SURROGATE |
	    U8_TOO_LARGE,
	U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT,
};

#define UTF8_SSSE3 __attribute__((target("ssse3")))

/* Non-zero bytes where ${in} breaks a rule, given the bytes 1, 2 and 3
 * before each. */
static inline UTF8_SSSE3 __m128i
utf8_check16(__m128i in, __m128i p1, __m128i p2, __m128i p3, __m128i t1h,
    __m128i t1l, __m128i t2h)
{
	const __m128i nibble = _mm_set1_epi8(0x0F);
	__m128i sc, must23;

	sc = _mm_and_si128(_mm_and_si128(
	    _mm_shuffle_epi8(t1h, _mm_and_si128(_mm_srli_epi16(p1, 4), nibble)),
	    _mm_shuffle_epi8(t1l, _mm_and_si128(p1, nibble))),
	    _mm_shuffle_epi8(t2h, _mm_and_si128(_mm_srli_epi16(in, 4), nibble)));
	/* Third and fourth bytes of a character: the high bit set. */
	must23 = _mm_or_si128(_mm_subs_epu8(p2, _mm_set1_epi8(0xE0 - 0x80)),
	    _mm_subs_epu8(p3, _mm_set1_epi8(0xF0 - 0x80)));
	return _mm_xor_si128(_mm_and_si128(must23,
	    _mm_set1_epi8((char)-128)), sc);
}

static inline UTF8_SSSE3 __m128i
utf8_at16(const uint8_t *p, __m128i t1h, __m128i t1l, __m128i t2h)
{
	return utf8_check16(_mm_loadu_si128((const __m128i *)(const void *)p),
	    _mm_loadu_si128((const __m128i *)(const void *)(p - 1)),
	    _mm_loadu_si128((const __m128i *)(const void *)(p - 2)),
	    _mm_loadu_si128((const __m128i *)(const void *)(p - 3)),
	    t1h, t1l, t2h);
}

static UTF8_SSSE3 size_t
utf8_blocks_ssse3(const uint8_t *p, size_t i, size_t n, bool surrogates)
{
	const __m128i t1h = _mm_loadu_si128((const void *)utf8_byte1_high);
	const __m128i t1l = _mm_loadu_si128(
	    (const void *)utf8_byte1_low[surrogates]);
	const __m128i t2h = _mm_loadu_si128((const void *)utf8_byte2_high);
	__m128i err = _mm_setzero_si128(), any;
	uint8_t first[3 + 16] = { 0 };

	/* At a character boundary the bytes before ask nothing of the
	 * bytes after: zeros do as well when ${p} has none. */
	if (i < 3) {
		memcpy(first + 3, p + i, 16);
		err = utf8_at16(first + 3, t1h, t1l, t2h);
		i += 16;
	}
	for (; i + 64 <= n; i += 64) {
		any = _mm_or_si128(_mm_or_si128(
		    _mm_loadu_si128((const void *)(p + i)),
		    _mm_loadu_si128((const void *)(p + i + 16))),
		    _mm_or_si128(_mm_loadu_si128((const void *)(p + i + 32)),
		    _mm_loadu_si128((const void *)(p + i + 48))));
		if (_mm_movemask_epi8(any) == 0 && !utf8_open_before(p, i))
			continue;
		err = _mm_or_si128(err, utf8_at16(p + i, t1h, t1l, t2h));
		err = _mm_or_si128(err, utf8_at16(p + i + 16, t1h, t1l, t2h));
		err = _mm_or_si128(err, utf8_at16(p + i + 32, t1h, t1l, t2h));
		err = _mm_or_si128(err, utf8_at16(p + i + 48, t1h, t1l, t2h));
	}
	for (; i + 16 <= n; i += 16)
		err = _mm_or_si128(err, utf8_at16(p + i, t1h, t1l, t2h));
	if (_mm_movemask_epi8(_mm_cmpeq_epi8(err, _mm_setzero_si128())) !=
	    0xFFFF)
		return SIZE_MAX;
	return utf8_cut(p, i);
}

#define UTF8_AVX2 __attribute__((target("avx2")))

static inline UTF8_AVX2 __m256i
utf8_at32(const uint8_t *p, __m256i t1h, __m256i t1l, __m256i t2h)
{
	const __m256i nibble = _mm256_set1_epi8(0x0F);
	__m256i in = _mm256_loadu_si256((const void *)p);
	__m256i p1 = _mm256_loadu_si256((const void *)(p - 1));
	__m256i p2 = _mm256_loadu_si256((const void *)(p - 2));
	__m256i p3 = _mm256_loadu_si256((const void *)(p - 3));
	__m256i sc, must23;

	sc = _mm256_and_si256(_mm256_and_si256(
	    _mm256_shuffle_epi8(t1h,
	    _mm256_and_si256(_mm256_srli_epi16(p1, 4), nibble)),
	    _mm256_shuffle_epi8(t1l, _mm256_and_si256(p1, nibble))),
	    _mm256_shuffle_epi8(t2h,
	    _mm256_and_si256(_mm256_srli_epi16(in, 4), nibble)));
	must23 = _mm256_or_si256(
	    _mm256_subs_epu8(p2, _mm256_set1_epi8(0xE0 - 0x80)),
	    _mm256_subs_epu8(p3, _mm256_set1_epi8(0xF0 - 0x80)));
	return _mm256_xor_si256(_mm256_and_si256(must23,
	    _mm256_set1_epi8((char)-128)), sc);
}

static UTF8_AVX2 size_t
utf8_blocks_avx2(const uint8_t *p, size_t i, size_t n, bool surrogates)
{
	const __m256i t1h = _mm256_broadcastsi128_si256(
	    _mm_loadu_si128((const void *)utf8_byte1_high));
	const __m256i t1l = _mm256_broadcastsi128_si256(
	    _mm_loadu_si128((const void *)utf8_byte1_low[surrogates]));
	const __m256i t2h = _mm256_broadcastsi128_si256(
	    _mm_loadu_si128((const void *)utf8_byte2_high));
	__m256i err = _mm256_setzero_si256(), any;
	uint8_t first[3 + 32] = { 0 };

	if (i < 3) {
		memcpy(first + 3, p + i, 32);
		err = utf8_at32(first + 3, t1h, t1l, t2h);
		i += 32;
	}
	for (; i + 64 <= n; i += 64) {
		any = _mm256_or_si256(_mm256_loadu_si256((const void *)(p + i)),
		    _mm256_loadu_si256((const void *)(p + i + 32)));
		if (_mm256_movemask_epi8(any) == 0 && !utf8_open_before(p, i))
			continue;
		err = _mm256_or_si256(err, utf8_at32(p + i, t1h, t1l, t2h));
		err = _mm256_or_si256(err,
		    utf8_at32(p + i + 32, t1h, t1l, t2h));
	}
	for (; i + 32 <= n; i += 32)
		err = _mm256_or_si256(err, utf8_at32(p + i, t1h, t1l, t2h));
	if (!_mm256_testz_si256(err, err))
		return SIZE_MAX;
	return utf8_cut(p, i);
}
#define UTF8_AVX512 __attribute__((target("avx512bw")))

static inline UTF8_AVX512 __m512i
utf8_at64(const uint8_t *p, __m512i t1h, __m512i t1l, __m512i t2h)
{
	const __m512i nibble = _mm512_set1_epi8(0x0F);
	__m512i in = _mm512_loadu_si512((const void *)p);
	__m512i p1 = _mm512_loadu_si512((const void *)(p - 1));
	__m512i p2 = _mm512_loadu_si512((const void *)(p - 2));
	__m512i p3 = _mm512_loadu_si512((const void *)(p - 3));
	__m512i sc, must23;

	sc = _mm512_and_si512(_mm512_and_si512(
	    _mm512_shuffle_epi8(t1h,
	    _mm512_and_si512(_mm512_srli_epi16(p1, 4), nibble)),
	    _mm512_shuffle_epi8(t1l, _mm512_and_si512(p1, nibble))),
	    _mm512_shuffle_epi8(t2h,
	    _mm512_and_si512(_mm512_srli_epi16(in, 4), nibble)));
	must23 = _mm512_or_si512(
	    _mm512_subs_epu8(p2, _mm512_set1_epi8(0xE0 - 0x80)),
	    _mm512_subs_epu8(p3, _mm512_set1_epi8(0xF0 - 0x80)));
	return _mm512_xor_si512(_mm512_and_si512(must23,
	    _mm512_set1_epi8((char)-128)), sc);
}

static UTF8_AVX512 size_t
utf8_blocks_avx512(const uint8_t *p, size_t i, size_t n, bool surrogates)
{
	const __m512i t1h = _mm512_broadcast_i32x4(
	    _mm_loadu_si128((const void *)utf8_byte1_high));
	const __m512i t1l = _mm512_broadcast_i32x4(
	    _mm_loadu_si128((const void *)utf8_byte1_low[surrogates]));
	const __m512i t2h = _mm512_broadcast_i32x4(
	    _mm_loadu_si128((const void *)utf8_byte2_high));
	const __m512i high = _mm512_set1_epi8((char)-128);
	__m512i err = _mm512_setzero_si512(), any;
	uint8_t first[3 + 64] = { 0 };

	if (i < 3) {
		if (n - i < 64)
			return utf8_blocks_avx2(p, i, n, surrogates);
		memcpy(first + 3, p + i, 64);
		err = utf8_at64(first + 3, t1h, t1l, t2h);
		i += 64;
	}
	for (; i + 128 <= n; i += 128) {
		/* Past what the hardware prefetcher fetches in time. */
		__builtin_prefetch(p + i + 1024);
		any = _mm512_or_si512(_mm512_loadu_si512((const void *)(p + i)),
		    _mm512_loadu_si512((const void *)(p + i + 64)));
		if (_mm512_test_epi8_mask(any, high) == 0 &&
		    !utf8_open_before(p, i))
			continue;
		err = _mm512_or_si512(err, utf8_at64(p + i, t1h, t1l, t2h));
		err = _mm512_or_si512(err,
		    utf8_at64(p + i + 64, t1h, t1l, t2h));
	}
	for (; i + 64 <= n; i += 64)
		err = _mm512_or_si512(err, utf8_at64(p + i, t1h, t1l, t2h));
	if (_mm512_test_epi8_mask(err, err) != 0)
		return SIZE_MAX;
	/* The rest, shorter than a block, with the next size down. */
	i = utf8_cut(p, i);
	return n - i >= 32 ? utf8_blocks_avx2(p, i, n, surrogates) : i;
}
#endif /* x86-64 */

#ifdef UTF8_VECTOR
typedef uint8_t u8x16 __attribute__((vector_size(16)));

#define U8X16(x) ((u8x16){ x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x })

static inline u8x16
load16(const uint8_t *p)
{
	u8x16 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Non-zero bytes where ${b} breaks a rule, given the bytes 1, 2 and 3
 * before each, as plain comparisons (Unicode table 3-7); ${ed_hi} is the
 * highest byte allowed after 0xED (0xBF with surrogatepass, else 0x9F). */
static inline u8x16
utf8_vector_errors(const uint8_t *p, u8x16 ed_hi)
{
	u8x16 b = load16(p), p1 = load16(p - 1), p2 = load16(p - 2),
	    p3 = load16(p - 3);
	/* A continuation byte exactly where a lead byte asks for one. */
	u8x16 must = (u8x16)(p1 >= U8X16(0xC0)) | (u8x16)(p2 >= U8X16(0xE0)) |
	    (u8x16)(p3 >= U8X16(0xF0));
	u8x16 cont = (u8x16)((b & U8X16(0xC0)) == U8X16(0x80));
	u8x16 err = must ^ cont;

	/* Bytes that never appear: C0, C1 (overlong), F5-FF. */
	err |= (u8x16)((b & U8X16(0xFE)) == U8X16(0xC0)) |
	    (u8x16)(b >= U8X16(0xF5));
	/* Second bytes: overlong E0 and F0 forms, past U+10FFFF after F4,
	 * surrogates after ED. */
	err |= (u8x16)(p1 == U8X16(0xE0)) & (u8x16)(b < U8X16(0xA0));
	err |= (u8x16)(p1 == U8X16(0xF0)) & (u8x16)(b < U8X16(0x90));
	err |= (u8x16)(p1 == U8X16(0xF4)) & (u8x16)(b > U8X16(0x8F));
	err |= (u8x16)(p1 == U8X16(0xED)) & (u8x16)(b > ed_hi);
	return err;
}

static size_t
utf8_blocks_vector(const uint8_t *p, size_t i, size_t n, bool surrogates)
{
	const u8x16 ed_hi = surrogates ? U8X16(0xBF) : U8X16(0x9F);
	u8x16 err = U8X16(0), any;
	uint8_t first[3 + 16] = { 0 };
	uint64_t w[2];

	if (i < 3) {
		memcpy(first + 3, p + i, 16);
		err = utf8_vector_errors(first + 3, ed_hi);
		i += 16;
	}
	for (; i + 64 <= n; i += 64) {
		any = (load16(p + i) | load16(p + i + 16) | load16(p + i + 32) |
		    load16(p + i + 48)) & U8X16(0x80);
		memcpy(w, &any, sizeof(w));
		if ((w[0] | w[1]) == 0 && !utf8_open_before(p, i))
			continue;
		err |= utf8_vector_errors(p + i, ed_hi);
		err |= utf8_vector_errors(p + i + 16, ed_hi);
		err |= utf8_vector_errors(p + i + 32, ed_hi);
		err |= utf8_vector_errors(p + i + 48, ed_hi);
	}
	for (; i + 16 <= n; i += 16)
		err |= utf8_vector_errors(p + i, ed_hi);
	memcpy(w, &err, sizeof(w));
	if ((w[0] | w[1]) != 0)
		return SIZE_MAX;
	return utf8_cut(p, i);
}
#endif /* generic vectors */

/* The implementations this build has, best first; NULL: scalar only. */
static utf8_blocks_fn *const utf8_blocks_all[] = {
#ifdef UTF8_X86
	utf8_blocks_avx512, utf8_blocks_avx2, utf8_blocks_ssse3,
#endif
#ifdef UTF8_VECTOR
	utf8_blocks_vector,
#endif
	NULL,
};

#define UTF8_BLOCKS_COUNT (sizeof(utf8_blocks_all) / sizeof(utf8_blocks_all[0]))

/* The best implementation the CPU can run. */
static size_t
utf8_blocks_best(void)
{
	size_t k = 0;

#ifdef UTF8_X86
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx512bw")) {
		k++;
		if (!__builtin_cpu_supports("avx2")) {
			k++;
			if (!__builtin_cpu_supports("ssse3"))
				k++;
		}
	}
#endif
	return k;
}

/* The one in use: set before main() and only changed by tests. */
static utf8_blocks_fn *utf8_blocks;

static void utf8_blocks_init(void) __attribute__((constructor));
static void
utf8_blocks_init(void)
{
	utf8_blocks = utf8_blocks_all[utf8_blocks_best()];
}

/**
 * pvm_text_utf8_impl(k):
 * Tests only: from now on validate long runs of UTF-8 with implementation
 * ${k} of this build (0 is the fastest; the last one is the scalar code
 * alone).  Returns 1 if it is in use now, 0 if the CPU cannot run it
 * (nothing changes), or -1 if there is no implementation ${k}: then the
 * default, the best the CPU can run, is back in use.
 */
int
pvm_text_utf8_impl(size_t k)
{
	if (k >= UTF8_BLOCKS_COUNT) {
		utf8_blocks_init();
		return -1;
	}
	if (k < utf8_blocks_best())
		return 0;
	utf8_blocks = utf8_blocks_all[k];
	return 1;
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
		if (n - i >= UTF8_BLOCKS_MIN && utf8_blocks != NULL &&
		    (i = utf8_blocks(p, i, n, surrogates)) == SIZE_MAX)
			return false;
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
	const uint8_t *p = (const uint8_t *)s;
	const uint8_t ed_hi = surrogates ? 0xBF : 0x9F;
	uint64_t word, high = 0;
	uint8_t c, lo, hi;
	size_t i = 0;

	/* What utf8_feed() does, for a whole string: one character at a
	 * time with no state between calls. */
	while (i < len) {
		if (len - i >= UTF8_BLOCKS_MIN && utf8_blocks != NULL &&
		    (i = utf8_blocks(p, i, len, surrogates)) == SIZE_MAX)
			return false;
		if (i == len)
			break;
		if (p[i] < 0x80) {
			/* ASCII: whole words, then straight to the first
			 * byte that is not. */
			while (len - i >= 8) {
				memcpy(&word, p + i, 8);
				if ((high = word & HIGH_BITS) != 0)
					break;
				i += 8;
			}
			if (len - i >= 8) {
				i += first_high_byte(high);
			} else {
				while (i < len && p[i] < 0x80)
					i++;
				if (i == len)
					break;
			}
		}
		c = p[i];
		if (c < 0xC2 || c > 0xF4) {
			return false;
		} else if (c < 0xE0) {
			if (len - i < 2 || (p[i + 1] & 0xC0) != 0x80)
				return false;
			i += 2;
		} else if (c < 0xF0) {
			lo = c == 0xE0 ? 0xA0 : 0x80;
			hi = c == 0xED ? ed_hi : 0xBF;
			if (len - i < 3 || p[i + 1] < lo || p[i + 1] > hi ||
			    (p[i + 2] & 0xC0) != 0x80)
				return false;
			i += 3;
		} else {
			lo = c == 0xF0 ? 0x90 : 0x80;
			hi = c == 0xF4 ? 0x8F : 0xBF;
			if (len - i < 4 || p[i + 1] < lo || p[i + 1] > hi ||
			    (p[i + 2] & 0xC0) != 0x80 ||
			    (p[i + 3] & 0xC0) != 0x80)
				return false;
			i += 4;
		}
	}
	return true;
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
