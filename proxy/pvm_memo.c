#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pvm_memo.h"

/* Past these sizes a cleared memo gives its memory back, so that one big
 * message does not make every small one after it pay for it. */
#define DENSE_KEEP_MAX (1U << 16)
#define SLOTS_KEEP_MAX (1U << 12)

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static struct pvm_memo_slot *
slot_find(const struct pvm_memo *m, uint64_t key)
{
	size_t i;

	for (i = mix64(key) & (m->slots_cap - 1);; i = (i + 1) & (m->slots_cap - 1)) {
		struct pvm_memo_slot *s = &m->slots[i];

		if (s->generation != m->generation || s->key == key)
			return s;
	}
}

/**
 * pvm_memo_new():
 * An empty memo, or NULL on allocation failure.
 */
struct pvm_memo *
pvm_memo_new(void)
{
	struct pvm_memo *m = calloc(1, sizeof(*m));

	if (m != NULL)
		m->generation = 1;
	return m;
}

/**
 * pvm_memo_free(m):
 * Release ${m}; NULL is a no-op.  The values are not owned by the memo.
 */
void
pvm_memo_free(struct pvm_memo *m)
{
	if (m == NULL)
		return;
	free(m->dense);
	free(m->slots);
	free(m);
}

/**
 * pvm_memo_bytes(m):
 * Bytes of memory ${m} holds.
 */
size_t
pvm_memo_bytes(const struct pvm_memo *m)
{
	return m->dense_cap * sizeof(*m->dense) +
	    m->slots_cap * sizeof(*m->slots);
}

/* Rebuild the hash part with ${cap} slots, leaving out keys that the dense
 * part now covers (they are moved there). */
static int
slots_rebuild(struct pvm_memo *m, size_t cap)
{
	struct pvm_memo_slot *old = m->slots, *s;
	size_t old_cap = m->slots_cap, i;
	uint64_t old_gen = m->generation;

	if (cap == 0) {
		m->slots = NULL;
	} else if ((m->slots = calloc(cap, sizeof(*s))) == NULL) {
		m->slots = old;
		return -1;
	}
	m->slots_cap = cap;
	m->slots_live = 0;
	m->generation = 1;
	for (i = 0; i < old_cap; i++) {
		if (old[i].generation != old_gen)
			continue;
		if (old[i].key < m->dense_cap) {
			m->dense[old[i].key] = old[i].value;
			if (old[i].key >= m->dense_used)
				m->dense_used = (size_t)old[i].key + 1;
			continue;
		}
		s = slot_find(m, old[i].key);
		*s = old[i];
		s->generation = 1;
		m->slots_live++;
	}
	free(old);
	return 0;
}

/* Whether growing ${m} by ${more} bytes keeps it within ${max_bytes}. */
static bool
fits(const struct pvm_memo *m, size_t more, size_t max_bytes)
{
	size_t have = pvm_memo_bytes(m);

	return have <= max_bytes && more <= max_bytes - have;
}

/**
 * pvm_memo_put(m, key, value, max_bytes):
 * Store ${value} (not NULL) at ${key}, replacing any value there.  Returns
 * 0, -1 on allocation failure, or -2 if the memo would grow past
 * ${max_bytes} bytes; ${m} is unchanged on failure.
 */
int
pvm_memo_put(struct pvm_memo *m, uint64_t key, void *value, size_t max_bytes)
{
	struct pvm_memo_slot *s;
	size_t new_cap;
	void **dense;

	if (key >= m->dense_cap && key <= 2 * (uint64_t)m->live + 64) {
		/* Dense enough: grow the array to cover it. */
		new_cap = m->dense_cap ? m->dense_cap * 2 : 64;
		if (new_cap <= key)
			new_cap = (size_t)key + 1;
		if (!fits(m, (new_cap - m->dense_cap) * sizeof(*dense), max_bytes))
			return -2;
		if ((dense = realloc(m->dense, new_cap * sizeof(*dense))) == NULL)
			return -1;
		memset(dense + m->dense_cap, 0,
		    (new_cap - m->dense_cap) * sizeof(*dense));
		m->dense = dense;
		m->dense_cap = new_cap;
		if (m->slots_live > 0 && slots_rebuild(m, m->slots_cap) < 0)
			return -1;
	}
	if (pvm_memo_put_dense(m, key, value))
		return 0;
	if ((m->slots_live + 1) * 2 > m->slots_cap) {
		new_cap = m->slots_cap ? m->slots_cap * 2 : 16;
		if (!fits(m, (new_cap - m->slots_cap) * sizeof(*s), max_bytes))
			return -2;
		if (slots_rebuild(m, new_cap) < 0)
			return -1;
	}
	s = slot_find(m, key);
	if (s->generation != m->generation) {
		s->generation = m->generation;
		s->key = key;
		m->slots_live++;
		m->live++;
	}
	s->value = value;
	return 0;
}

/**
 * pvm_memo_get(m, key):
 * The value at ${key}, or NULL.
 */
void *
pvm_memo_get(const struct pvm_memo *m, uint64_t key)
{
	struct pvm_memo_slot *s;

	if (key < m->dense_cap)
		return m->dense[key];
	if (m->slots_live == 0)
		return NULL;
	s = slot_find(m, key);
	return s->generation == m->generation ? s->value : NULL;
}

/**
 * pvm_memo_rewrite(m, fn, cookie):
 * Replace every value v in ${m} by ${fn}(v, ${cookie}), which must not
 * return NULL.
 */
void
pvm_memo_rewrite(struct pvm_memo *m, void *(*fn)(void *, void *),
    void *cookie)
{
	size_t i;

	for (i = 0; i < m->dense_used; i++)
		if (m->dense[i] != NULL)
			m->dense[i] = fn(m->dense[i], cookie);
	for (i = 0; i < m->slots_cap; i++)
		if (m->slots[i].generation == m->generation)
			m->slots[i].value = fn(m->slots[i].value, cookie);
}

/**
 * pvm_memo_clear(m):
 * Remove every entry, in time proportional to what was stored.
 */
void
pvm_memo_clear(struct pvm_memo *m)
{
	if (m->dense_cap > DENSE_KEEP_MAX) {
		free(m->dense);
		m->dense = NULL;
		m->dense_cap = 0;
	} else if (m->dense_used > 0) {
		memset(m->dense, 0, m->dense_used * sizeof(*m->dense));
	}
	m->dense_used = 0;
	if (m->slots_cap > SLOTS_KEEP_MAX) {
		free(m->slots);
		m->slots = NULL;
		m->slots_cap = 0;
	}
	m->generation++;
	m->slots_live = 0;
	m->live = 0;
}
