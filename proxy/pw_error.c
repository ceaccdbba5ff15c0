#include <stdarg.h>
#include <stdio.h>

#include "pw_error.h"

static const char *const code_names[PW_CODE_COUNT] = {
#define PW_CODE_NAME(sym, name) [sym] = name,
	PW_CODES(PW_CODE_NAME)
#undef PW_CODE_NAME
};

/**
 * pw_code_name(code):
 * Return the stable snake_case name of ${code} ("truncated", ...); never NULL.
 */
const char *
pw_code_name(enum pw_code code)
{
	if ((unsigned)code >= PW_CODE_COUNT)
		return "internal_error";
	return code_names[code];
}

/**
 * pw_error_set(err, code, position, fmt, ...):
 * Fill ${err} (which may be NULL, then nothing happens) with ${code},
 * ${position} and a printf-formatted message, truncated to fit.  Returns -1
 * so that callers can write "return pw_error_set(...)".
 */
int
pw_error_set(struct pw_error *err, enum pw_code code, uint64_t position,
    const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	err->position = position;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}
