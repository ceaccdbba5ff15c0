#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* Allocations above a quarter of this get a chunk of their own. */
#define CHUNK_BYTES (64 * 1024)

/**
 * arena_new():
 * An empty arena, or NULL on allocation failure.
 */
struct arena *
arena_new(void)
{
	return calloc(1, sizeof(struct arena));
}

static void
chunks_free(struct arena_chunk *c)
{
	struct arena_chunk *next;

	for (; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
}

/**
 * arena_free(a):
 * Release ${a} and all memory allocated from it; NULL is a no-op.
 */
void
arena_free(struct arena *a)
{
	if (a == NULL)
		return;
	chunks_free(a->top);
	free(a);
}

/**
 * arena_bytes(a):
 * The bytes ${a} holds from the heap (chunks, headers included).
 */
uint64_t
arena_bytes(const struct arena *a)
{
	return a->bytes;
}

/**
 * arena_alloc(a, size, max_bytes, p):
 * Point *${p} at ${size} bytes from ${a}, aligned for any type, valid until
 * arena_reset() or arena_free().  Fails with -2 if ${a} would then hold
 * more than ${max_bytes} bytes.
 */
int
arena_alloc(struct arena *a, size_t size, uint64_t max_bytes, void **p)
{
	const size_t align = _Alignof(max_align_t);
	struct arena_chunk *c = a->top;
	size_t chunk_size;

	if (size > SIZE_MAX - align - sizeof(*c))
		return -1;
	size = size == 0 ? align : (size + align - 1) / align * align;
	if (c == NULL || c->size - c->used < size) {
		chunk_size = size > CHUNK_BYTES / 4 ? size : CHUNK_BYTES;
		if (sizeof(*c) + chunk_size > max_bytes ||
		    a->bytes > max_bytes - sizeof(*c) - chunk_size)
			return -2;
		if ((c = malloc(sizeof(*c) + chunk_size)) == NULL)
			return -1;
		c->size = chunk_size;
		c->used = 0;
		if (a->top == NULL || chunk_size == CHUNK_BYTES) {
			c->next = a->top;
			a->top = c;
		} else {
			/* Keep the partly used chunk on top for the small
			 * allocations that follow a big one. */
			c->next = a->top->next;
			a->top->next = c;
		}
		a->bytes += sizeof(*c) + chunk_size;
	}
	*p = (char *)c->data + c->used;
	c->used += size;
	return 0;
}

/**
 * arena_strdup(a, s, len, max_bytes, p):
 * As arena_alloc(), for a NUL-terminated copy of the ${len} bytes at ${s}
 * (which may hold NUL bytes).
 */
int
arena_strdup(struct arena *a, const char *s, size_t len, uint64_t max_bytes,
    char **p)
{
	void *q;
	int r;

	if (len == SIZE_MAX)
		return -1;
	if ((r = arena_alloc(a, len + 1, max_bytes, &q)) != 0)
		return r;
	if (len > 0)
		memcpy(q, s, len);
	((char *)q)[len] = '\0';
	*p = q;
	return 0;
}

/**
 * arena_reset(a):
 * Release everything allocated from ${a}, keeping one standard chunk for
 * the next message.
 */
void
arena_reset(struct arena *a)
{
	struct arena_chunk *keep = a->top;

	if (keep == NULL)
		return;
	if (keep->size != CHUNK_BYTES) {
		chunks_free(keep);
		a->top = NULL;
		a->bytes = 0;
		return;
	}
	chunks_free(keep->next);
	keep->next = NULL;
	keep->used = 0;
	a->bytes = sizeof(*keep) + keep->size;
}

/**
 * arena_grow_array(array, cap, need, elem_size, charged, max_bytes):
 * Make the heap array *${array} of *${cap} elements of ${elem_size} bytes
 * hold at least ${need}, doubling its capacity.  The growth is added to
 * *${charged}, which may not pass ${max_bytes}.
 */
int
arena_grow_array(void **array, size_t *cap, size_t need, size_t elem_size,
    uint64_t *charged, uint64_t max_bytes)
{
	size_t new_cap;
	uint64_t more;
	void *p;

	if (need <= *cap)
		return 0;
	new_cap = *cap ? *cap : 16;
	while (new_cap < need) {
		if (new_cap > SIZE_MAX / 2 / elem_size)
			return -1;
		new_cap *= 2;
	}
	more = (uint64_t)(new_cap - *cap) * elem_size;
	if (more > max_bytes || *charged > max_bytes - more)
		return -2;
	if ((p = realloc(*array, new_cap * elem_size)) == NULL)
		return -1;
	*charged += more;
	*array = p;
	*cap = new_cap;
	return 0;
}
