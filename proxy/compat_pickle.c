#include <string.h>

#include "compat_pickle.h"

struct compat_pair {
	const char *module, *name, *to_module, *to_name;
};

struct compat_module {
	const char *module, *to_module;
};

#include "compat_pickle_table.h"

#define N_PAIRS (sizeof(compat_name_mapping) / sizeof(compat_name_mapping[0]))
#define N_MODULES (sizeof(compat_import_mapping) / sizeof(compat_import_mapping[0]))

/* Compare a counted string (which may hold NUL bytes) with a C string, in
 * the byte order the generator sorted by. */
static int
counted_cmp(const char *s, size_t len, const char *z)
{
	size_t zlen = strlen(z);
	int c = memcmp(s, z, len < zlen ? len : zlen);

	if (c != 0)
		return c;
	return (len > zlen) - (len < zlen);
}

/* Index of the first pair whose module is >= module. */
static size_t
pairs_lower_bound(const char *module, size_t module_len)
{
	size_t lo = 0, hi = N_PAIRS;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (counted_cmp(module, module_len,
		    compat_name_mapping[mid].module) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/**
 * compat_map_pair(module, module_len, name, name_len, to_module, to_name):
 * If NAME_MAPPING has (${module}, ${name}), point *${to_module} and
 * *${to_name} at the mapped NUL-terminated names and return true.
 */
bool
compat_map_pair(const char *module, size_t module_len, const char *name,
    size_t name_len, const char **to_module, const char **to_name)
{
	size_t i;

	for (i = pairs_lower_bound(module, module_len); i < N_PAIRS; i++) {
		const struct compat_pair *p = &compat_name_mapping[i];

		if (counted_cmp(module, module_len, p->module) != 0)
			break;
		if (counted_cmp(name, name_len, p->name) == 0) {
			*to_module = p->to_module;
			*to_name = p->to_name;
			return true;
		}
	}
	return false;
}

/**
 * compat_map_module(module, module_len, to_module):
 * If IMPORT_MAPPING has ${module}, point *${to_module} at the mapped name
 * and return true.
 */
bool
compat_map_module(const char *module, size_t module_len,
    const char **to_module)
{
	size_t lo = 0, hi = N_MODULES;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = counted_cmp(module, module_len,
		    compat_import_mapping[mid].module);

		if (c == 0) {
			*to_module = compat_import_mapping[mid].to_module;
			return true;
		}
		if (c > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/**
 * compat_module_has_pairs(module, module_len):
 * Whether some NAME_MAPPING entry has ${module} as its module, i.e. whether
 * the mapped module depends on a name that may be unknown.
 */
bool
compat_module_has_pairs(const char *module, size_t module_len)
{
	size_t i = pairs_lower_bound(module, module_len);

	return i < N_PAIRS &&
	    counted_cmp(module, module_len, compat_name_mapping[i].module) == 0;
}

/**
 * compat_name_may_change(name, name_len):
 * Whether some NAME_MAPPING entry for ${name} maps it to a different name,
 * i.e. whether the mapped name depends on a module that may be unknown.
 */
bool
compat_name_may_change(const char *name, size_t name_len)
{
	size_t i;

	/* Only reached for imports whose module is unknown: rare, and the
	 * table is small, so a scan is cheaper than a second index. */
	for (i = 0; i < N_PAIRS; i++) {
		const struct compat_pair *p = &compat_name_mapping[i];

		if (counted_cmp(name, name_len, p->name) == 0 &&
		    strcmp(p->name, p->to_name) != 0)
			return true;
	}
	return false;
}
