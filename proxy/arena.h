#ifndef ARENA_H
#define ARENA_H

/*
 * arena: bounded memory for the analysis of one message.
 *
 * Two facilities, both charged against a byte bound the caller passes in:
 * an arena (chunks of bump-allocated memory, released all at once, so one
 * message cannot fragment the heap for the next) and growable arrays.
 * Failures follow pvm_memo_put(): 0 on success, -1 when malloc fails, -2
 * when the bound would be passed; nothing changes on failure.
 */

#include <stddef.h>
#include <stdint.h>

struct arena;

/**
 * arena_new():
 * An empty arena, or NULL on allocation failure.
 */
struct arena *arena_new(void);

/**
 * arena_free(a):
 * Release ${a} and all memory allocated from it; NULL is a no-op.
 */
void arena_free(struct arena *a);

/**
 * arena_alloc(a, size, max_bytes, p):
 * Point *${p} at ${size} bytes from ${a}, aligned for any type, valid until
 * arena_reset() or arena_free().  Fails with -2 if ${a} would then hold
 * more than ${max_bytes} bytes.
 */
int arena_alloc(struct arena *a, size_t size, uint64_t max_bytes, void **p);

/**
 * arena_strdup(a, s, len, max_bytes, p):
 * As arena_alloc(), for a NUL-terminated copy of the ${len} bytes at ${s}
 * (which may hold NUL bytes).
 */
int arena_strdup(struct arena *a, const char *s, size_t len,
    uint64_t max_bytes, char **p);

/**
 * arena_bytes(a):
 * The bytes ${a} holds from the heap (chunks, headers included).
 */
uint64_t arena_bytes(const struct arena *a);

/**
 * arena_reset(a):
 * Release everything allocated from ${a}, keeping one standard chunk for
 * the next message.
 */
void arena_reset(struct arena *a);

/**
 * arena_grow_array(array, cap, need, elem_size, charged, max_bytes):
 * Make the heap array *${array} of *${cap} elements of ${elem_size} bytes
 * hold at least ${need}, doubling its capacity.  The growth is added to
 * *${charged}, which may not pass ${max_bytes}.
 */
int arena_grow_array(void **array, size_t *cap, size_t need, size_t elem_size,
    uint64_t *charged, uint64_t max_bytes);

#endif /* !ARENA_H */
