/*
 * The configuration loader: text -> struct config (picklewall.conf.example
 * documents every key).
 *
 * Line by line: each line is blank, a comment, a [section] header or
 * `key = value`.  A line with an error is reported and skipped, so that one
 * run shows every mistake.  Values go into one struct value per key and
 * section, which remembers where the key was written; once the whole text
 * is read, each section is resolved into its public struct: defaults, keys
 * that require or exclude one another, and limits that span sections.
 * Those checks only look at keys whose own values were good, so a typo is
 * reported once and not again by every check that depends on it.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "config.h"

#define MAX_CONFIG_FILE_BYTES	(1U << 20)
/* Every section costs a few kB and every path the file's directory again;
 * this bound is far above what a 1 MiB file can need. */
#define MAX_CONFIG_MEMORY_BYTES	(64ULL << 20)
#define MAX_LISTENERS		256
#define MAX_LIST_ITEMS		64
#define MAX_NAME_BYTES		64
#define MAX_HOSTNAME_BYTES	253
/* Past this many errors the rest is likely one mistake repeated. */
#define MAX_ERRORS		50

#define KIB	(1ULL << 10)
#define MIB	(1ULL << 20)
#define GIB	(1ULL << 30)
#define SECOND_MS	1000ULL
#define MINUTE_MS	(60 * SECOND_MS)
#define HOUR_MS		(60 * MINUTE_MS)

static const char embedded_default_text[] =
    "# The configuration `make run` uses (config_embedded_default()).\n"
    "# Paths are relative to the directory picklewall starts in.\n"
    "[global]\n"
    "audit_log = -\n"
    "\n"
    "[listener demo]\n"
    "listen = 127.0.0.1:9020\n"
    "tls_cert = certs/dev/server-chain.crt\n"
    "tls_key = certs/dev/server.key\n"
    "backend = tcp://127.0.0.1:9021\n"
    "framing = len32\n"
    "rules = rules/logging.rules\n";

#define EMBEDDED_DEFAULT_NAME "picklewall.conf (built in)"

/* ---- the keys -------------------------------------------------------- */

enum key_id {
	/* [global] */
	K_AUDIT_LOG,
	K_AUDIT_BUFFER_BYTES,
	K_MAX_CONNECTIONS,	/* also in [listener] */
	K_BUFFER_MEMORY,
	K_WORKERS,
	/* [listener] */
	K_LISTEN,
	K_BACKEND,
	K_FRAMING,
	K_MP_HANDSHAKE,
	K_MEMO,
	K_RESUME_AFTER_ERROR,
	K_RULES,
	K_MODE,
	K_ON_DENY,
	K_FAIL_POLICY,
	K_MESSAGE_HASH,
	K_MAX_MESSAGE_BYTES,
	K_HANDSHAKE_TIMEOUT,
	K_MESSAGE_TIMEOUT,
	K_IDLE_TIMEOUT,
	K_CONNECT_TIMEOUT,
	K_TLS,
	K_TLS_CERT,
	K_TLS_KEY,
	K_TLS_MIN_VERSION,
	K_TLS_CIPHERS,
	K_TLS_CIPHERSUITES,
	K_TLS_GROUPS,
	K_TLS_SESSION_TICKETS,
	K_CLIENT_AUTH,
	K_CLIENT_CA,
	K_CLIENT_CRL,
	K_CLIENT_ALLOW,
	K_BACKEND_CA,
	K_BACKEND_NAME,
	K_BACKEND_SNI,
	K_BACKEND_VERIFY,
	K_BACKEND_CERT,
	K_BACKEND_KEY,
	K_COUNT
};

enum kind {
	KIND_COUNT,		/* a decimal integer */
	KIND_SIZE,		/* bytes, with an optional k/M/G unit */
	KIND_DURATION,		/* milliseconds; unit required */
	KIND_BOOL,
	KIND_ENUM,		/* index into key_def.names */
	KIND_PATH,
	KIND_HOSTNAME,		/* a DNS name or an IP address */
	KIND_OPENSSL_LIST,	/* names joined with ':' for OpenSSL */
	KIND_PEER_LIST,		/* CN=, DNS=, URI= entries */
	KIND_LISTEN,		/* numeric HOST:PORT */
	KIND_BACKEND,		/* tcp:// or tls:// HOST:PORT */
};

#define IN_GLOBAL	0x1
#define IN_LISTENER	0x2

struct key_def {
	const char *name;
	unsigned sections;
	enum kind kind;
	uint64_t min, max;		/* COUNT, SIZE, DURATION (ms) */
	const char *const *names;	/* ENUM, NULL-terminated */
	const char *expected;		/* what a good value looks like */
};

static const char *const framing_names[] = { "raw", "len32", "mp", NULL };
static const char *const mp_handshake_names[] = { "0", "3", NULL };
static const char *const memo_names[] = {
	[ANALYSIS_MEMO_PER_MESSAGE] = "per-message",
	[ANALYSIS_MEMO_PERSISTENT] = "persistent",
	[ANALYSIS_MEMO_BOTH] = "both",
	NULL,
};
static const char *const mode_names[] = {
	[POLICY_MODE_ENFORCE] = "enforce",
	[POLICY_MODE_DETECT] = "detect",
	NULL,
};
static const char *const on_deny_names[] = {
	[CONFIG_ON_DENY_CLOSE] = "close",
	[CONFIG_ON_DENY_DROP] = "drop",
	NULL,
};
static const char *const message_hash_names[] = {
	[CONFIG_MESSAGE_HASH_ALL] = "all",
	[CONFIG_MESSAGE_HASH_DENIED] = "denied",
	[CONFIG_MESSAGE_HASH_NONE] = "none",
	NULL,
};
static const char *const fail_policy_names[] = {
	[CONFIG_FAIL_CLOSE] = "close",
	NULL,
};
static const char *const tls_version_names[] = { "1.2", "1.3", NULL };
static const char *const client_auth_names[] = {
	[CONFIG_CLIENT_AUTH_NONE] = "none",
	[CONFIG_CLIENT_AUTH_OPTIONAL] = "optional",
	[CONFIG_CLIENT_AUTH_REQUIRED] = "required",
	NULL,
};

#define SIZE_EXPECTED	"a size such as 4096, 64k, 16M or 1G"
#define TIME_EXPECTED	"a duration with its unit, such as 500ms, 10s, 5m " \
			"or 1h"
#define BOOL_EXPECTED	"yes or no"
#define PATH_EXPECTED	"a file path"

static const struct key_def keys[K_COUNT] = {
	[K_AUDIT_LOG] = { "audit_log", IN_GLOBAL, KIND_PATH, 0, 0, NULL,
	    "a file path, or - for standard output" },
	[K_AUDIT_BUFFER_BYTES] = { "audit_buffer_bytes", IN_GLOBAL, KIND_SIZE,
	    4 * KIB, GIB, NULL, SIZE_EXPECTED },
	[K_MAX_CONNECTIONS] = { "max_connections", IN_GLOBAL | IN_LISTENER,
	    KIND_COUNT, 1, 1000000, NULL, "a number of connections" },
	[K_BUFFER_MEMORY] = { "buffer_memory", IN_GLOBAL, KIND_SIZE,
	    4 * KIB, 1024 * GIB, NULL, SIZE_EXPECTED },
	[K_WORKERS] = { "workers", IN_GLOBAL, KIND_COUNT, 1, CONFIG_MAX_WORKERS,
	    NULL, "a number of worker processes, 1 to 64" },
	[K_LISTEN] = { "listen", IN_LISTENER, KIND_LISTEN, 0, 0, NULL,
	    "the address to accept clients on: IPV4:PORT or [IPV6]:PORT" },
	[K_BACKEND] = { "backend", IN_LISTENER, KIND_BACKEND, 0, 0, NULL,
	    "the server to forward to: tcp://HOST:PORT or tls://HOST:PORT" },
	[K_FRAMING] = { "framing", IN_LISTENER, KIND_ENUM, 0, 0,
	    framing_names, "raw, len32 or mp" },
	[K_MP_HANDSHAKE] = { "mp_handshake", IN_LISTENER, KIND_ENUM, 0, 0,
	    mp_handshake_names, "0 or 3" },
	[K_MEMO] = { "memo", IN_LISTENER, KIND_ENUM, 0, 0, memo_names,
	    "per-message, persistent or both" },
	[K_RULES] = { "rules", IN_LISTENER, KIND_PATH, 0, 0, NULL,
	    "the path of a rule file" },
	[K_MODE] = { "mode", IN_LISTENER, KIND_ENUM, 0, 0, mode_names,
	    "enforce or detect" },
	[K_ON_DENY] = { "on_deny", IN_LISTENER, KIND_ENUM, 0, 0, on_deny_names,
	    "close or drop" },
	[K_FAIL_POLICY] = { "fail_policy", IN_LISTENER, KIND_ENUM, 0, 0,
	    fail_policy_names, "close (the only fail policy so far)" },
	[K_RESUME_AFTER_ERROR] = { "resume_after_error", IN_LISTENER,
	    KIND_BOOL, 0, 0, NULL, BOOL_EXPECTED },
	[K_MESSAGE_HASH] = { "message_hash", IN_LISTENER, KIND_ENUM, 0, 0,
	    message_hash_names, "all, denied or none" },
	[K_MAX_MESSAGE_BYTES] = { "max_message_bytes", IN_LISTENER, KIND_SIZE,
	    1, GIB, NULL, SIZE_EXPECTED },
	[K_HANDSHAKE_TIMEOUT] = { "handshake_timeout", IN_LISTENER,
	    KIND_DURATION, 1, HOUR_MS, NULL, TIME_EXPECTED },
	[K_MESSAGE_TIMEOUT] = { "message_timeout", IN_LISTENER, KIND_DURATION,
	    1, HOUR_MS, NULL, TIME_EXPECTED },
	[K_IDLE_TIMEOUT] = { "idle_timeout", IN_LISTENER, KIND_DURATION,
	    1, 720 * HOUR_MS, NULL, TIME_EXPECTED },
	[K_CONNECT_TIMEOUT] = { "connect_timeout", IN_LISTENER, KIND_DURATION,
	    1, HOUR_MS, NULL, TIME_EXPECTED },
	[K_TLS] = { "tls", IN_LISTENER, KIND_BOOL, 0, 0, NULL, BOOL_EXPECTED },
	[K_TLS_CERT] = { "tls_cert", IN_LISTENER, KIND_PATH, 0, 0, NULL,
	    "the server certificate chain file (PEM)" },
	[K_TLS_KEY] = { "tls_key", IN_LISTENER, KIND_PATH, 0, 0, NULL,
	    "the server's private key file (PEM)" },
	[K_TLS_MIN_VERSION] = { "tls_min_version", IN_LISTENER, KIND_ENUM,
	    0, 0, tls_version_names, "1.2 or 1.3" },
	[K_TLS_CIPHERS] = { "tls_ciphers", IN_LISTENER, KIND_OPENSSL_LIST,
	    0, 0, NULL, "OpenSSL cipher names, separated by ',' or ':'" },
	[K_TLS_CIPHERSUITES] = { "tls_ciphersuites", IN_LISTENER,
	    KIND_OPENSSL_LIST, 0, 0, NULL,
	    "TLS 1.3 ciphersuite names, separated by ',' or ':'" },
	[K_TLS_GROUPS] = { "tls_groups", IN_LISTENER, KIND_OPENSSL_LIST,
	    0, 0, NULL, "key exchange group names, separated by ',' or ':'" },
	[K_TLS_SESSION_TICKETS] = { "tls_session_tickets", IN_LISTENER,
	    KIND_COUNT, 0, 16, NULL, "a number of TLS 1.3 session tickets" },
	[K_CLIENT_AUTH] = { "client_auth", IN_LISTENER, KIND_ENUM, 0, 0,
	    client_auth_names, "none, optional or required" },
	[K_CLIENT_CA] = { "client_ca", IN_LISTENER, KIND_PATH, 0, 0, NULL,
	    "the CA file client certificates must chain to" },
	[K_CLIENT_CRL] = { "client_crl", IN_LISTENER, KIND_PATH, 0, 0, NULL,
	    "a certificate revocation list file (PEM)" },
	[K_CLIENT_ALLOW] = { "client_allow", IN_LISTENER, KIND_PEER_LIST,
	    0, 0, NULL, "CN=..., DNS=... or URI=... entries, separated by ','" },
	[K_BACKEND_CA] = { "backend_ca", IN_LISTENER, KIND_PATH, 0, 0, NULL,
	    "the CA file the backend's certificate must chain to" },
	[K_BACKEND_NAME] = { "backend_name", IN_LISTENER, KIND_HOSTNAME,
	    0, 0, NULL, "a host name or IP address" },
	[K_BACKEND_SNI] = { "backend_sni", IN_LISTENER, KIND_HOSTNAME,
	    0, 0, NULL, "a host name" },
	[K_BACKEND_VERIFY] = { "backend_verify", IN_LISTENER, KIND_BOOL,
	    0, 0, NULL, BOOL_EXPECTED },
	[K_BACKEND_CERT] = { "backend_cert", IN_LISTENER, KIND_PATH, 0, 0,
	    NULL, "the client certificate file picklewall shows the backend" },
	[K_BACKEND_KEY] = { "backend_key", IN_LISTENER, KIND_PATH, 0, 0, NULL,
	    "the private key of backend_cert" },
};

/* Keys that only mean something on a TLS listener. */
static const enum key_id server_tls_keys[] = {
	K_TLS_CERT, K_TLS_KEY, K_TLS_MIN_VERSION, K_TLS_CIPHERS,
	K_TLS_CIPHERSUITES, K_TLS_GROUPS, K_TLS_SESSION_TICKETS, K_CLIENT_AUTH,
	K_CLIENT_CA, K_CLIENT_CRL, K_CLIENT_ALLOW,
};

/* Keys that only mean something with a tls:// backend. */
static const enum key_id backend_tls_keys[] = {
	K_BACKEND_CA, K_BACKEND_NAME, K_BACKEND_SNI, K_BACKEND_VERIFY,
	K_BACKEND_CERT, K_BACKEND_KEY,
};

/* Keys that only mean something when clients must show a certificate. */
static const enum key_id client_cert_keys[] = {
	K_CLIENT_CA, K_CLIENT_CRL, K_CLIENT_ALLOW,
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- parsed state ---------------------------------------------------- */

/* One key of one section, as written. */
struct value {
	bool set;		/* the key appears in the section */
	bool good;		/* ... and its value was valid */
	unsigned line, col;	/* of the key */
	uint64_t n;		/* number, ms, bytes, enum index, bool, port */
	const char *s;		/* string, path, joined list, host */
	bool flag;		/* KIND_BACKEND: tls:// */
	const char *const *list;	/* KIND_PEER_LIST */
	size_t n_list;
};

struct section {
	unsigned line, col;	/* of the [header] */
	struct value v[K_COUNT];
};

struct listener_priv {
	struct config_listener pub;	/* first: config_listener() hands out
					 * &pub and takes it back by cast */
	struct section sec;
	struct listener_priv *next;
};

struct config {
	struct arena *arena;
	const char *name;
	struct config_global global;
	struct section global_sec;
	size_t n_listeners;
	struct listener_priv **listeners;
};

/* One value of a `key = value` line, unescaped. */
struct item {
	const char *s;		/* NUL-terminated, in parser.scratch */
	size_t len;
	size_t pos;		/* of its first byte (the quote, if quoted) */
	bool quoted;
};

struct parser {
	struct config *cfg;
	config_diag_fn *diag;
	void *cookie;
	const char *text;
	size_t len;
	const char *dir;	/* of the file, for relative paths */
	size_t dir_len;		/* 0: paths stay as written */
	unsigned line;		/* current line, 1-based */
	size_t line_start, line_end;	/* [start, end) excludes the '\n' */
	unsigned errors;
	bool stop;		/* out of memory, or too many errors */
	struct section *sec;	/* where keys go; NULL: outside a section */
	struct listener_priv *cur;	/* the listener sec belongs to, if any */
	bool skipping;		/* in a section whose header was bad */
	bool global_seen;
	unsigned listener_headers;	/* written, good or not */
	struct listener_priv *first, **tail;
	size_t n_listeners;
	char *scratch;		/* unescaped values of the current line */
	size_t scratch_used;
	struct item items[MAX_LIST_ITEMS];
	size_t n_items;
};

/* ---- reporting ------------------------------------------------------- */

static bool
is_space(char c)
{
	/* '\r' so that files with CRLF line ends read the same. */
	return c == ' ' || c == '\t' || c == '\r';
}

static void report(struct parser *ps, bool warning, unsigned line,
    unsigned col, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void
report(struct parser *ps, bool warning, unsigned line, unsigned col,
    const char *fmt, va_list ap)
{
	char message[512];
	struct config_diag d;
	char *c;

	vsnprintf(message, sizeof(message), fmt, ap);
	/* Quoted text may hold a tab or a CR; a diagnostic is one line. */
	for (c = message; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
			*c = '?';
	d.warning = warning;
	d.file = ps->cfg->name;
	d.line = line;
	d.col = col;
	d.message = message;
	if (ps->diag != NULL)
		ps->diag(ps->cookie, &d);
}

static int error_lc(struct parser *ps, unsigned line, unsigned col,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int error_at(struct parser *ps, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_lc(struct parser *ps, unsigned line, unsigned col,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
count_error(struct parser *ps)
{
	if (++ps->errors == MAX_ERRORS && !ps->stop) {
		ps->stop = true;
		ps->errors++;
		if (ps->diag != NULL) {
			struct config_diag d = { false, ps->cfg->name, 0, 0,
			    "too many errors; stopped reading" };

			ps->diag(ps->cookie, &d);
		}
	}
}

/* Report an error at ${line}:${col}; returns -1. */
static int
error_lc(struct parser *ps, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	if (ps->stop)
		return -1;
	va_start(ap, fmt);
	report(ps, false, line, col, fmt, ap);
	va_end(ap);
	count_error(ps);
	return -1;
}

/* Report an error at byte ${pos} of the current line; returns -1. */
static int
error_at(struct parser *ps, size_t pos, const char *fmt, ...)
{
	va_list ap;

	if (ps->stop)
		return -1;
	va_start(ap, fmt);
	report(ps, false, ps->line, (unsigned)(pos - ps->line_start + 1), fmt,
	    ap);
	va_end(ap);
	count_error(ps);
	return -1;
}

static void
warn_lc(struct parser *ps, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	if (ps->stop)
		return;
	va_start(ap, fmt);
	report(ps, true, line, col, fmt, ap);
	va_end(ap);
}

static int
out_of_memory(struct parser *ps)
{
	struct config_diag d = { false, ps->cfg->name, 0, 0,
	    "out of memory while loading the configuration" };

	if (!ps->stop && ps->diag != NULL)
		ps->diag(ps->cookie, &d);
	ps->stop = true;
	ps->errors++;
	return -1;
}

/* What is at ${pos} of the current line, for "found ..." in messages. */
static const char *
found_at(const struct parser *ps, size_t pos, char buf[48])
{
	size_t n = 0;

	if (pos >= ps->line_end)
		return "the end of the line";
	while (pos + n < ps->line_end && n < 20 &&
	    !is_space(ps->text[pos + n]))
		n++;
	snprintf(buf, 48, "'%.*s'", (int)n, ps->text + pos);
	return buf;
}

/* An item, quoted for messages and cut short if long. */
static const char *
shown(const struct item *it, char buf[64])
{
	if (it->len > 40)
		snprintf(buf, 64, "'%.37s...'", it->s);
	else
		snprintf(buf, 64, "'%s'", it->s);
	return buf;
}

static void
format_size(uint64_t bytes, char buf[32])
{
	if (bytes >= GIB && bytes % GIB == 0)
		snprintf(buf, 32, "%lluG", (unsigned long long)(bytes / GIB));
	else if (bytes >= MIB && bytes % MIB == 0)
		snprintf(buf, 32, "%lluM", (unsigned long long)(bytes / MIB));
	else if (bytes >= KIB && bytes % KIB == 0)
		snprintf(buf, 32, "%lluk", (unsigned long long)(bytes / KIB));
	else
		snprintf(buf, 32, "%llu", (unsigned long long)bytes);
}

static void
format_duration(uint64_t ms, char buf[32])
{
	if (ms >= HOUR_MS && ms % HOUR_MS == 0)
		snprintf(buf, 32, "%lluh", (unsigned long long)(ms / HOUR_MS));
	else if (ms >= MINUTE_MS && ms % MINUTE_MS == 0)
		snprintf(buf, 32, "%llum", (unsigned long long)(ms / MINUTE_MS));
	else if (ms >= SECOND_MS && ms % SECOND_MS == 0)
		snprintf(buf, 32, "%llus", (unsigned long long)(ms / SECOND_MS));
	else
		snprintf(buf, 32, "%llums", (unsigned long long)ms);
}

static void
format_value(enum kind kind, uint64_t n, char buf[32])
{
	if (kind == KIND_SIZE)
		format_size(n, buf);
	else if (kind == KIND_DURATION)
		format_duration(n, buf);
	else
		snprintf(buf, 32, "%llu", (unsigned long long)n);
}

/* ---- memory ---------------------------------------------------------- */

static void *
calloc_cfg(struct parser *ps, size_t size)
{
	void *mem;

	if (arena_alloc(ps->cfg->arena, size, MAX_CONFIG_MEMORY_BYTES,
	    &mem) != 0) {
		out_of_memory(ps);
		return NULL;
	}
	memset(mem, 0, size);
	return mem;
}

static char *
strdup_cfg(struct parser *ps, const char *s, size_t len)
{
	char *copy;

	if (arena_strdup(ps->cfg->arena, s, len, MAX_CONFIG_MEMORY_BYTES,
	    &copy) != 0) {
		out_of_memory(ps);
		return NULL;
	}
	return copy;
}

/* ---- small syntax ---------------------------------------------------- */

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static size_t
skip_space(const struct parser *ps, size_t p)
{
	while (p < ps->line_end && is_space(ps->text[p]))
		p++;
	return p;
}

/* The end of a comment-free line, or of a value: '#' or the line end. */
static bool
at_end(const struct parser *ps, size_t p)
{
	return p >= ps->line_end || ps->text[p] == '#';
}

/*
 * Parse the decimal digits at the start of ${s} into *${v}; *${end} is
 * set past them.  Returns 0, -1 if there are none, -2 on overflow (then
 * *${v} is meaningless).
 */
static int
parse_digits(const char *s, uint64_t *v, const char **end)
{
	uint64_t n = 0;
	const char *p = s;
	int rc = 0;

	*end = s;
	if (!is_digit(*p))
		return -1;
	for (; is_digit(*p); p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			rc = -2;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*v = n;
	*end = p;
	return rc;
}

/* Edit distance of two short strings, for "did you mean". */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[48], prev, tmp;

	if (la >= NELEM(row) || lb >= NELEM(row))
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

/* ---- values ---------------------------------------------------------- */

/*
 * Split the value at ${p} into items: comma-separated, each bare (up to a
 * space, ',', '"' or '#') or "quoted".  Returns 0, or -1 after reporting.
 */
static int
split_items(struct parser *ps, size_t p)
{
	const char *t = ps->text;
	char buf[48];

	ps->n_items = 0;
	ps->scratch_used = 0;
	for (;;) {
		struct item *it;
		char *out;

		p = skip_space(ps, p);
		if (at_end(ps, p))
			return error_at(ps, p, ps->n_items == 0 ?
			    "expected a value after '='" :
			    "expected a list item after ','");
		if (ps->n_items == MAX_LIST_ITEMS)
			return error_at(ps, p, "more than %d items in one list",
			    MAX_LIST_ITEMS);
		it = &ps->items[ps->n_items++];
		it->pos = p;
		out = ps->scratch + ps->scratch_used;
		it->s = out;
		it->len = 0;
		it->quoted = t[p] == '"';
		if (it->quoted) {
			size_t open = p++;

			for (;;) {
				if (p >= ps->line_end)
					return error_at(ps, open,
					    "unterminated string: no closing "
					    "'\"' on this line");
				if (t[p] == '"')
					break;
				if (t[p] == '\\') {
					if (p + 1 < ps->line_end &&
					    (t[p + 1] == '"' ||
					    t[p + 1] == '\\')) {
						p++;
					} else {
						return error_at(ps, p,
						    "unknown escape in a "
						    "string: only \\\" and "
						    "\\\\ are escapes");
					}
				}
				out[it->len++] = t[p++];
			}
			p++;
		} else {
			while (p < ps->line_end && !is_space(t[p]) &&
			    t[p] != ',' && t[p] != '#' && t[p] != '"')
				out[it->len++] = t[p++];
			if (it->len == 0 && t[p] == ',')
				return error_at(ps, p, "an empty list item: "
				    "expected a value before ','");
			if (it->len == 0)
				return error_at(ps, p, "expected a value; "
				    "found %s", found_at(ps, p, buf));
		}
		out[it->len] = '\0';
		ps->scratch_used += it->len + 1;
		p = skip_space(ps, p);
		if (at_end(ps, p))
			return 0;
		if (t[p] != ',')
			return error_at(ps, p, "expected ',' or the end of the "
			    "line; found %s (quote a value that contains "
			    "spaces)", found_at(ps, p, buf));
		p++;
	}
}

static int
expect_one(struct parser *ps, enum key_id k)
{
	if (ps->n_items > 1)
		return error_at(ps, ps->items[1].pos, "%s takes one value, "
		    "not a list: expected %s", keys[k].name, keys[k].expected);
	return 0;
}

static int
bad_value(struct parser *ps, enum key_id k, const struct item *it)
{
	char buf[64];

	if (it->len == 0)
		return error_at(ps, it->pos, "%s: expected %s; found an empty "
		    "string", keys[k].name, keys[k].expected);
	return error_at(ps, it->pos, "%s: expected %s; found %s",
	    keys[k].name, keys[k].expected, shown(it, buf));
}

static int
check_range(struct parser *ps, enum key_id k, const struct item *it,
    uint64_t n)
{
	char lo[32], hi[32];

	if (n >= keys[k].min && n <= keys[k].max)
		return 0;
	format_value(keys[k].kind, keys[k].min, lo);
	format_value(keys[k].kind, keys[k].max, hi);
	return error_at(ps, it->pos, "%s must be between %s and %s", keys[k].name,
	    lo, hi);
}

static int
parse_count(struct parser *ps, enum key_id k, const struct item *it,
    uint64_t *n)
{
	const char *end;
	int rc = parse_digits(it->s, n, &end);

	if (rc == -1 || (rc == 0 && *end != '\0'))
		return bad_value(ps, k, it);
	return check_range(ps, k, it, rc == -2 ? UINT64_MAX : *n);
}

/* Sizes read as `picklewall scan --max-message-bytes` reads them. */
static int
parse_size(struct parser *ps, enum key_id k, const struct item *it,
    uint64_t *n)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {
		{ "", 0 }, { "k", 10 }, { "K", 10 }, { "KiB", 10 },
		{ "m", 20 }, { "M", 20 }, { "MiB", 20 },
		{ "g", 30 }, { "G", 30 }, { "GiB", 30 },
	};
	const char *end;
	size_t i;
	int rc = parse_digits(it->s, n, &end);

	if (rc == -1)
		return bad_value(ps, k, it);
	for (i = 0; i < NELEM(units); i++)
		if (strcmp(end, units[i].suffix) == 0)
			break;
	if (i == NELEM(units)) {
		char buf[48];

		if (rc == 0)
			return error_at(ps, it->pos + (size_t)(end - it->s) +
			    it->quoted, "%s: unknown size unit %s: expected "
			    "none (bytes), k, M or G", keys[k].name,
			    found_at(ps, it->pos + (size_t)(end - it->s) +
			    it->quoted, buf));
		return bad_value(ps, k, it);
	}
	if (rc == -2 || *n > UINT64_MAX >> units[i].shift)
		return check_range(ps, k, it, UINT64_MAX);
	*n <<= units[i].shift;
	return check_range(ps, k, it, *n);
}

static int
parse_duration(struct parser *ps, enum key_id k, const struct item *it,
    uint64_t *n)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", SECOND_MS }, { "m", MINUTE_MS },
		{ "h", HOUR_MS },
	};
	const char *end;
	size_t i;
	int rc = parse_digits(it->s, n, &end);

	if (rc == -1)
		return bad_value(ps, k, it);
	if (rc == 0 && *end == '\0')
		return error_at(ps, it->pos, "%s: '%s' has no unit: write "
		    "%ss for seconds (units: ms, s, m, h)", keys[k].name,
		    it->s, it->s);
	for (i = 0; i < NELEM(units); i++)
		if (strcmp(end, units[i].unit) == 0)
			break;
	if (i == NELEM(units)) {
		char buf[48];

		if (rc == 0)
			return error_at(ps, it->pos + (size_t)(end - it->s) +
			    it->quoted, "%s: unknown duration unit %s: "
			    "expected ms, s, m or h", keys[k].name,
			    found_at(ps, it->pos + (size_t)(end - it->s) +
			    it->quoted, buf));
		return bad_value(ps, k, it);
	}
	if (rc == -2 || *n > UINT64_MAX / units[i].ms)
		return check_range(ps, k, it, UINT64_MAX);
	*n *= units[i].ms;
	return check_range(ps, k, it, *n);
}

static int
parse_bool(struct parser *ps, enum key_id k, const struct item *it,
    uint64_t *n)
{
	static const char *const yes[] = { "yes", "true", "on" };
	static const char *const no[] = { "no", "false", "off" };
	char buf[64];
	size_t i;

	for (i = 0; i < NELEM(yes); i++) {
		if (strcmp(it->s, yes[i]) == 0) {
			*n = 1;
			return 0;
		}
		if (strcmp(it->s, no[i]) == 0) {
			*n = 0;
			return 0;
		}
	}
	return error_at(ps, it->pos, "%s: expected yes or no (or true/false, "
	    "on/off); found %s", keys[k].name, shown(it, buf));
}

static int
parse_enum(struct parser *ps, enum key_id k, const struct item *it,
    uint64_t *n)
{
	size_t i;

	for (i = 0; keys[k].names[i] != NULL; i++) {
		if (strcmp(it->s, keys[k].names[i]) == 0) {
			*n = i;
			return 0;
		}
	}
	return bad_value(ps, k, it);
}

/* ${s} is a relative path to be placed under the file's directory. */
static int
parse_path(struct parser *ps, enum key_id k, const struct item *it,
    const char **out)
{
	char *path;
	size_t n;

	if (it->len == 0)
		return bad_value(ps, k, it);
	/* The audit log's "-" is standard output, not a file named "-". */
	if (it->s[0] == '/' || ps->dir_len == 0 ||
	    (k == K_AUDIT_LOG && strcmp(it->s, "-") == 0)) {
		*out = strdup_cfg(ps, it->s, it->len);
		return *out != NULL ? 0 : -1;
	}
	if ((path = calloc_cfg(ps, ps->dir_len + 1 + it->len + 1)) == NULL)
		return -1;
	memcpy(path, ps->dir, ps->dir_len);
	n = ps->dir_len;
	if (path[n - 1] != '/')
		path[n++] = '/';
	memcpy(path + n, it->s, it->len);
	*out = path;
	return 0;
}

static bool
is_ip_literal(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1;
}

/*
 * Why ${s} (${len} bytes) is not a DNS host name or IP address, or NULL if
 * it is one.  Labels take letters, digits, '-' and '_' (internal names use
 * it); a name whose last label is numeric must be an IPv4 address.
 */
static const char *
hostname_problem(const char *s, size_t len)
{
	size_t i, label = 0;
	bool numeric = true;

	if (len == 0)
		return "an empty host name";
	if (memchr(s, ':', len) != NULL)
		return is_ip_literal(s) ? NULL : "not a valid IPv6 address";
	if (len > MAX_HOSTNAME_BYTES)
		return "a host name longer than 253 bytes";
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return "an empty label in a host name";
			label = 0;
			numeric = true;
			continue;
		}
		if (!is_alnum(c) && c != '-' && c != '_')
			return "a character a host name cannot hold";
		if (label == 0 && c == '-')
			return "a host name label that starts with '-'";
		if (!is_digit(c))
			numeric = false;
		if (++label > 63)
			return "a host name label longer than 63 bytes";
	}
	if (label == 0)
		return "a host name that ends with '.'";
	if (numeric && !is_ip_literal(s))
		return "not a valid IPv4 address";
	return NULL;
}

static int
parse_port(struct parser *ps, enum key_id k, const struct item *it,
    const char *s, uint64_t *port)
{
	const char *end;

	if (parse_digits(s, port, &end) != 0 || *end != '\0' || *port == 0 ||
	    *port > 65535)
		return error_at(ps, it->pos + (size_t)(s - it->s) + it->quoted,
		    "%s: expected a port number 1-65535 after ':'",
		    keys[k].name);
	return 0;
}

/*
 * Split "HOST:PORT" or "[IPV6]:PORT" at ${s} (inside item ${it}) into a
 * host copy (no brackets) and a port.  With ${numeric} the host must be an
 * IP address.
 */
static int
parse_host_port(struct parser *ps, enum key_id k, const struct item *it,
    const char *s, bool numeric, const char **host, uint64_t *port)
{
	size_t at = it->pos + (size_t)(s - it->s) + it->quoted;
	const char *colon, *problem;
	char *h;
	size_t hlen;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		struct in6_addr a6;

		if (close == NULL)
			return error_at(ps, at, "%s: no ']' after the IPv6 "
			    "address", keys[k].name);
		hlen = (size_t)(close - s - 1);
		if ((h = strdup_cfg(ps, s + 1, hlen)) == NULL)
			return -1;
		if (inet_pton(AF_INET6, h, &a6) != 1)
			return error_at(ps, at + 1, "%s: not a valid IPv6 "
			    "address between '[' and ']'", keys[k].name);
		if (close[1] != ':')
			return error_at(ps, at + (size_t)(close - s) + 1,
			    "%s: expected ':' and a port after ']'",
			    keys[k].name);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return error_at(ps, at, "%s: expected %s; the port is "
			    "missing", keys[k].name, keys[k].expected);
		if (memchr(s, ':', (size_t)(colon - s)) != NULL)
			return error_at(ps, at, "%s: write an IPv6 address in "
			    "brackets, as [::1]:9020", keys[k].name);
		hlen = (size_t)(colon - s);
		if ((h = strdup_cfg(ps, s, hlen)) == NULL)
			return -1;
		if (numeric) {
			struct in_addr a4;

			if (inet_pton(AF_INET, h, &a4) != 1)
				return error_at(ps, at, "%s: expected a "
				    "numeric address (IPV4:PORT or "
				    "[IPV6]:PORT): names are not resolved "
				    "here", keys[k].name);
		} else if ((problem = hostname_problem(h, hlen)) != NULL) {
			return error_at(ps, at, "%s: %s", keys[k].name,
			    problem);
		}
	}
	*host = h;
	return parse_port(ps, k, it, colon + 1, port);
}

static int
parse_listen(struct parser *ps, struct value *v, const struct item *it)
{
	struct config_listener *l = &ps->cur->pub;
	char text[INET6_ADDRSTRLEN];
	const char *host;
	uint64_t port;

	if (parse_host_port(ps, K_LISTEN, it, it->s, true, &host, &port) != 0)
		return -1;
	memset(&l->listen_addr, 0, sizeof(l->listen_addr));
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->listen_addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &sin6->sin6_addr);
		inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
		l->listen_addr_len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&l->listen_addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &sin->sin_addr);
		inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
		l->listen_addr_len = sizeof(*sin);
	}
	if ((v->s = strdup_cfg(ps, text, strlen(text))) == NULL)
		return -1;
	v->n = port;
	return 0;
}

static int
parse_backend(struct parser *ps, struct value *v, const struct item *it)
{
	if (strncmp(it->s, "tcp://", 6) == 0)
		v->flag = false;
	else if (strncmp(it->s, "tls://", 6) == 0)
		v->flag = true;
	else
		return bad_value(ps, K_BACKEND, it);
	if (strchr(it->s + 6, '/') != NULL)
		return error_at(ps, it->pos, "backend: expected %s; a path "
		    "after the port means nothing here",
		    keys[K_BACKEND].expected);
	return parse_host_port(ps, K_BACKEND, it, it->s + 6, false, &v->s,
	    &v->n);
}

static int
parse_openssl_list(struct parser *ps, enum key_id k, struct value *v)
{
	size_t i, j, total = 0;
	char *joined, *p;

	for (i = 0; i < ps->n_items; i++) {
		const struct item *it = &ps->items[i];

		/* OpenSSL reads spaces as separators: keep one meaning. */
		for (j = 0; j < it->len; j++)
			if (is_space(it->s[j]) || (unsigned char)it->s[j] >= 0x80)
				return error_at(ps, it->pos, "%s: a name with "
				    "a space or a non-ASCII byte: expected "
				    "%s", keys[k].name, keys[k].expected);
		if (it->len == 0 || it->s[0] == ':' ||
		    it->s[it->len - 1] == ':' || strstr(it->s, "::") != NULL)
			return error_at(ps, it->pos, "%s: an empty name: "
			    "expected %s", keys[k].name, keys[k].expected);
		total += it->len + 1;
	}
	if ((joined = calloc_cfg(ps, total)) == NULL)
		return -1;
	for (i = 0, p = joined; i < ps->n_items; i++) {
		if (i > 0)
			*p++ = ':';
		memcpy(p, ps->items[i].s, ps->items[i].len);
		p += ps->items[i].len;
	}
	*p = '\0';
	v->s = joined;
	return 0;
}

static int
parse_peer_list(struct parser *ps, struct value *v)
{
	static const char *const prefixes[] = { "CN=", "DNS=", "URI=" };
	const char **list;
	char buf[64];
	size_t i, j;

	if ((list = calloc_cfg(ps, ps->n_items * sizeof(*list))) == NULL)
		return -1;
	for (i = 0; i < ps->n_items; i++) {
		const struct item *it = &ps->items[i];

		for (j = 0; j < NELEM(prefixes); j++)
			if (strncmp(it->s, prefixes[j],
			    strlen(prefixes[j])) == 0)
				break;
		if (j == NELEM(prefixes))
			return error_at(ps, it->pos, "client_allow: expected "
			    "CN=NAME, DNS=NAME or URI=URI; found %s",
			    shown(it, buf));
		if (it->len == strlen(prefixes[j]))
			return error_at(ps, it->pos, "client_allow: %s "
			    "needs a value", prefixes[j]);
		if ((list[i] = strdup_cfg(ps, it->s, it->len)) == NULL)
			return -1;
	}
	v->list = list;
	v->n_list = ps->n_items;
	return 0;
}

/* Parse the items of the current line as the value of key ${k} into ${v}. */
static int
parse_value(struct parser *ps, enum key_id k, struct value *v)
{
	const struct item *it = &ps->items[0];
	const char *problem;

	if (keys[k].kind == KIND_OPENSSL_LIST)
		return parse_openssl_list(ps, k, v);
	if (keys[k].kind == KIND_PEER_LIST)
		return parse_peer_list(ps, v);
	if (expect_one(ps, k) != 0)
		return -1;
	switch (keys[k].kind) {
	case KIND_COUNT:
		return parse_count(ps, k, it, &v->n);
	case KIND_SIZE:
		return parse_size(ps, k, it, &v->n);
	case KIND_DURATION:
		return parse_duration(ps, k, it, &v->n);
	case KIND_BOOL:
		return parse_bool(ps, k, it, &v->n);
	case KIND_ENUM:
		return parse_enum(ps, k, it, &v->n);
	case KIND_PATH:
		return parse_path(ps, k, it, &v->s);
	case KIND_HOSTNAME:
		if ((problem = hostname_problem(it->s, it->len)) != NULL)
			return error_at(ps, it->pos, "%s: %s: expected %s",
			    keys[k].name, problem, keys[k].expected);
		v->s = strdup_cfg(ps, it->s, it->len);
		return v->s != NULL ? 0 : -1;
	case KIND_LISTEN:
		return parse_listen(ps, v, it);
	case KIND_BACKEND:
		return parse_backend(ps, v, it);
	case KIND_OPENSSL_LIST:
	case KIND_PEER_LIST:
		break;
	}
	return -1;
}

/* ---- lines ----------------------------------------------------------- */

static int
parse_header(struct parser *ps, size_t p)
{
	const char *t = ps->text;
	size_t start = p, word, word_len, name = 0, name_len = 0, close;
	struct listener_priv *lp, *other;
	char buf[48];

	/* Until this header is good, its keys are dropped: only unknown
	 * keys are reported, since they are wrong in any section. */
	ps->sec = NULL;
	ps->cur = NULL;
	ps->skipping = true;
	p = skip_space(ps, p + 1);
	word = p;
	while (p < ps->line_end && is_alnum(t[p]))
		p++;
	word_len = p - word;
	p = skip_space(ps, p);
	if (p > word + word_len) {
		name = p;
		while (p < ps->line_end && (is_alnum(t[p]) || t[p] == '_' ||
		    t[p] == '-' || t[p] == '.'))
			p++;
		name_len = p - name;
		p = skip_space(ps, p);
	}
	if (word_len == 8 && memcmp(t + word, "listener", 8) == 0)
		ps->listener_headers++;
	if (p >= ps->line_end || t[p] != ']')
		return error_at(ps, p, "expected ']' to close the section "
		    "header; found %s (a listener name takes letters, digits, "
		    "'_', '-' and '.')", found_at(ps, p, buf));
	close = p;
	p = skip_space(ps, p + 1);
	if (!at_end(ps, p))
		return error_at(ps, p, "expected the end of the line after "
		    "']'; found %s", found_at(ps, p, buf));

	if (word_len == 6 && memcmp(t + word, "global", 6) == 0) {
		if (name_len > 0)
			return error_at(ps, name, "[global] takes no name");
		if (ps->global_seen)
			return error_at(ps, start, "[global] appears twice "
			    "(first at line %u)", ps->cfg->global_sec.line);
		ps->global_seen = true;
		ps->sec = &ps->cfg->global_sec;
	} else if (word_len == 8 && memcmp(t + word, "listener", 8) == 0) {
		if (name_len == 0)
			return error_at(ps, close, "expected [listener NAME]: "
			    "the name is missing");
		if (name_len > MAX_NAME_BYTES)
			return error_at(ps, name, "a listener name longer than "
			    "%d bytes", MAX_NAME_BYTES);
		for (other = ps->first; other != NULL; other = other->next)
			if (strlen(other->pub.name) == name_len &&
			    memcmp(other->pub.name, t + name, name_len) == 0)
				return error_at(ps, name, "a second listener "
				    "named '%s' (the first is at line %u)",
				    other->pub.name, other->sec.line);
		if (ps->n_listeners == MAX_LISTENERS)
			return error_at(ps, start, "more than %d listeners",
			    MAX_LISTENERS);
		if ((lp = calloc_cfg(ps, sizeof(*lp))) == NULL)
			return -1;
		if ((lp->pub.name = strdup_cfg(ps, t + name, name_len)) ==
		    NULL)
			return -1;
		*ps->tail = lp;
		ps->tail = &lp->next;
		ps->n_listeners++;
		ps->sec = &lp->sec;
		ps->cur = lp;
	} else {
		return error_at(ps, start, "unknown section '[%.*s]': "
		    "expected [global] or [listener NAME]",
		    (int)(word_len < 32 ? word_len : 32), t + word);
	}
	ps->sec->line = ps->line;
	ps->sec->col = (unsigned)(start - ps->line_start + 1);
	ps->skipping = false;
	return 0;
}

static int
unknown_key(struct parser *ps, size_t at, const char *key)
{
	size_t k, best = K_COUNT, best_d = 3, d;

	for (k = 0; k < K_COUNT; k++) {
		d = edit_distance(key, keys[k].name);
		if (d < best_d) {
			best_d = d;
			best = k;
		}
	}
	if (best != K_COUNT)
		return error_at(ps, at, "unknown key '%s'; did you mean '%s'?",
		    key, keys[best].name);
	return error_at(ps, at, "unknown key '%s'", key);
}

static int
parse_assignment(struct parser *ps, size_t p)
{
	const char *t = ps->text;
	size_t key_at = p, key_len;
	char key[MAX_NAME_BYTES + 1], buf[48];
	struct value *v;
	size_t k;
	bool in_global;

	while (p < ps->line_end && (is_alnum(t[p]) || t[p] == '_' ||
	    t[p] == '-' || t[p] == '.'))
		p++;
	key_len = p - key_at;
	if (key_len == 0)
		return error_at(ps, key_at, "expected a key, a [section] "
		    "header or a comment; found %s", found_at(ps, key_at, buf));
	if (key_len > MAX_NAME_BYTES)
		return error_at(ps, key_at, "unknown key (longer than %d "
		    "bytes)", MAX_NAME_BYTES);
	memcpy(key, t + key_at, key_len);
	key[key_len] = '\0';
	p = skip_space(ps, p);
	if (p >= ps->line_end || t[p] != '=')
		return error_at(ps, p, "expected '=' after '%s'; found %s",
		    key, found_at(ps, p, buf));
	for (k = 0; k < K_COUNT; k++)
		if (strcmp(key, keys[k].name) == 0)
			break;
	if (k == K_COUNT)
		return unknown_key(ps, key_at, key);
	if (ps->sec == NULL) {
		if (ps->skipping)
			return -1;
		return error_at(ps, key_at, "'%s' is outside any section: put "
		    "it under [global] or [listener NAME]", key);
	}
	in_global = ps->sec == &ps->cfg->global_sec;
	if (!(keys[k].sections & (in_global ? IN_GLOBAL : IN_LISTENER)))
		return error_at(ps, key_at, "'%s' belongs in %s, not in %s",
		    key, in_global ? "a [listener NAME] section" : "[global]",
		    in_global ? "[global]" : "a listener");
	v = &ps->sec->v[k];
	if (v->set)
		return error_at(ps, key_at, "duplicate key '%s' (first set at "
		    "line %u)", key, v->line);
	v->set = true;
	v->line = ps->line;
	v->col = (unsigned)(key_at - ps->line_start + 1);
	if (split_items(ps, p + 1) != 0 || parse_value(ps, (enum key_id)k,
	    v) != 0)
		return -1;
	v->good = true;
	return 0;
}

static void
parse_line(struct parser *ps)
{
	size_t p;

	/* Control bytes (NUL included) have no place in a config file. */
	for (p = ps->line_start; p < ps->line_end; p++) {
		unsigned char c = (unsigned char)ps->text[p];

		if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
			error_at(ps, p, "a control byte 0x%02x", c);
			return;
		}
	}
	p = skip_space(ps, ps->line_start);
	if (at_end(ps, p))
		return;
	if (ps->text[p] == '[')
		parse_header(ps, p);
	else
		parse_assignment(ps, p);
}

/* ---- resolving ------------------------------------------------------- */

static bool
good(const struct section *sec, enum key_id k)
{
	return sec->v[k].set && sec->v[k].good;
}

/* Written with a value already reported as wrong. */
static bool
bad(const struct section *sec, enum key_id k)
{
	return sec->v[k].set && !sec->v[k].good;
}

static int
error_key(struct parser *ps, const struct section *sec, enum key_id k,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Report an error at key ${k} of ${sec}, which must be set. */
static int
error_key(struct parser *ps, const struct section *sec, enum key_id k,
    const char *fmt, ...)
{
	va_list ap;

	if (ps->stop)
		return -1;
	va_start(ap, fmt);
	report(ps, false, sec->v[k].line, sec->v[k].col, fmt, ap);
	va_end(ap);
	count_error(ps);
	return -1;
}

/* Report ${k} missing from listener ${lp} if it is; ${hint} may be "". */
static void
require(struct parser *ps, struct listener_priv *lp, enum key_id k,
    const char *hint)
{
	if (!lp->sec.v[k].set)
		error_lc(ps, lp->sec.line, lp->sec.col, "[listener %s] needs "
		    "'%s': %s%s", lp->pub.name, keys[k].name, keys[k].expected,
		    hint);
}

static uint64_t
number_or(const struct section *sec, enum key_id k, uint64_t dflt)
{
	return good(sec, k) ? sec->v[k].n : dflt;
}

static const char *
string_or(const struct section *sec, enum key_id k, const char *dflt)
{
	return good(sec, k) ? sec->v[k].s : dflt;
}

static void
resolve_global(struct parser *ps)
{
	struct section *sec = &ps->cfg->global_sec;
	struct config_global *g = &ps->cfg->global;
	const char *audit = string_or(sec, K_AUDIT_LOG, "-");

	g->audit_log = strcmp(audit, "-") == 0 ? NULL : audit;
	g->audit_buffer_bytes = number_or(sec, K_AUDIT_BUFFER_BYTES, MIB);
	g->max_connections = number_or(sec, K_MAX_CONNECTIONS, 1024);
	g->buffer_memory_bytes = number_or(sec, K_BUFFER_MEMORY, 256 * MIB);
	g->workers = (unsigned)number_or(sec, K_WORKERS, 1);
	if (g->workers > 1 && g->audit_log == NULL && good(sec, K_WORKERS))
		error_key(ps, sec, K_WORKERS, "workers = %u needs audit_log to "
		    "be a file: on standard output the workers' events could "
		    "interleave", g->workers);
	if (g->workers > g->max_connections && good(sec, K_WORKERS))
		error_key(ps, sec, K_WORKERS, "workers = %u share max_connections "
		    "= %llu: it must be at least the number of workers",
		    g->workers, (unsigned long long)g->max_connections);
}

static bool
is_loopback(const struct config_listener *l)
{
	if (l->listen_addr.ss_family == AF_INET) {
		const struct sockaddr_in *sin =
		    (const struct sockaddr_in *)&l->listen_addr;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	return IN6_IS_ADDR_LOOPBACK(
	    &((const struct sockaddr_in6 *)&l->listen_addr)->sin6_addr);
}

static void
resolve_analysis(struct parser *ps, struct listener_priv *lp)
{
	struct config_listener *l = &lp->pub;
	struct section *sec = &lp->sec;
	bool framing_ok = good(sec, K_FRAMING);

	l->framing = (enum frame_kind)number_or(sec, K_FRAMING, FRAME_LEN32);
	if (framing_ok && good(sec, K_MP_HANDSHAKE) && l->framing != FRAME_MP)
		error_key(ps, sec, K_MP_HANDSHAKE, "mp_handshake only applies "
		    "to framing = mp; this listener has framing = %s",
		    frame_kind_name(l->framing));
	l->mp_handshake = l->framing != FRAME_MP ? 0 :
	    number_or(sec, K_MP_HANDSHAKE, 1) == 1 ? 3 : 0;
	/* A server reading raw pickles may keep one Unpickler (persistent
	 * memo) or not; only analyzing both is safe without knowing.  The
	 * len32 and mp servers of the stdlib call pickle.loads per message. */
	l->memo = (enum analysis_memo)number_or(sec, K_MEMO,
	    l->framing == FRAME_RAW ? ANALYSIS_MEMO_BOTH :
	    ANALYSIS_MEMO_PER_MESSAGE);
	/* Whether the raw server goes on reading after an unpickling error
	 * is not visible from here: assume it may (pvm_set_resume). */
	if (framing_ok && good(sec, K_RESUME_AFTER_ERROR) &&
	    l->framing != FRAME_RAW)
		error_key(ps, sec, K_RESUME_AFTER_ERROR, "resume_after_error "
		    "only applies to framing = raw: len32 and mp servers "
		    "unpickle each message by itself");
	l->resume_after_error = l->framing == FRAME_RAW &&
	    number_or(sec, K_RESUME_AFTER_ERROR, 1) != 0;
	l->rules = string_or(sec, K_RULES, NULL);
	l->mode_set = good(sec, K_MODE);
	l->mode = (enum policy_mode)number_or(sec, K_MODE,
	    POLICY_MODE_ENFORCE);
	l->on_deny = (enum config_on_deny)number_or(sec, K_ON_DENY,
	    CONFIG_ON_DENY_CLOSE);
	l->fail_policy = (enum config_fail_policy)number_or(sec,
	    K_FAIL_POLICY, CONFIG_FAIL_CLOSE);
	l->message_hash = (enum config_message_hash)number_or(sec,
	    K_MESSAGE_HASH, CONFIG_MESSAGE_HASH_ALL);
	if (l->on_deny == CONFIG_ON_DENY_DROP && framing_ok) {
		if (l->framing == FRAME_RAW)
			error_key(ps, sec, K_ON_DENY, "on_deny = drop is not "
			    "possible with framing = raw: a server that reads "
			    "the stream with one Unpickler would miss the "
			    "dropped pickle's memo entries and read every "
			    "later pickle differently from how it was "
			    "analyzed; use close");
		else if (l->framing == FRAME_MP)
			error_key(ps, sec, K_ON_DENY, "on_deny = drop is not "
			    "possible with framing = mp: "
			    "multiprocessing.connection is request/reply, so "
			    "a client whose message is dropped waits forever "
			    "for the answer; use close");
		else if (l->memo != ANALYSIS_MEMO_PER_MESSAGE &&
		    !bad(sec, K_MEMO))
			error_key(ps, sec, K_ON_DENY, "on_deny = drop needs "
			    "memo = per-message: with a memo kept across "
			    "messages, a dropped message changes how every "
			    "later one is read; use close");
	}
}

static void
resolve_limits(struct parser *ps, struct listener_priv *lp)
{
	const struct config_global *g = &ps->cfg->global;
	const struct section *gsec = &ps->cfg->global_sec;
	struct config_listener *l = &lp->pub;
	struct section *sec = &lp->sec;
	char a[32], b[32];

	l->max_connections = number_or(sec, K_MAX_CONNECTIONS,
	    g->max_connections);
	if (good(sec, K_MAX_CONNECTIONS) && l->max_connections >
	    g->max_connections && !bad(gsec, K_MAX_CONNECTIONS))
		error_key(ps, sec, K_MAX_CONNECTIONS, "max_connections %llu "
		    "can never be reached: the global max_connections is %llu",
		    (unsigned long long)l->max_connections,
		    (unsigned long long)g->max_connections);
	if (good(sec, K_MAX_CONNECTIONS) && l->max_connections < g->workers)
		error_key(ps, sec, K_MAX_CONNECTIONS, "max_connections %llu "
		    "is shared by the %u workers: it must be at least that",
		    (unsigned long long)l->max_connections, g->workers);
	l->max_message_bytes = number_or(sec, K_MAX_MESSAGE_BYTES,
	    PVM_DEFAULT_MAX_MESSAGE_BYTES);
	/* Each worker holds messages within its share of buffer_memory. */
	if (l->max_message_bytes > g->buffer_memory_bytes / g->workers &&
	    !bad(sec, K_MAX_MESSAGE_BYTES) && !bad(gsec, K_BUFFER_MEMORY) &&
	    !bad(gsec, K_WORKERS)) {
		format_size(l->max_message_bytes, a);
		format_size(g->buffer_memory_bytes / g->workers, b);
		if (good(sec, K_MAX_MESSAGE_BYTES))
			error_key(ps, sec, K_MAX_MESSAGE_BYTES,
			    "max_message_bytes %s is more than %s %s (the cap "
			    "on all messages held at once), so no message that "
			    "large could be held", a, g->workers > 1 ?
			    "each worker's share of buffer_memory," :
			    "buffer_memory", b);
		else if (good(gsec, K_BUFFER_MEMORY))
			error_key(ps, gsec, K_BUFFER_MEMORY, "buffer_memory "
			    "%s%s is less than the max_message_bytes of "
			    "listener '%s' (%s, the default), so no message "
			    "that large could be held", b, g->workers > 1 ?
			    " a worker" : "", l->name, a);
		else if (good(gsec, K_WORKERS))
			error_key(ps, gsec, K_WORKERS, "workers = %u leaves each "
			    "%s of buffer_memory, less than the max_message_bytes "
			    "of listener '%s' (%s), so no message that large "
			    "could be held", g->workers, b, l->name, a);
	}
	l->handshake_timeout_ms = number_or(sec, K_HANDSHAKE_TIMEOUT,
	    10 * SECOND_MS);
	l->message_timeout_ms = number_or(sec, K_MESSAGE_TIMEOUT,
	    30 * SECOND_MS);
	l->idle_timeout_ms = number_or(sec, K_IDLE_TIMEOUT, 5 * MINUTE_MS);
	l->connect_timeout_ms = number_or(sec, K_CONNECT_TIMEOUT,
	    5 * SECOND_MS);
}

static void
resolve_server_tls(struct parser *ps, struct listener_priv *lp)
{
	struct config_listener *l = &lp->pub;
	struct section *sec = &lp->sec;
	size_t i;

	l->tls = number_or(sec, K_TLS, 1) != 0;
	if (!l->tls) {
		for (i = 0; i < NELEM(server_tls_keys); i++)
			if (sec->v[server_tls_keys[i]].set)
				error_key(ps, sec, server_tls_keys[i], "'%s' "
				    "needs tls = yes; this listener is "
				    "plaintext (tls = no at line %u)",
				    keys[server_tls_keys[i]].name,
				    sec->v[K_TLS].line);
		if (good(sec, K_LISTEN) && !is_loopback(l))
			warn_lc(ps, sec->v[K_TLS].line, sec->v[K_TLS].col,
			    "listener '%s' takes plaintext on %s, which is "
			    "not a loopback address: pickles and client "
			    "identities cross the network unprotected",
			    l->name, l->listen_host);
		return;
	}
	if (!sec->v[K_TLS].set || good(sec, K_TLS)) {
		require(ps, lp, K_TLS_CERT, " (or tls = no for a plaintext "
		    "listener)");
		require(ps, lp, K_TLS_KEY, " (or tls = no for a plaintext "
		    "listener)");
	}
	l->tls_cert = string_or(sec, K_TLS_CERT, NULL);
	l->tls_key = string_or(sec, K_TLS_KEY, NULL);
	l->tls_min_version = number_or(sec, K_TLS_MIN_VERSION, 0) == 1 ?
	    CONFIG_TLS_1_3 : CONFIG_TLS_1_2;
	if (good(sec, K_TLS_MIN_VERSION) && l->tls_min_version ==
	    CONFIG_TLS_1_3 && sec->v[K_TLS_CIPHERS].set)
		error_key(ps, sec, K_TLS_CIPHERS, "tls_ciphers only applies "
		    "to TLS 1.2, which tls_min_version = 1.3 turns off; "
		    "TLS 1.3 takes tls_ciphersuites");
	l->tls_ciphers = string_or(sec, K_TLS_CIPHERS, NULL);
	l->tls_ciphersuites = string_or(sec, K_TLS_CIPHERSUITES, NULL);
	l->tls_groups = string_or(sec, K_TLS_GROUPS, NULL);
	l->tls_session_tickets = (unsigned)number_or(sec,
	    K_TLS_SESSION_TICKETS, 0);
	l->client_auth = (enum config_client_auth)number_or(sec,
	    K_CLIENT_AUTH, CONFIG_CLIENT_AUTH_NONE);
	if (!good(sec, K_CLIENT_AUTH) && sec->v[K_CLIENT_AUTH].set)
		return;
	if (l->client_auth == CONFIG_CLIENT_AUTH_NONE) {
		for (i = 0; i < NELEM(client_cert_keys); i++)
			if (sec->v[client_cert_keys[i]].set)
				error_key(ps, sec, client_cert_keys[i], "'%s' "
				    "needs client_auth = optional or required",
				    keys[client_cert_keys[i]].name);
		return;
	}
	if (!sec->v[K_CLIENT_CA].set)
		error_key(ps, sec, K_CLIENT_AUTH, "client_auth = %s needs "
		    "client_ca: %s", client_auth_names[l->client_auth],
		    keys[K_CLIENT_CA].expected);
	l->client_ca = string_or(sec, K_CLIENT_CA, NULL);
	l->client_crl = string_or(sec, K_CLIENT_CRL, NULL);
	/* With optional, a client without a certificate would pass an
	 * allow-list it never faced. */
	if (l->client_auth == CONFIG_CLIENT_AUTH_OPTIONAL &&
	    sec->v[K_CLIENT_ALLOW].set)
		error_key(ps, sec, K_CLIENT_ALLOW, "client_allow needs "
		    "client_auth = required: with optional, a client that "
		    "sends no certificate is never checked against it");
	if (good(sec, K_CLIENT_ALLOW)) {
		l->client_allow = sec->v[K_CLIENT_ALLOW].list;
		l->n_client_allow = sec->v[K_CLIENT_ALLOW].n_list;
	}
}

static void
resolve_backend(struct parser *ps, struct listener_priv *lp)
{
	struct config_listener *l = &lp->pub;
	struct section *sec = &lp->sec;
	size_t i;

	if (!good(sec, K_BACKEND))
		return;
	l->backend_tls = sec->v[K_BACKEND].flag;
	l->backend_host = sec->v[K_BACKEND].s;
	l->backend_port = (uint16_t)sec->v[K_BACKEND].n;
	if (!l->backend_tls) {
		for (i = 0; i < NELEM(backend_tls_keys); i++)
			if (sec->v[backend_tls_keys[i]].set)
				error_key(ps, sec, backend_tls_keys[i], "'%s' "
				    "only applies to a tls:// backend; this "
				    "one is tcp://",
				    keys[backend_tls_keys[i]].name);
		return;
	}
	l->backend_verify = number_or(sec, K_BACKEND_VERIFY, 1) != 0;
	if (good(sec, K_BACKEND_VERIFY) && !l->backend_verify) {
		if (sec->v[K_BACKEND_CA].set)
			error_key(ps, sec, K_BACKEND_CA, "backend_ca means "
			    "nothing with backend_verify = no");
		warn_lc(ps, sec->v[K_BACKEND_VERIFY].line,
		    sec->v[K_BACKEND_VERIFY].col, "backend_verify = no: "
		    "anyone on the path to %s can pose as the backend and "
		    "read what clients send", l->backend_host);
	}
	l->backend_ca = string_or(sec, K_BACKEND_CA, NULL);
	l->backend_name = string_or(sec, K_BACKEND_NAME, l->backend_host);
	if (good(sec, K_BACKEND_SNI)) {
		if (is_ip_literal(sec->v[K_BACKEND_SNI].s))
			error_key(ps, sec, K_BACKEND_SNI, "backend_sni cannot "
			    "be an IP address (RFC 6066 server names are host "
			    "names)");
		l->backend_sni = sec->v[K_BACKEND_SNI].s;
	} else if (!is_ip_literal(l->backend_name)) {
		l->backend_sni = l->backend_name;
	}
	if (sec->v[K_BACKEND_CERT].set != sec->v[K_BACKEND_KEY].set)
		error_key(ps, sec, sec->v[K_BACKEND_CERT].set ?
		    K_BACKEND_CERT : K_BACKEND_KEY, "backend_cert and "
		    "backend_key go together; this listener has only %s",
		    sec->v[K_BACKEND_CERT].set ? "backend_cert" :
		    "backend_key");
	l->backend_cert = string_or(sec, K_BACKEND_CERT, NULL);
	l->backend_key = string_or(sec, K_BACKEND_KEY, NULL);
}

static void
resolve_listener(struct parser *ps, struct listener_priv *lp)
{
	struct config_listener *l = &lp->pub;
	struct section *sec = &lp->sec;

	require(ps, lp, K_LISTEN, "");
	require(ps, lp, K_BACKEND, "");
	require(ps, lp, K_FRAMING, "");
	if (good(sec, K_LISTEN)) {
		l->listen_host = sec->v[K_LISTEN].s;
		l->listen_port = (uint16_t)sec->v[K_LISTEN].n;
	}
	resolve_analysis(ps, lp);
	resolve_limits(ps, lp);
	resolve_server_tls(ps, lp);
	resolve_backend(ps, lp);
}

/* Whether binding ${a} would collide with binding ${b}. */
static bool
addresses_overlap(const struct config_listener *a,
    const struct config_listener *b)
{
	if (a->listen_port != b->listen_port ||
	    a->listen_addr.ss_family != b->listen_addr.ss_family)
		return false;
	if (a->listen_addr.ss_family == AF_INET) {
		in_addr_t x = ((const struct sockaddr_in *)&a->listen_addr)->
		    sin_addr.s_addr;
		in_addr_t y = ((const struct sockaddr_in *)&b->listen_addr)->
		    sin_addr.s_addr;

		return x == y || x == htonl(INADDR_ANY) ||
		    y == htonl(INADDR_ANY);
	} else {
		const struct in6_addr *x = &((const struct sockaddr_in6 *)
		    &a->listen_addr)->sin6_addr;
		const struct in6_addr *y = &((const struct sockaddr_in6 *)
		    &b->listen_addr)->sin6_addr;

		return memcmp(x, y, sizeof(*x)) == 0 ||
		    IN6_IS_ADDR_UNSPECIFIED(x) || IN6_IS_ADDR_UNSPECIFIED(y);
	}
}

static void
check_addresses(struct parser *ps)
{
	struct listener_priv *a, *b;

	for (b = ps->first; b != NULL; b = b->next) {
		if (!good(&b->sec, K_LISTEN))
			continue;
		for (a = ps->first; a != b; a = a->next) {
			if (!good(&a->sec, K_LISTEN) ||
			    !addresses_overlap(&a->pub, &b->pub))
				continue;
			error_key(ps, &b->sec, K_LISTEN, "listener '%s' "
			    "listens on %s port %u, which listener '%s' "
			    "(line %u) already takes", b->pub.name,
			    b->pub.listen_host, b->pub.listen_port,
			    a->pub.name, a->sec.v[K_LISTEN].line);
			break;
		}
	}
}

static int
finish(struct parser *ps)
{
	struct config *cfg = ps->cfg;
	struct listener_priv *lp;
	unsigned line = ps->line;
	size_t i;

	if (ps->stop)
		return -1;
	if (ps->listener_headers == 0) {
		/* At the very end: where the missing section would go. */
		size_t last = ps->len;

		while (last > 0 && ps->text[last - 1] != '\n')
			last--;
		error_lc(ps, line, (unsigned)(ps->len - last + 1), "no "
		    "[listener NAME] section: picklewall needs at least one "
		    "listener");
	}
	resolve_global(ps);
	for (lp = ps->first; lp != NULL; lp = lp->next)
		resolve_listener(ps, lp);
	check_addresses(ps);
	if (ps->errors > 0)
		return -1;
	cfg->listeners = calloc_cfg(ps, ps->n_listeners *
	    sizeof(*cfg->listeners));
	if (cfg->listeners == NULL)
		return -1;
	for (lp = ps->first, i = 0; lp != NULL; lp = lp->next)
		cfg->listeners[i++] = lp;
	cfg->n_listeners = ps->n_listeners;
	return 0;
}

/* ---- loading --------------------------------------------------------- */

/**
 * config_load_text(name, text, len, diag, cookie):
 * As config_load() for the ${len} bytes at ${text}, reported as file
 * ${name}; relative paths are resolved against the directory of ${name}
 * (left as they are if ${name} has no '/').
 */
struct config *
config_load_text(const char *name, const char *text, size_t len,
    config_diag_fn *diag, void *cookie)
{
	struct parser ps;
	struct config *cfg;
	struct arena *arena;
	const char *slash;
	size_t p;

	if ((arena = arena_new()) == NULL)
		return NULL;
	if (arena_alloc(arena, sizeof(*cfg), MAX_CONFIG_MEMORY_BYTES,
	    (void **)&cfg) != 0) {
		arena_free(arena);
		return NULL;
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->arena = arena;
	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	ps.diag = diag;
	ps.cookie = cookie;
	ps.text = text;
	ps.len = len;
	ps.tail = &ps.first;
	if ((cfg->name = strdup_cfg(&ps, name, strlen(name))) == NULL) {
		cfg->name = name;
		out_of_memory(&ps);
		goto fail;
	}
	if ((slash = strrchr(cfg->name, '/')) != NULL) {
		ps.dir = cfg->name;
		/* "/x.conf" is under "/", not under "". */
		ps.dir_len = slash == cfg->name ? 1 : (size_t)(slash -
		    cfg->name);
	}
	if (len > MAX_CONFIG_FILE_BYTES) {
		error_lc(&ps, 0, 0, "larger than 1 MiB");
		goto fail;
	}
	if ((ps.scratch = malloc(len + 2)) == NULL) {
		out_of_memory(&ps);
		goto fail;
	}
	for (p = 0; p <= len && !ps.stop; p = ps.line_end + 1) {
		const char *nl = p < len ? memchr(text + p, '\n', len - p) :
		    NULL;

		ps.line++;
		ps.line_start = p;
		ps.line_end = nl != NULL ? (size_t)(nl - text) : len;
		parse_line(&ps);
	}
	if (finish(&ps) != 0)
		goto fail;
	free(ps.scratch);
	return cfg;

fail:
	free(ps.scratch);
	arena_free(arena);
	return NULL;
}

/**
 * config_load(path, diag, cookie):
 * Read and validate the configuration file ${path}.  Every error and
 * warning goes to ${diag}(${cookie}, ...) if it is not NULL.  Returns the
 * configuration, or NULL if there was any error (or memory ran out).
 */
struct config *
config_load(const char *path, config_diag_fn *diag, void *cookie)
{
	struct config *cfg = NULL;
	struct config_diag d = { false, path, 0, 0, NULL };
	char message[256];
	FILE *f;
	char *buf;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(message, sizeof(message), "cannot open: %s",
		    strerror(errno));
		goto report;
	}
	if ((buf = malloc(MAX_CONFIG_FILE_BYTES + 1)) == NULL) {
		fclose(f);
		snprintf(message, sizeof(message), "out of memory while "
		    "loading the configuration");
		goto report;
	}
	n = fread(buf, 1, MAX_CONFIG_FILE_BYTES + 1, f);
	if (ferror(f) || n > MAX_CONFIG_FILE_BYTES) {
		snprintf(message, sizeof(message), "%s", ferror(f) ?
		    "read error" : "larger than 1 MiB");
		free(buf);
		fclose(f);
		goto report;
	}
	fclose(f);
	cfg = config_load_text(path, buf, n, diag, cookie);
	free(buf);
	return cfg;

report:
	d.message = message;
	if (diag != NULL)
		diag(cookie, &d);
	return NULL;
}

/**
 * config_embedded_default(diag, cookie):
 * The configuration compiled into the binary (config_embedded_default_text)
 * that `make run` uses: listener "demo" on 127.0.0.1:9020 with TLS
 * (certs/dev/server-chain.crt, the certificate and its intermediate, and
 * certs/dev/server.key), backend tcp://127.0.0.1:9021, framing len32,
 * rules rules/logging.rules, audit log on standard output.  Its paths are
 * relative to the current directory.  Returns NULL as config_load() does.
 */
struct config *
config_embedded_default(config_diag_fn *diag, void *cookie)
{
	return config_load_text(EMBEDDED_DEFAULT_NAME, embedded_default_text,
	    sizeof(embedded_default_text) - 1, diag, cookie);
}

/**
 * config_embedded_default_text():
 * The NUL-terminated text config_embedded_default() loads.
 */
const char *
config_embedded_default_text(void)
{
	return embedded_default_text;
}

/**
 * config_free(cfg):
 * Release ${cfg} and everything it handed out; NULL is a no-op.
 */
void
config_free(struct config *cfg)
{
	if (cfg != NULL)
		arena_free(cfg->arena);
}

/**
 * config_name(cfg):
 * The file name ${cfg} was loaded as.
 */
const char *
config_name(const struct config *cfg)
{
	return cfg->name;
}

/**
 * config_global(cfg):
 * The [global] settings of ${cfg}.
 */
const struct config_global *
config_global(const struct config *cfg)
{
	return &cfg->global;
}

/**
 * config_listener_count(cfg):
 * The number of listeners in ${cfg}; at least 1.
 */
size_t
config_listener_count(const struct config *cfg)
{
	return cfg->n_listeners;
}

/**
 * config_listener(cfg, i):
 * Listener ${i} of ${cfg} (0-based, in file order); ${i} must be below
 * config_listener_count(${cfg}).
 */
const struct config_listener *
config_listener(const struct config *cfg, size_t i)
{
	return &cfg->listeners[i]->pub;
}

/**
 * config_check_rule_limits(cfg, l, rule_limits, diag, cookie):
 * Check the limits a listener's rule file sets against the listener ${l}
 * of ${cfg}: ${rule_limits} is what policy_limits() set on a zeroed struct
 * (zero: not set).  The listener's max_message_bytes bounds what is
 * buffered, so a rule file's `limit message_bytes` above it could never
 * apply: that is an error, reported to ${diag} at the listener's `rules`
 * key.  Returns 0, or -1 after reporting.
 */
int
config_check_rule_limits(const struct config *cfg,
    const struct config_listener *l, const struct pvm_limits *rule_limits,
    config_diag_fn *diag, void *cookie)
{
	const struct listener_priv *lp = (const struct listener_priv *)l;
	const struct value *v = &lp->sec.v[K_RULES];
	struct config_diag d;
	char message[512], a[32], b[32];

	if (rule_limits->max_message_bytes <= l->max_message_bytes)
		return 0;
	format_size(rule_limits->max_message_bytes, a);
	format_size(l->max_message_bytes, b);
	snprintf(message, sizeof(message), "the rule file %s sets limit "
	    "message_bytes %s, above this listener's max_message_bytes %s: "
	    "the rule could never apply; lower it or raise "
	    "max_message_bytes", l->rules != NULL ? l->rules : "(built in)",
	    a, b);
	d.warning = false;
	d.file = cfg->name;
	d.line = v->set ? v->line : lp->sec.line;
	d.col = v->set ? v->col : lp->sec.col;
	d.message = message;
	if (diag != NULL)
		diag(cookie, &d);
	return -1;
}
