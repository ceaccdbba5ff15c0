#ifndef SHA256_H
#define SHA256_H

/*
 * sha256: the SHA-256 of a byte string as lower-case hex, the way the
 * audit log and `picklewall scan` print it ("sha256").  Callable from any
 * thread; it keeps no state between calls.
 */

#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_SIZE 65	/* 64 digits and a NUL */

/**
 * sha256_hex(bytes, len, hex):
 * Write the SHA-256 of the ${len} bytes at ${bytes} into ${hex}.  Returns
 * 0, or -1 if OpenSSL failed (out of memory).
 */
int sha256_hex(const uint8_t *bytes, size_t len, char hex[SHA256_HEX_SIZE]);

#endif /* !SHA256_H */
