#ifndef HASHER_H
#define HASHER_H

/*
 * hasher: SHA-256 of byte strings on a worker thread, so that the event
 * loop does not spend its time hashing large messages for the audit log
 * (SHA-256 runs at about 1 GB/s with SHA-NI: 0.9 ms a MiB, most of what a
 * large message costs the proxy).  Jobs are copies of the bytes, hashed in
 * the order given and handed back in that order; the bytes held by jobs
 * not yet taken back are bounded, and a job over the bound is refused (the
 * caller hashes it itself).  Everything but the worker runs on the thread
 * that created the hasher.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "sha256.h"

struct hasher;

/**
 * hasher_new(max_bytes, err):
 * Start a worker that holds at most ${max_bytes} bytes of jobs at a time.
 * Returns the hasher, or NULL with ${err} set (out of memory, or no
 * thread could be started).
 */
struct hasher *hasher_new(size_t max_bytes, struct pw_error *err);

/**
 * hasher_free(h):
 * Stop the worker (after the jobs it has) and release ${h} with every job
 * not taken back; NULL is a no-op.
 */
void hasher_free(struct hasher *h);

/**
 * hasher_fd(h):
 * A descriptor that polls readable when a job is done; hasher_take()
 * clears it.
 */
int hasher_fd(const struct hasher *h);

/**
 * hasher_submit(h, bytes, len, id):
 * Queue a copy of the ${len} bytes at ${bytes}; *${id} is set to the job's
 * number (1, 2, ... in submission order).  Returns 0, or -1 if the job
 * would take the bytes held past the bound, or out of memory (nothing is
 * queued then).
 */
int hasher_submit(struct hasher *h, const uint8_t *bytes, size_t len,
    uint64_t *id);

/**
 * hasher_take(h, wait, id, hex):
 * Take back the oldest job if it is done: its number in *${id} and its
 * hash in ${hex} ("" if it could not be computed).  With ${wait}, wait
 * for it to be done.  Returns 1 if a job was taken, 0 if none is done
 * (or, with ${wait}, none is queued).
 */
int hasher_take(struct hasher *h, bool wait, uint64_t *id,
    char hex[SHA256_HEX_SIZE]);

/**
 * hasher_pending(h):
 * The number of jobs submitted and not yet taken back.
 */
size_t hasher_pending(const struct hasher *h);

#endif /* !HASHER_H */
