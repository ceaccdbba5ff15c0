#ifndef POLICY_IMPL_H
#define POLICY_IMPL_H

/*
 * The inside of a struct policy, shared by its loader (policy_load.c) and
 * its evaluator (policy.c) only.  Nothing else includes this.
 */

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "arena.h"
#include "policy.h"
#include "shape.h"

enum rule_target {
	TARGET_IMPORT,
	TARGET_CALL,
	TARGET_EXT,
	TARGET_PERSID,
	TARGET_MESSAGE,
	TARGET_LIMIT,
};

enum message_property {
	PROPERTY_PROTOCOL,
	PROPERTY_SIZE,
};

/* The limits a rule can set, in the order of limit_names[]. */
enum limit_kind {
	LIMIT_MESSAGE_BYTES,
	LIMIT_OPCODES,
	LIMIT_STACK_DEPTH,
	LIMIT_MEMO_ENTRIES,
	LIMIT_CONTAINER_ITEMS,
	LIMIT_STRING_BYTES,
	LIMIT_NESTING,
	LIMIT_COUNT,
};

struct limit_def {
	const char *name;	/* as written in a rule */
	enum pw_code code;	/* the reason the pvm gives */
	bool is_size;		/* k/M/G are powers of 1024, else of 1000 */
	size_t offset;		/* of the field in struct pvm_limits */
};

extern const struct limit_def limit_defs[LIMIT_COUNT];

struct rule {
	struct policy_rule_info info;
	enum rule_target target;
	bool from_denylist;

	/* import, call: an exact name or a pattern. */
	const char *exact;	/* "module:qualname"; NULL for a pattern */
	size_t exact_len;
	pcre2_code *re;		/* also persid /pattern/ */
	const char *re_source;	/* as written, for messages */
	size_t re_source_len;
	uint32_t re_flags;

	/* call: which ops (a bit per opcode byte) and what arguments. */
	bool any_op;
	uint64_t ops[4];
	const struct shape *args;	/* NULL: any arguments */

	/* persid "text" */
	const char *text;
	size_t text_len;

	/* ext codes, message protocol or size: an inclusive range. */
	uint64_t lo, hi;
	enum message_property property;

	/* limit */
	enum limit_kind limit;
	uint64_t limit_value;
};

/* Rule indexes in file order. */
struct index_list {
	size_t *v;
	size_t n, cap;
};

/* Exact names -> the rules that name them, so that the cost of a lookup
 * does not grow with the number of rules. */
struct name_slot {
	const char *key;	/* NULL: empty */
	size_t len;
	uint64_t hash;
	struct index_list rules;
};

struct name_index {
	struct name_slot *slots;
	size_t cap, used;
};

struct ext_mapping {
	int64_t code;
	struct pvm_str module, name;
};

struct policy {
	/* Holders: the proxy's listener and each connection whose analysis
	 * decides with it, so that a reload can replace it while messages
	 * still in progress finish under it.  One thread only. */
	unsigned refs;
	struct arena *arena;	/* rule texts, names, shapes */
	struct rule *rules;
	size_t n_rules, rules_cap;
	size_t n_denylist;	/* rules [0, n_denylist) are the denylist */
	enum policy_mode mode;

	struct name_index import_names, call_names;
	struct index_list import_patterns, call_patterns;
	/* All import (call) patterns as one alternation, when that is known
	 * to mean the same: a name none of them matches skips them all.
	 * NULL: each pattern is tried. */
	pcre2_code *import_any, *call_any;
	struct index_list ext_rules, persid_rules, message_rules;

	struct ext_mapping *exts;
	size_t n_exts, exts_cap;

	bool limit_set[LIMIT_COUNT];
	uint64_t limit_value[LIMIT_COUNT];
	size_t limit_rule[LIMIT_COUNT];
};

/* The bytes of memory a policy may take for its rules. */
#define POLICY_MAX_BYTES (256ULL << 20)

uint64_t policy_hash_bytes(const char *p, size_t n);

/**
 * name_index_find(idx, key, len):
 * The rules naming ${key}, or NULL.
 */
const struct index_list *name_index_find(const struct name_index *idx,
    const char *key, size_t len);

/**
 * op_bit_set(ops, code):
 * Whether opcode byte ${code} is in the op set ${ops}.
 */
static inline bool
op_bit_set(const uint64_t ops[4], uint8_t code)
{
	return (ops[code >> 6] >> (code & 63)) & 1;
}

#endif /* !POLICY_IMPL_H */
