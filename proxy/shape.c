#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shape.h"

enum shape_kind {
	SHAPE_ANY,		/* rule: anything, "?" included */
	SHAPE_UNKNOWN,		/* call: "?", the analyzer cannot tell */
	SHAPE_TYPE,		/* any value of one builtin type */
	SHAPE_STR,		/* a str with exactly this text */
	SHAPE_INT,		/* an int with exactly this value */
	SHAPE_BOOL,		/* True or False */
	SHAPE_TUPLE,		/* a tuple of exactly these items */
	SHAPE_CLASS,		/* module:qualname, what an import returned */
	SHAPE_INSTANCE,		/* module:qualname(), what calling it returned */
	SHAPE_ALT,		/* rule: one of the items */
};

struct shape {
	enum shape_kind kind;
	unsigned type;		/* SHAPE_TYPE: index in type_names */
	int64_t value;		/* SHAPE_INT, SHAPE_BOOL */
	const char *text;	/* SHAPE_STR, SHAPE_CLASS, SHAPE_INSTANCE */
	size_t len;
	const struct shape **items;	/* SHAPE_TUPLE, SHAPE_ALT */
	size_t n;
};

static const char *const type_names[] = {
	"None", "bool", "int", "float", "str", "bytes", "bytearray",
	"memoryview", "tuple", "list", "dict", "set", "frozenset",
};
#define TYPE_BOOL	1
#define TYPE_INT	2
#define TYPE_STR	4
#define TYPE_TUPLE	8

/* Deeper rule shapes are refused: the parser recurses. */
#define SHAPE_MAX_NESTING 32
/* Items of one tuple or alternatives of one shape, at most. */
#define SHAPE_MAX_ITEMS 256

struct parser {
	const char *text;
	size_t len, pos;
	bool for_rule;
	struct arena *arena;
	uint64_t room;
	size_t err_pos;
	char *err;
	int status;		/* 0, -1 syntax, -2 memory */
};

static int
syntax(struct parser *p, const char *what)
{
	if (p->status == 0) {
		p->err_pos = p->pos;
		snprintf(p->err, 256, "%s", what);
		p->status = -1;
	}
	return -1;
}

static void *
alloc(struct parser *p, size_t size)
{
	void *mem;

	if (arena_alloc(p->arena, size, p->room, &mem) != 0) {
		if (p->status == 0)
			p->status = -2;
		return NULL;
	}
	return mem;
}

static void
skip_blanks(struct parser *p)
{
	while (p->pos < p->len) {
		char c = p->text[p->pos];

		if (c == ' ' || c == '\t')
			p->pos++;
		else if (p->for_rule && (c == '\n' || c == '\r'))
			p->pos++;
		else if (p->for_rule && c == '#')
			while (p->pos < p->len && p->text[p->pos] != '\n')
				p->pos++;
		else
			break;
	}
}

static bool
name_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
	    c >= 0x80;
}

static struct shape *
new_node(struct parser *p, enum shape_kind kind)
{
	struct shape *s = alloc(p, sizeof(*s));

	if (s != NULL) {
		memset(s, 0, sizeof(*s));
		s->kind = kind;
	}
	return s;
}

/* Move ${n} collected items into the arena as ${s}'s items. */
static int
keep_items(struct parser *p, struct shape *s, const struct shape **items,
    size_t n)
{
	if (n > 0) {
		if ((s->items = alloc(p, n * sizeof(*items))) == NULL)
			return -1;
		memcpy(s->items, items, n * sizeof(*items));
	}
	s->n = n;
	return 0;
}

static const struct shape *parse_shape(struct parser *p, unsigned depth);

static const struct shape *
parse_tuple(struct parser *p, unsigned depth)
{
	const struct shape *items[SHAPE_MAX_ITEMS];
	struct shape *s;
	size_t n = 0;

	p->pos++;	/* ( */
	skip_blanks(p);
	while (p->pos < p->len && p->text[p->pos] != ')') {
		if (n == SHAPE_MAX_ITEMS) {
			syntax(p, "more than 256 items in one tuple shape");
			return NULL;
		}
		if ((items[n++] = parse_shape(p, depth + 1)) == NULL)
			return NULL;
		if (p->pos < p->len && p->text[p->pos] == ',') {
			p->pos++;
			skip_blanks(p);
		} else if (p->pos >= p->len || p->text[p->pos] != ')') {
			syntax(p, "expected ',' or ')' in a tuple shape");
			return NULL;
		}
	}
	if (p->pos >= p->len) {
		syntax(p, "expected ')' to close the tuple shape");
		return NULL;
	}
	p->pos++;	/* ) */
	if ((s = new_node(p, SHAPE_TUPLE)) == NULL ||
	    keep_items(p, s, items, n) < 0)
		return NULL;
	return s;
}

static const struct shape *
parse_string(struct parser *p)
{
	struct shape *s;
	char *out;
	size_t start = ++p->pos, n = 0;

	/* The text is at most as long as its spelling. */
	while (p->pos < p->len && p->text[p->pos] != '"') {
		if (p->text[p->pos] == '\\')
			p->pos++;
		p->pos++;
	}
	if (p->pos >= p->len) {
		syntax(p, "unterminated string in a shape");
		return NULL;
	}
	if ((s = new_node(p, SHAPE_STR)) == NULL ||
	    (out = alloc(p, p->pos - start + 1)) == NULL)
		return NULL;
	for (size_t i = start; i < p->pos; i++) {
		if (p->text[i] == '\\') {
			i++;
			if (p->text[i] != '\\' && p->text[i] != '"') {
				p->pos = i;
				syntax(p, "only \\\\ and \\\" escapes are "
				    "allowed in a shape string");
				return NULL;
			}
		}
		out[n++] = p->text[i];
	}
	out[n] = '\0';
	p->pos++;	/* closing quote */
	s->text = out;
	s->len = n;
	return s;
}

/* -?[0-9]+, within int64. */
static const struct shape *
parse_int(struct parser *p)
{
	size_t start = p->pos;
	bool negative = p->text[p->pos] == '-';
	uint64_t v = 0;
	struct shape *s;

	if (negative)
		p->pos++;
	if (p->pos >= p->len || p->text[p->pos] < '0' || p->text[p->pos] > '9') {
		syntax(p, "expected digits after '-'");
		return NULL;
	}
	while (p->pos < p->len && p->text[p->pos] >= '0' &&
	    p->text[p->pos] <= '9') {
		uint64_t digit = (uint64_t)(p->text[p->pos] - '0');

		if (v > ((uint64_t)INT64_MAX - digit) / 10) {
			p->pos = start;
			syntax(p, "integer out of range");
			return NULL;
		}
		v = v * 10 + digit;
		p->pos++;
	}
	if (p->pos < p->len && name_byte((unsigned char)p->text[p->pos])) {
		syntax(p, "unexpected character after an integer");
		return NULL;
	}
	if ((s = new_node(p, SHAPE_INT)) != NULL)
		s->value = negative ? -(int64_t)v : (int64_t)v;
	return s;
}

static const struct shape *
parse_word(struct parser *p)
{
	size_t start = p->pos, len, i;
	const char *w = p->text + start;
	const char *colon;
	struct shape *s;
	char *copy;

	while (p->pos < p->len && name_byte((unsigned char)p->text[p->pos]))
		p->pos++;
	len = p->pos - start;
	if (len == 0) {
		syntax(p, "expected a type, a \"string\", a ( tuple ), "
		    "module:qualname or module:qualname()");
		return NULL;
	}
	colon = memchr(w, ':', len);
	if (colon == NULL) {
		if (p->for_rule && len == 3 && memcmp(w, "any", 3) == 0)
			return new_node(p, SHAPE_ANY);
		if ((len == 4 && memcmp(w, "True", 4) == 0) ||
		    (len == 5 && memcmp(w, "False", 5) == 0)) {
			if ((s = new_node(p, SHAPE_BOOL)) != NULL)
				s->value = w[0] == 'T';
			return s;
		}
		for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
			if (strlen(type_names[i]) == len &&
			    memcmp(type_names[i], w, len) == 0)
				break;
		if (i == sizeof(type_names) / sizeof(type_names[0])) {
			p->pos = start;
			syntax(p, "unknown type in a shape (expected any, None, "
			    "bool, int, float, str, bytes, bytearray, "
			    "memoryview, tuple, list, dict, set, frozenset or "
			    "module:qualname)");
			return NULL;
		}
		if ((s = new_node(p, SHAPE_TYPE)) != NULL)
			s->type = (unsigned)i;
		return s;
	}
	if (colon == w || colon == w + len - 1 ||
	    memchr(colon + 1, ':', len - (size_t)(colon - w) - 1) != NULL) {
		p->pos = start;
		syntax(p, "expected module:qualname in a shape");
		return NULL;
	}
	if ((s = new_node(p, SHAPE_CLASS)) == NULL ||
	    (copy = alloc(p, len + 1)) == NULL)
		return NULL;
	memcpy(copy, w, len);
	copy[len] = '\0';
	s->text = copy;
	s->len = len;
	if (p->pos + 1 < p->len && p->text[p->pos] == '(' &&
	    p->text[p->pos + 1] == ')') {
		s->kind = SHAPE_INSTANCE;
		p->pos += 2;
	}
	return s;
}

static const struct shape *
parse_term(struct parser *p, unsigned depth)
{
	if (depth > SHAPE_MAX_NESTING) {
		syntax(p, "shape nested too deeply");
		return NULL;
	}
	if (p->pos >= p->len) {
		syntax(p, "expected a shape");
		return NULL;
	}
	switch (p->text[p->pos]) {
	case '(':
		return parse_tuple(p, depth);
	case '"':
		return parse_string(p);
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return parse_int(p);
	case '?':
		if (!p->for_rule) {
			p->pos++;
			return new_node(p, SHAPE_UNKNOWN);
		}
		syntax(p, "'?' is what the analyzer writes for a value it "
		    "cannot tell; a rule says 'any'");
		return NULL;
	default:
		return parse_word(p);
	}
}

static const struct shape *
parse_shape(struct parser *p, unsigned depth)
{
	const struct shape *alts[SHAPE_MAX_ITEMS];
	struct shape *s;
	size_t n = 0;

	for (;;) {
		if ((alts[n++] = parse_term(p, depth)) == NULL)
			return NULL;
		skip_blanks(p);
		if (!p->for_rule || p->pos >= p->len || p->text[p->pos] != '|')
			break;
		if (n == SHAPE_MAX_ITEMS) {
			syntax(p, "more than 256 alternatives in one shape");
			return NULL;
		}
		p->pos++;
		skip_blanks(p);
	}
	if (n == 1)
		return alts[0];
	if ((s = new_node(p, SHAPE_ALT)) == NULL ||
	    keep_items(p, s, alts, n) < 0)
		return NULL;
	return s;
}

/**
 * shape_parse(text, len, pos, for_rule, arena, room, out, err_pos, err):
 * Parse one shape from ${text}[*${pos}, ${len}) and advance *${pos} past it
 * (and past the blanks after it).  ${for_rule} admits `any`, `|` and, in
 * blanks, newlines and `#` comments; without it the text is a call's shape
 * and may hold `?`.  Nodes come from ${arena}, within ${room} bytes.  On
 * success sets *${out} and returns 0.  On a syntax error returns -1 with
 * *${err_pos} at the offending byte and ${err} (256 bytes) saying what was
 * expected; returns -2 when memory ran out.
 */
int
shape_parse(const char *text, size_t len, size_t *pos, bool for_rule,
    struct arena *arena, uint64_t room, const struct shape **out,
    size_t *err_pos, char err[256])
{
	struct parser p = { text, len, *pos, for_rule, arena, room, 0, err, 0 };
	const struct shape *s;

	err[0] = '\0';
	skip_blanks(&p);
	s = parse_shape(&p, 0);
	if (s == NULL) {
		if (p.status == -1)
			*err_pos = p.err_pos;
		return p.status != 0 ? p.status : -2;
	}
	*pos = p.pos;
	*out = s;
	return 0;
}

static bool
same_text(const struct shape *a, const struct shape *b)
{
	return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

/**
 * shape_match(rule, value):
 * Whether the call shape ${value} is one the rule shape ${rule} admits.
 * "?" in ${value} is admitted only by `any`.
 */
bool
shape_match(const struct shape *rule, const struct shape *value)
{
	size_t i;

	switch (rule->kind) {
	case SHAPE_ANY:
		return true;
	case SHAPE_ALT:
		for (i = 0; i < rule->n; i++)
			if (shape_match(rule->items[i], value))
				return true;
		return false;
	case SHAPE_TYPE:
		return (value->kind == SHAPE_TYPE && value->type == rule->type) ||
		    (value->kind == SHAPE_STR && rule->type == TYPE_STR) ||
		    (value->kind == SHAPE_INT && rule->type == TYPE_INT) ||
		    (value->kind == SHAPE_BOOL && rule->type == TYPE_BOOL) ||
		    (value->kind == SHAPE_TUPLE && rule->type == TYPE_TUPLE);
	case SHAPE_INT:
	case SHAPE_BOOL:
		return value->kind == rule->kind && value->value == rule->value;
	case SHAPE_STR:
	case SHAPE_CLASS:
	case SHAPE_INSTANCE:
		return value->kind == rule->kind && same_text(rule, value);
	case SHAPE_TUPLE:
		if (value->kind != SHAPE_TUPLE || value->n != rule->n)
			return false;
		for (i = 0; i < rule->n; i++)
			if (!shape_match(rule->items[i], value->items[i]))
				return false;
		return true;
	case SHAPE_UNKNOWN:
		return false;
	}
	return false;
}

/**
 * shape_is_any(s):
 * Whether the rule shape ${s} is `any`.
 */
bool
shape_is_any(const struct shape *s)
{
	return s->kind == SHAPE_ANY;
}

/**
 * shape_covers(a, b):
 * Whether the rule shape ${a} admits everything the rule shape ${b} admits,
 * as far as can be told without enumerating (used to warn about rules that
 * can never match; false when unsure).
 */
bool
shape_covers(const struct shape *a, const struct shape *b)
{
	size_t i;

	if (a->kind == SHAPE_ANY)
		return true;
	if (b->kind == SHAPE_ALT) {
		for (i = 0; i < b->n; i++)
			if (!shape_covers(a, b->items[i]))
				return false;
		return true;
	}
	if (a->kind == SHAPE_ALT) {
		for (i = 0; i < a->n; i++)
			if (shape_covers(a->items[i], b))
				return true;
		return false;
	}
	if (b->kind == SHAPE_ANY)
		return false;
	if (a->kind == SHAPE_TUPLE && b->kind == SHAPE_TUPLE) {
		if (a->n != b->n)
			return false;
		for (i = 0; i < a->n; i++)
			if (!shape_covers(a->items[i], b->items[i]))
				return false;
		return true;
	}
	return shape_match(a, b);
}
