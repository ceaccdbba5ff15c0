#include <openssl/evp.h>

#include "sha256.h"

/* Per thread: EVP_Digest() with EVP_sha256() fetches the implementation
 * and allocates a context on every call, which costs more than hashing a
 * small message; an EVP_MD_CTX may not be shared between threads. */
static _Thread_local EVP_MD *sha256_md;
static _Thread_local EVP_MD_CTX *sha256_ctx;

/**
 * sha256_hex(bytes, len, hex):
 * Write the SHA-256 of the ${len} bytes at ${bytes} into ${hex}.  Returns
 * 0, or -1 if OpenSSL failed (out of memory).
 */
int
sha256_hex(const uint8_t *bytes, size_t len, char hex[SHA256_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0, i;

	if (sha256_md == NULL &&
	    (sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return -1;
	if (sha256_ctx == NULL && (sha256_ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL) != 1 ||
	    EVP_DigestUpdate(sha256_ctx, bytes, len) != 1 ||
	    EVP_DigestFinal_ex(sha256_ctx, md, &md_len) != 1 || md_len != 32)
		return -1;
	for (i = 0; i < md_len; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0x0f];
	}
	hex[64] = '\0';
	return 0;
}

/**
 * sha256_thread_done():
 * Release the calling thread's state; a thread that called sha256_hex()
 * calls this before it exits (the main thread may leave it to the end of
 * the process).
 */
void
sha256_thread_done(void)
{
	EVP_MD_CTX_free(sha256_ctx);
	EVP_MD_free(sha256_md);
	sha256_ctx = NULL;
	sha256_md = NULL;
}
