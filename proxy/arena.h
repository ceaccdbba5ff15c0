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

/*
 * The layout is in the header only so that arena_alloc_fast() can bump the
 * pointer inline: the pvm allocates a value per opcode, and a call across
 * translation units for each costs more than the allocation itself.  Only
 * arena.c and arena_alloc_fast() touch the fields.
 */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct arena_chunk *top;	/* where small allocations are bumped */
	uint64_t bytes;
};

/* arena_alloc_fast() only serves sizes up to this. */
#define ARENA_FAST_MAX_BYTES 4096

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
 * arena_round(size):
 * The bytes an allocation of ${size} takes from a chunk.
 */
static inline size_t
arena_round(size_t size)
{
	const size_t align = _Alignof(max_align_t);

	return size == 0 ? align : (size + align - 1) / align * align;
}

/**
 * arena_alloc_fast(a, size):
 * What arena_alloc() would return for ${size} bytes when that fits in the
 * current chunk (so no bound can be passed), or NULL when arena_alloc()
 * must be called instead.
 */
static inline void *
arena_alloc_fast(struct arena *a, size_t size)
{
	struct arena_chunk *c = a->top;
	void *p;

	if (c == NULL || size > ARENA_FAST_MAX_BYTES)
		return NULL;
	size = arena_round(size);
	if (c->size - c->used < size)
		return NULL;
	p = (char *)c->data + c->used;
	c->used += size;
	return p;
}

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
