#ifndef PVM_MEMO_H
#define PVM_MEMO_H

/*
 * pvm_memo: the unpickler's memo, index -> value, part of the pvm module.
 *
 * Indices are sparse up to 2^64 (LONG_BINPUT, text PUT), so a plain array
 * sized by index would let five bytes of pickle ask for gigabytes.  Real
 * pickles use small sequential indices, though, so those live in a dense
 * array kept within a constant factor of the number of entries, and only
 * the rest go to a hash map.  Memory stays O(entries) either way.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The layout is in the header only so that the dense part can be read and
 * written inline (pvm_memo_get_fast(), pvm_memo_put_dense(),
 * pvm_memo_len()): BINPUT, MEMOIZE and BINGET run once per value in real
 * pickles.  Only pvm_memo.c and those functions touch the fields.
 */
struct pvm_memo_slot {
	uint64_t key;
	void *value;
	uint64_t generation;	/* live iff equal to the memo's generation */
};

struct pvm_memo {
	void **dense;		/* indices [0, dense_cap) */
	size_t dense_cap;
	size_t dense_used;	/* indices at or above this are all NULL */
	struct pvm_memo_slot *slots; /* the rest; cap is a power of two */
	size_t slots_cap, slots_live;
	uint64_t generation;
	size_t live;
};

/**
 * pvm_memo_new():
 * An empty memo, or NULL on allocation failure.
 */
struct pvm_memo *pvm_memo_new(void);

/**
 * pvm_memo_free(m):
 * Release ${m}; NULL is a no-op.  The values are not owned by the memo.
 */
void pvm_memo_free(struct pvm_memo *m);

/**
 * pvm_memo_put(m, key, value, max_bytes):
 * Store ${value} (not NULL) at ${key}, replacing any value there.  Returns
 * 0, -1 on allocation failure, or -2 if the memo would grow past
 * ${max_bytes} bytes; ${m} is unchanged on failure.
 */
int pvm_memo_put(struct pvm_memo *m, uint64_t key, void *value,
    size_t max_bytes);

/**
 * pvm_memo_get(m, key):
 * The value at ${key}, or NULL.
 */
void *pvm_memo_get(const struct pvm_memo *m, uint64_t key);

/**
 * pvm_memo_get_fast(m, key):
 * As pvm_memo_get(), with the dense part read inline.
 */
static inline void *
pvm_memo_get_fast(const struct pvm_memo *m, uint64_t key)
{
	if (key < m->dense_cap)
		return m->dense[key];
	return pvm_memo_get(m, key);
}

/**
 * pvm_memo_put_dense(m, key, value):
 * If ${key} is in the dense part, do what pvm_memo_put() does (which cannot
 * fail there, nor change pvm_memo_bytes()) and return true; otherwise
 * return false and leave ${m} unchanged.
 */
static inline bool
pvm_memo_put_dense(struct pvm_memo *m, uint64_t key, void *value)
{
	if (key >= m->dense_cap)
		return false;
	if (m->dense[key] == NULL)
		m->live++;
	m->dense[key] = value;
	if (key >= m->dense_used)
		m->dense_used = (size_t)key + 1;
	return true;
}

/**
 * pvm_memo_len(m):
 * The number of occupied indices (CPython's memo_len, where MEMOIZE stores).
 */
static inline size_t
pvm_memo_len(const struct pvm_memo *m)
{
	return m->live;
}

/**
 * pvm_memo_bytes(m):
 * Bytes of memory ${m} holds.
 */
size_t pvm_memo_bytes(const struct pvm_memo *m);

/**
 * pvm_memo_rewrite(m, fn, cookie):
 * Replace every value v in ${m} by ${fn}(v, ${cookie}), which must not
 * return NULL.
 */
void pvm_memo_rewrite(struct pvm_memo *m, void *(*fn)(void *, void *),
    void *cookie);

/**
 * pvm_memo_clear(m):
 * Remove every entry, in time proportional to what was stored.
 */
void pvm_memo_clear(struct pvm_memo *m);

#endif /* !PVM_MEMO_H */
