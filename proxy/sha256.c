/* The SHA256_* functions are deprecated in OpenSSL 3 in favour of EVP,
 * but EVP_DigestInit/Final allocate, free and cleanse a provider context
 * on every message, which costs more than hashing a 200-byte one; these
 * hash on the stack, with the same assembly (SHA-NI where the CPU has
 * it). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "sha256.h"

#define BYTES_OF(b) (UINT64_C(0x0101010101010101) * (b))

/* The 8 lower-case hex digits of the 4 bytes at ${p}, at ${out}: a digest
 * per message, so a word at a time rather than a nibble. */
static void
hex_of_4(const unsigned char *p, char *out)
{
	uint64_t x = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 |
	    (uint64_t)p[2] << 8 | p[3], above_9;

	/* One nibble per byte, the first in the most significant. */
	x = (x & 0xffff0000U) << 16 | (x & 0xffffU);
	x = (x & UINT64_C(0x0000ff000000ff00)) << 8 |
	    (x & UINT64_C(0x000000ff000000ff));
	x = (x & UINT64_C(0x00f000f000f000f0)) << 4 |
	    (x & UINT64_C(0x000f000f000f000f));
	/* A nibble above 9 carries into bit 4 of its byte when 6 is
	 * added; no byte overflows into the next. */
	above_9 = ((x + BYTES_OF(6)) >> 4) & BYTES_OF(1);
	x += BYTES_OF('0') + above_9 * ('a' - '0' - 10);
	/* Spelled out, so that the compiler makes one swapped store. */
	out[0] = (char)(x >> 56);
	out[1] = (char)(x >> 48);
	out[2] = (char)(x >> 40);
	out[3] = (char)(x >> 32);
	out[4] = (char)(x >> 24);
	out[5] = (char)(x >> 16);
	out[6] = (char)(x >> 8);
	out[7] = (char)x;
}

/**
 * sha256_hex(bytes, len, hex):
 * Write the SHA-256 of the ${len} bytes at ${bytes} into ${hex}.  Returns
 * 0, or -1 if OpenSSL failed (out of memory).
 */
int
sha256_hex(const uint8_t *bytes, size_t len, char hex[SHA256_HEX_SIZE])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX ctx;
	unsigned int i;

	if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, bytes, len) != 1 ||
	    SHA256_Final(md, &ctx) != 1)
		return -1;
	for (i = 0; i < SHA256_DIGEST_LENGTH; i += 4)
		hex_of_4(md + i, hex + 2 * i);
	hex[64] = '\0';
	return 0;
}
