#ifndef COMPAT_PICKLE_H
#define COMPAT_PICKLE_H

/*
 * compat_pickle: the Python 2 -> 3 name mapping that CPython's find_class
 * applies at protocol < 3 (fix_imports=True, the default): the
 * (module, name) pair table first, else the module table.  Generated from
 * the server Python's _compat_pickle by gen_compat_pickle.py.
 */

#include <stdbool.h>
#include <stddef.h>

/**
 * compat_map_pair(module, module_len, name, name_len, to_module, to_name):
 * If NAME_MAPPING has (${module}, ${name}), point *${to_module} and
 * *${to_name} at the mapped NUL-terminated names and return true.
 */
bool compat_map_pair(const char *module, size_t module_len, const char *name,
    size_t name_len, const char **to_module, const char **to_name);

/**
 * compat_map_module(module, module_len, to_module):
 * If IMPORT_MAPPING has ${module}, point *${to_module} at the mapped name
 * and return true.
 */
bool compat_map_module(const char *module, size_t module_len,
    const char **to_module);

/**
 * compat_module_has_pairs(module, module_len):
 * Whether some NAME_MAPPING entry has ${module} as its module, i.e. whether
 * the mapped module depends on a name that may be unknown.
 */
bool compat_module_has_pairs(const char *module, size_t module_len);

/**
 * compat_name_may_change(name, name_len):
 * Whether some NAME_MAPPING entry for ${name} maps it to a different name,
 * i.e. whether the mapped name depends on a module that may be unknown.
 */
bool compat_name_may_change(const char *name, size_t name_len);

#endif /* !COMPAT_PICKLE_H */
