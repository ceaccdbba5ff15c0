/*
 * The configuration loader (proxy/config.h, picklewall.conf.example), one
 * behaviour per test.  Configurations are written out in the test; errors
 * are checked with the line and column they must point at.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

#define CONF_NAME "t.conf"

/* A plaintext listener with every required key; the next line is 6. */
#define LISTENER							\
	"[listener t]\n"						\
	"listen = 127.0.0.1:9020\n"					\
	"backend = tcp://127.0.0.1:9021\n"				\
	"framing = len32\n"						\
	"tls = no\n"

/* The same with TLS; the next line is 6. */
#define TLS_LISTENER							\
	"[listener t]\n"						\
	"listen = 127.0.0.1:9020\n"					\
	"backend = tcp://127.0.0.1:9021\n"				\
	"framing = len32\n"						\
	"tls_cert = s.crt\ntls_key = s.key\n"

/* ---- loading --------------------------------------------------------- */

#define MAX_DIAGS 64

struct diag_copy {
	bool warning;
	char file[512];
	unsigned line, col;
	char message[512];
};

struct diags {
	size_t n, n_errors, n_warnings;
	struct diag_copy d[MAX_DIAGS];
};

static void
collect_diag(void *cookie, const struct config_diag *d)
{
	struct diags *ds = cookie;
	struct diag_copy *c;

	ck_assert_ptr_nonnull(d->file);
	ck_assert_ptr_nonnull(d->message);
	if (d->warning)
		ds->n_warnings++;
	else
		ds->n_errors++;
	if (ds->n == MAX_DIAGS)
		return;
	c = &ds->d[ds->n++];
	c->warning = d->warning;
	snprintf(c->file, sizeof(c->file), "%s", d->file);
	c->line = d->line;
	c->col = d->col;
	snprintf(c->message, sizeof(c->message), "%s", d->message);
}

static struct config *
load_named(const char *name, const char *text, struct diags *ds)
{
	memset(ds, 0, sizeof(*ds));
	return config_load_text(name, text, strlen(text), collect_diag, ds);
}

static struct config *
load(const char *text, struct diags *ds)
{
	return load_named(CONF_NAME, text, ds);
}

/* ${text} loads without an error or a warning. */
static struct config *
load_ok(const char *text)
{
	struct diags ds;
	struct config *cfg = load(text, &ds);

	ck_assert_msg(cfg != NULL, "load failed: %s:%u:%u: %s", ds.d[0].file,
	    ds.d[0].line, ds.d[0].col, ds.d[0].message);
	ck_assert_msg(ds.n == 0, "unexpected %s: %u:%u: %s",
	    ds.d[0].warning ? "warning" : "error", ds.d[0].line, ds.d[0].col,
	    ds.d[0].message);
	return cfg;
}

/* Diagnostic ${i} of ${ds} is an error at ${line}:${col} that contains
 * ${message}. */
static void
assert_diag(const struct diags *ds, size_t i, bool warning, unsigned line,
    unsigned col, const char *message)
{
	const struct diag_copy *e;

	ck_assert_msg(i < ds->n, "diagnostic %zu of %zu", i, ds->n);
	e = &ds->d[i];
	ck_assert(e->warning == warning);
	ck_assert_str_eq(e->file, CONF_NAME);
	ck_assert_msg(strstr(e->message, message) != NULL,
	    "\"%s\" does not contain \"%s\"", e->message, message);
	ck_assert_msg(e->line == line && e->col == col,
	    "at %u:%u, expected %u:%u (%s)", e->line, e->col, line, col,
	    e->message);
}

/* Loading ${text} fails with exactly one error, at ${line}:${col}, whose
 * message contains ${message}. */
static void
assert_error(const char *text, unsigned line, unsigned col,
    const char *message)
{
	struct diags ds;
	struct config *cfg = load(text, &ds);

	ck_assert_ptr_null(cfg);
	ck_assert_msg(ds.n_errors == 1, "%zu errors, the first %u:%u: %s",
	    ds.n_errors, ds.d[0].line, ds.d[0].col, ds.d[0].message);
	ck_assert_uint_eq(ds.n_warnings, 0);
	assert_diag(&ds, 0, false, line, col, message);
}

/* ${text} loads with exactly one warning, at ${line}:${col}. */
static struct config *
load_warning(const char *text, unsigned line, unsigned col,
    const char *message)
{
	struct diags ds;
	struct config *cfg = load(text, &ds);

	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(ds.n_errors, 0);
	ck_assert_uint_eq(ds.n_warnings, 1);
	assert_diag(&ds, 0, true, line, col, message);
	return cfg;
}

static const struct config_listener *
first(const struct config *cfg)
{
	return config_listener(cfg, 0);
}

/* ---- sizes ----------------------------------------------------------- */

START_TEST(size_units_are_powers_of_1024)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
		{ "4096", 4096 }, { "64k", 64 << 10 }, { "64K", 64 << 10 },
		{ "3KiB", 3 << 10 }, { "16M", 16 << 20 }, { "16m", 16 << 20 },
		{ "2MiB", 2 << 20 }, { "1G", 1ULL << 30 }, { "1GiB", 1ULL << 30 },
		{ "\"8k\"", 8 << 10 },
	};
	char text[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg;

		snprintf(text, sizeof(text), "[global]\nbuffer_memory = 2G\n"
		    LISTENER "max_message_bytes = %s\n", cases[i].text);
		cfg = load_ok(text);
		ck_assert_msg(first(cfg)->max_message_bytes == cases[i].bytes,
		    "%s gave %llu", cases[i].text,
		    (unsigned long long)first(cfg)->max_message_bytes);
		config_free(cfg);
	}
}
END_TEST

START_TEST(size_unknown_unit_points_at_the_unit)
{
	assert_error(LISTENER "max_message_bytes = 64kb\n", 6, 23,
	    "max_message_bytes: unknown size unit 'kb': expected none (bytes), "
	    "k, M or G");
}
END_TEST

START_TEST(size_without_digits_says_what_a_size_is)
{
	assert_error(LISTENER "max_message_bytes = big\n", 6, 21,
	    "max_message_bytes: expected a size such as 4096, 64k, 16M or 1G; "
	    "found 'big'");
}
END_TEST

START_TEST(size_above_the_range_is_refused)
{
	assert_error(LISTENER "max_message_bytes = 2G\n", 6, 21,
	    "max_message_bytes must be between 1 and 1G");
}
END_TEST

START_TEST(size_that_overflows_is_out_of_range)
{
	assert_error(LISTENER "max_message_bytes = 99999999999999999999G\n", 6,
	    21, "max_message_bytes must be between 1 and 1G");
	assert_error(LISTENER "max_message_bytes = 17179869184G\n", 6, 21,
	    "max_message_bytes must be between 1 and 1G");
}
END_TEST

/* ---- durations ------------------------------------------------------- */

START_TEST(duration_units_resolve_to_milliseconds)
{
	struct config *cfg = load_ok(LISTENER
	    "handshake_timeout = 500ms\n"
	    "message_timeout = 2s\n"
	    "idle_timeout = 5m\n"
	    "connect_timeout = 1h\n");

	ck_assert_uint_eq(first(cfg)->handshake_timeout_ms, 500);
	ck_assert_uint_eq(first(cfg)->message_timeout_ms, 2000);
	ck_assert_uint_eq(first(cfg)->idle_timeout_ms, 300000);
	ck_assert_uint_eq(first(cfg)->connect_timeout_ms, 3600000);
	config_free(cfg);
}
END_TEST

START_TEST(duration_without_unit_is_an_error)
{
	assert_error(LISTENER "idle_timeout = 30\n", 6, 16,
	    "idle_timeout: '30' has no unit: write 30s for seconds");
}
END_TEST

START_TEST(duration_unknown_unit_points_at_the_unit)
{
	assert_error(LISTENER "idle_timeout = 2d\n", 6, 17,
	    "idle_timeout: unknown duration unit 'd': expected ms, s, m or h");
}
END_TEST

START_TEST(duration_out_of_range_names_the_bounds)
{
	assert_error(LISTENER "handshake_timeout = 2h\n", 6, 21,
	    "handshake_timeout must be between 1ms and 1h");
	assert_error(LISTENER "connect_timeout = 0s\n", 6, 19,
	    "connect_timeout must be between 1ms and 1h");
	assert_error(LISTENER "idle_timeout = 721h\n", 6, 16,
	    "idle_timeout must be between 1ms and 720h");
}
END_TEST

START_TEST(duration_fraction_is_not_a_duration)
{
	assert_error(LISTENER "idle_timeout = 1.5s\n", 6, 17,
	    "idle_timeout: unknown duration unit '.5s'");
}
END_TEST

/* ---- other values ---------------------------------------------------- */

START_TEST(booleans_take_yes_true_on_and_no_false_off)
{
	static const char *const yes[] = { "yes", "true", "on" };
	static const char *const no[] = { "no", "false", "off" };
	char text[512];
	size_t i;

	for (i = 0; i < 3; i++) {
		struct config *cfg;

		snprintf(text, sizeof(text), LISTENER "[listener u]\n"
		    "listen = 127.0.0.1:9030\nbackend = tls://db:1\n"
		    "framing = len32\ntls = %s\ntls_cert = c\ntls_key = k\n"
		    "backend_verify = %s\n", yes[i], yes[i]);
		cfg = load_ok(text);
		ck_assert(config_listener(cfg, 1)->tls);
		ck_assert(config_listener(cfg, 1)->backend_verify);
		config_free(cfg);
		snprintf(text, sizeof(text), LISTENER "[listener u]\n"
		    "listen = 127.0.0.1:9030\nbackend = tcp://db:1\n"
		    "framing = len32\ntls = %s\n", no[i]);
		cfg = load_ok(text);
		ck_assert(!config_listener(cfg, 1)->tls);
		config_free(cfg);
	}
}
END_TEST

START_TEST(boolean_other_word_is_an_error)
{
	assert_error("[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://127.0.0.1:9021\nframing = len32\ntls = Yes\n", 5, 7,
	    "tls: expected yes or no (or true/false, on/off); found 'Yes'");
}
END_TEST

START_TEST(enum_unknown_value_lists_the_choices)
{
	assert_error("[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://127.0.0.1:9021\nframing = len33\ntls = no\n", 4, 11,
	    "framing: expected raw, len32 or mp; found 'len33'");
}
END_TEST

START_TEST(count_takes_decimal_digits_only)
{
	assert_error(LISTENER "max_connections = 12x\n", 6, 19,
	    "max_connections: expected a number of connections; found '12x'");
	assert_error(LISTENER "max_connections = -1\n", 6, 19,
	    "max_connections: expected a number of connections; found '-1'");
	assert_error(LISTENER "max_connections = 0\n", 6, 19,
	    "max_connections must be between 1 and 1000000");
}
END_TEST

START_TEST(workers_share_the_limits_and_need_an_audit_file)
{
	struct diags ds;
	struct config *cfg;

	cfg = load("[global]\naudit_log = /tmp/a.jsonl\nworkers = 4\n"
	    LISTENER, &ds);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(config_global(cfg)->workers, 4);
	config_free(cfg);
	cfg = load(LISTENER, &ds);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(config_global(cfg)->workers, 1);
	config_free(cfg);
	/* Several writers on one pipe could cut each other's lines. */
	assert_error("[global]\nworkers = 2\n" LISTENER, 2, 1,
	    "workers = 2 needs audit_log to be a file");
	assert_error("[global]\naudit_log = /tmp/a.jsonl\n"
	    "max_connections = 3\nworkers = 4\n" LISTENER, 4, 1,
	    "it must be at least the number of workers");
	assert_error("[global]\naudit_log = /tmp/a.jsonl\nworkers = 4\n"
	    LISTENER "max_connections = 3\n", 9, 1,
	    "is shared by the 4 workers");
	assert_error("[global]\naudit_log = /tmp/a.jsonl\nworkers = 65\n"
	    LISTENER, 3, 11, "workers must be between 1 and 64");
	/* Each worker holds messages within its share of buffer_memory. */
	assert_error("[global]\naudit_log = /tmp/a.jsonl\nworkers = 8\n"
	    LISTENER, 3, 1, "workers = 8 leaves each 32M of buffer_memory");
	assert_error("[global]\naudit_log = /tmp/a.jsonl\nworkers = 4\n"
	    LISTENER "max_message_bytes = 65M\n", 9, 1,
	    "more than each worker's share of buffer_memory, 64M");
}
END_TEST

START_TEST(scalar_key_refuses_a_list)
{
	assert_error(LISTENER "rules = a.rules, b.rules\n", 6, 18,
	    "rules takes one value, not a list");
}
END_TEST

START_TEST(quoted_string_keeps_spaces_hashes_and_escapes)
{
	struct config *cfg = load_ok(LISTENER
	    "rules = \"my rules/#1 \\\"x\\\" \\\\.rules\"  # a comment\n");

	ck_assert_str_eq(first(cfg)->rules, "my rules/#1 \"x\" \\.rules");
	config_free(cfg);
}
END_TEST

START_TEST(bare_value_ends_at_a_comment)
{
	struct config *cfg = load_ok(LISTENER "rules = a.rules# the rules\n");

	ck_assert_str_eq(first(cfg)->rules, "a.rules");
	config_free(cfg);
}
END_TEST

START_TEST(bare_value_with_a_space_asks_for_quotes)
{
	assert_error(LISTENER "rules = my rules\n", 6, 12,
	    "expected ',' or the end of the line; found 'rules' (quote a value "
	    "that contains spaces)");
}
END_TEST

START_TEST(unterminated_string_points_at_the_quote)
{
	assert_error(LISTENER "rules = \"a.rules\n", 6, 9,
	    "unterminated string: no closing '\"' on this line");
}
END_TEST

START_TEST(unknown_escape_points_at_the_backslash)
{
	assert_error(LISTENER "rules = \"a\\n\"\n", 6, 11,
	    "unknown escape in a string: only \\\" and \\\\ are escapes");
}
END_TEST

START_TEST(empty_value_is_an_error)
{
	assert_error(LISTENER "rules =\n", 6, 8, "expected a value after '='");
	assert_error(LISTENER "rules = # none\n", 6, 9,
	    "expected a value after '='");
	assert_error(LISTENER "rules = \"\"\n", 6, 9,
	    "rules: expected the path of a rule file; found an empty string");
}
END_TEST

START_TEST(list_items_are_joined_for_openssl)
{
	struct config *cfg = load_ok(TLS_LISTENER
	    "tls_groups = X25519, \"P-256\" ,P-384\n"
	    "tls_ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384\n"
	    "tls_ciphers = ECDHE-RSA-AES128-GCM-SHA256\n");

	ck_assert_str_eq(first(cfg)->tls_groups, "X25519:P-256:P-384");
	ck_assert_str_eq(first(cfg)->tls_ciphersuites,
	    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384");
	ck_assert_str_eq(first(cfg)->tls_ciphers,
	    "ECDHE-RSA-AES128-GCM-SHA256");
	config_free(cfg);
}
END_TEST

START_TEST(list_empty_item_is_an_error)
{
	assert_error(TLS_LISTENER "tls_groups = X25519,,P-256\n", 7, 21,
	    "an empty list item: expected a value before ','");
	assert_error(TLS_LISTENER "tls_groups = X25519,\n", 7, 21,
	    "expected a list item after ','");
	assert_error(TLS_LISTENER "tls_groups = X25519::P-256\n", 7, 14,
	    "tls_groups: an empty name");
}
END_TEST

START_TEST(openssl_name_with_a_space_is_an_error)
{
	assert_error(TLS_LISTENER "tls_ciphers = \"HIGH !aNULL\"\n", 7, 15,
	    "tls_ciphers: a name with a space or a non-ASCII byte");
}
END_TEST

START_TEST(crlf_line_ends_read_the_same)
{
	struct config *cfg = load_ok("[listener t]\r\n"
	    "listen = 127.0.0.1:9020\r\n"
	    "backend = tcp://127.0.0.1:9021\r\n"
	    "framing = mp\r\n"
	    "tls = no\r\n");

	ck_assert_int_eq(first(cfg)->framing, FRAME_MP);
	ck_assert_str_eq(first(cfg)->backend_host, "127.0.0.1");
	config_free(cfg);
}
END_TEST

/* ---- paths ----------------------------------------------------------- */

START_TEST(relative_paths_are_under_the_file_directory)
{
	struct diags ds;
	struct config *cfg = load_named("/etc/pw/pw.conf", "[global]\n"
	    "audit_log = log/audit.jsonl\n" TLS_LISTENER "rules = r.rules\n",
	    &ds);

	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(config_global(cfg)->audit_log,
	    "/etc/pw/log/audit.jsonl");
	ck_assert_str_eq(first(cfg)->rules, "/etc/pw/r.rules");
	ck_assert_str_eq(first(cfg)->tls_cert, "/etc/pw/s.crt");
	ck_assert_str_eq(first(cfg)->tls_key, "/etc/pw/s.key");
	config_free(cfg);
}
END_TEST

START_TEST(absolute_paths_stay_as_written)
{
	struct diags ds;
	struct config *cfg = load_named("/etc/pw/pw.conf", LISTENER
	    "rules = /srv/r.rules\n", &ds);

	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(first(cfg)->rules, "/srv/r.rules");
	config_free(cfg);
}
END_TEST

START_TEST(paths_of_a_file_in_root_are_under_root)
{
	struct diags ds;
	struct config *cfg = load_named("/pw.conf", LISTENER
	    "rules = r.rules\n", &ds);

	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(first(cfg)->rules, "/r.rules");
	config_free(cfg);
}
END_TEST

START_TEST(name_without_directory_leaves_paths_relative)
{
	struct config *cfg = load_ok(LISTENER "rules = rules/x.rules\n");

	ck_assert_str_eq(first(cfg)->rules, "rules/x.rules");
	config_free(cfg);
}
END_TEST

START_TEST(audit_log_dash_is_standard_output)
{
	struct diags ds;
	struct config *cfg = load_named("/etc/pw/pw.conf",
	    "[global]\naudit_log = -\n" LISTENER, &ds);

	ck_assert_ptr_nonnull(cfg);
	ck_assert_ptr_null(config_global(cfg)->audit_log);
	config_free(cfg);
}
END_TEST

/* ---- addresses ------------------------------------------------------- */

START_TEST(listen_ipv4_fills_a_sockaddr)
{
	struct config *cfg = load_ok(LISTENER);
	const struct config_listener *l = first(cfg);
	const struct sockaddr_in *sin = (const void *)&l->listen_addr;

	ck_assert_str_eq(l->listen_host, "127.0.0.1");
	ck_assert_uint_eq(l->listen_port, 9020);
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin->sin_port), 9020);
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	ck_assert_uint_eq(l->listen_addr_len, sizeof(*sin));
	config_free(cfg);
}
END_TEST

START_TEST(listen_ipv6_in_brackets_fills_a_sockaddr)
{
	struct config *cfg = load_ok("[listener t]\nlisten = [::1]:9020\n"
	    "backend = tcp://127.0.0.1:9021\nframing = len32\ntls = no\n");
	const struct config_listener *l = first(cfg);
	const struct sockaddr_in6 *sin6 = (const void *)&l->listen_addr;

	ck_assert_str_eq(l->listen_host, "::1");
	ck_assert_uint_eq(l->listen_port, 9020);
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 9020);
	ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	ck_assert_uint_eq(l->listen_addr_len, sizeof(*sin6));
	config_free(cfg);
}
END_TEST

START_TEST(listen_refuses_a_host_name)
{
	assert_error("[listener t]\nlisten = localhost:9020\n"
	    "backend = tcp://127.0.0.1:9021\nframing = len32\ntls = no\n", 2, 10,
	    "listen: expected a numeric address (IPV4:PORT or [IPV6]:PORT): "
	    "names are not resolved here");
}
END_TEST

START_TEST(listen_ipv6_without_brackets_is_an_error)
{
	assert_error("[listener t]\nlisten = ::1:9020\n"
	    "backend = tcp://127.0.0.1:9021\nframing = len32\ntls = no\n", 2, 10,
	    "listen: write an IPv6 address in brackets, as [::1]:9020");
}
END_TEST

START_TEST(listen_port_must_be_1_to_65535)
{
	assert_error("[listener t]\nlisten = 127.0.0.1:65536\n"
	    "backend = tcp://127.0.0.1:9021\nframing = len32\ntls = no\n", 2, 20,
	    "listen: expected a port number 1-65535 after ':'");
	assert_error("[listener t]\nlisten = 127.0.0.1:0\n"
	    "backend = tcp://127.0.0.1:9021\nframing = len32\ntls = no\n", 2, 20,
	    "listen: expected a port number 1-65535 after ':'");
	assert_error("[listener t]\nlisten = 127.0.0.1\n"
	    "backend = tcp://127.0.0.1:9021\nframing = len32\ntls = no\n", 2, 10,
	    "listen: expected the address to accept clients on: IPV4:PORT or "
	    "[IPV6]:PORT; the port is missing");
}
END_TEST

START_TEST(backend_tcp_takes_a_host_name)
{
	struct config *cfg = load_ok("[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://log-sink.internal_1.example:514\nframing = len32\n"
	    "tls = no\n");

	ck_assert(!first(cfg)->backend_tls);
	ck_assert_str_eq(first(cfg)->backend_host,
	    "log-sink.internal_1.example");
	ck_assert_uint_eq(first(cfg)->backend_port, 514);
	config_free(cfg);
}
END_TEST

START_TEST(backend_tls_ipv6_host_loses_its_brackets)
{
	struct config *cfg = load_ok("[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = tls://[2001:db8::1]:6000\nframing = mp\ntls = no\n");

	ck_assert(first(cfg)->backend_tls);
	ck_assert_str_eq(first(cfg)->backend_host, "2001:db8::1");
	ck_assert_uint_eq(first(cfg)->backend_port, 6000);
	config_free(cfg);
}
END_TEST

START_TEST(backend_needs_a_scheme)
{
	assert_error("[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = 127.0.0.1:9021\nframing = len32\ntls = no\n", 3, 11,
	    "backend: expected the server to forward to: tcp://HOST:PORT or "
	    "tls://HOST:PORT; found '127.0.0.1:9021'");
}
END_TEST

START_TEST(backend_refuses_a_path)
{
	assert_error("[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://db:9021/x\nframing = len32\ntls = no\n", 3, 11,
	    "a path after the port means nothing here");
}
END_TEST

START_TEST(backend_refuses_a_bad_host)
{
	assert_error("[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://1.2.3.999:9021\nframing = len32\ntls = no\n", 3, 17,
	    "backend: not a valid IPv4 address");
	assert_error("[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://-db:9021\nframing = len32\ntls = no\n", 3, 17,
	    "backend: a host name label that starts with '-'");
	assert_error("[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://:9021\nframing = len32\ntls = no\n", 3, 17,
	    "backend: an empty host name");
}
END_TEST

/* ---- structure errors ------------------------------------------------ */

START_TEST(unknown_key_suggests_a_close_one)
{
	assert_error(LISTENER "bakend_ca = x\n", 6, 1,
	    "unknown key 'bakend_ca'; did you mean 'backend_ca'?");
	assert_error(LISTENER "tls-cert = x\n", 6, 1,
	    "unknown key 'tls-cert'; did you mean 'tls_cert'?");
}
END_TEST

START_TEST(unknown_key_far_from_any_is_just_unknown)
{
	assert_error(LISTENER "  threads = 4\n", 6, 3, "unknown key 'threads'");
}
END_TEST

START_TEST(duplicate_key_names_the_first_line)
{
	assert_error(LISTENER "framing = mp\n", 6, 1,
	    "duplicate key 'framing' (first set at line 4)");
}
END_TEST

START_TEST(missing_required_keys_are_each_reported_at_the_header)
{
	struct diags ds;
	struct config *cfg = load("# x\n  [listener t]\ntls = no\n", &ds);

	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(ds.n_errors, 3);
	assert_diag(&ds, 0, false, 2, 3, "[listener t] needs 'listen': the "
	    "address to accept clients on: IPV4:PORT or [IPV6]:PORT");
	assert_diag(&ds, 1, false, 2, 3, "[listener t] needs 'backend'");
	assert_diag(&ds, 2, false, 2, 3, "[listener t] needs 'framing': raw, "
	    "len32 or mp");
}
END_TEST

START_TEST(tls_listener_needs_cert_and_key)
{
	struct diags ds;
	struct config *cfg = load("[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://127.0.0.1:9021\nframing = len32\n", &ds);

	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(ds.n_errors, 2);
	assert_diag(&ds, 0, false, 1, 1, "[listener t] needs 'tls_cert': the "
	    "server certificate chain file (PEM) (or tls = no for a plaintext "
	    "listener)");
	assert_diag(&ds, 1, false, 1, 1, "[listener t] needs 'tls_key'");
}
END_TEST

START_TEST(key_outside_any_section_is_an_error)
{
	assert_error("audit_log = -\n" LISTENER, 1, 1,
	    "'audit_log' is outside any section: put it under [global] or "
	    "[listener NAME]");
}
END_TEST

START_TEST(key_in_the_wrong_section_says_where_it_belongs)
{
	assert_error("[global]\nlisten = 127.0.0.1:1\n" LISTENER, 2, 1,
	    "'listen' belongs in a [listener NAME] section, not in [global]");
	assert_error(LISTENER "audit_log = -\n", 6, 1,
	    "'audit_log' belongs in [global], not in a listener");
}
END_TEST

START_TEST(unknown_section_is_an_error)
{
	assert_error("[server]\n" LISTENER, 1, 1,
	    "unknown section '[server]': expected [global] or [listener NAME]");
}
END_TEST

START_TEST(keys_after_a_bad_header_are_only_checked_for_typos)
{
	struct diags ds;
	struct config *cfg = load("[lisener t]\nthreads = 4\nlisten = x\n"
	    LISTENER, &ds);

	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(ds.n_errors, 2);
	assert_diag(&ds, 0, false, 1, 1, "unknown section '[lisener]'");
	assert_diag(&ds, 1, false, 2, 1, "unknown key 'threads'");
}
END_TEST

START_TEST(listener_without_a_name_is_an_error)
{
	assert_error("[listener]\n" LISTENER, 1, 10,
	    "expected [listener NAME]: the name is missing");
}
END_TEST

START_TEST(listener_name_with_a_space_is_an_error)
{
	assert_error("[listener my app]\n" LISTENER, 1, 14,
	    "expected ']' to close the section header; found 'app]'");
}
END_TEST

START_TEST(duplicate_listener_name_is_an_error)
{
	assert_error(LISTENER "[listener t]\n", 6, 11,
	    "a second listener named 't' (the first is at line 1)");
}
END_TEST

START_TEST(duplicate_global_section_is_an_error)
{
	assert_error("[global]\n[global]\n" LISTENER, 2, 1,
	    "[global] appears twice (first at line 1)");
}
END_TEST

START_TEST(no_listener_is_reported_at_the_end)
{
	assert_error("[global]\nmax_connections = 5\n", 3, 1,
	    "no [listener NAME] section: picklewall needs at least one "
	    "listener");
	assert_error("", 1, 1, "no [listener NAME] section");
	assert_error("# only\n# comments", 2, 11, "no [listener NAME] section");
}
END_TEST

START_TEST(missing_equals_is_an_error)
{
	assert_error(LISTENER "rules a.rules\n", 6, 7,
	    "expected '=' after 'rules'; found 'a.rules'");
}
END_TEST

START_TEST(line_that_is_not_a_key_is_an_error)
{
	assert_error(LISTENER "= 5\n", 6, 1, "expected a key, a [section] "
	    "header or a comment; found '='");
}
END_TEST

START_TEST(control_byte_is_an_error)
{
	static const char text[] = LISTENER "rules = a\001b\n";

	assert_error(text, 6, 10, "a control byte 0x01");
}
END_TEST

START_TEST(nul_byte_is_an_error)
{
	static const char text[] = LISTENER "rules = a\0b\n";
	struct diags ds;
	struct config *cfg;

	memset(&ds, 0, sizeof(ds));
	cfg = config_load_text(CONF_NAME, text, sizeof(text) - 1, collect_diag,
	    &ds);
	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(ds.n_errors, 1);
	assert_diag(&ds, 0, false, 6, 10, "a control byte 0x00");
}
END_TEST

START_TEST(every_error_is_reported_in_order)
{
	struct diags ds;
	struct config *cfg = load(LISTENER
	    "max_message_bytes = 10x\n"
	    "colour = blue\n"
	    "idle_timeout = 10\n", &ds);

	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(ds.n_errors, 3);
	assert_diag(&ds, 0, false, 6, 23, "unknown size unit 'x'");
	assert_diag(&ds, 1, false, 7, 1, "unknown key 'colour'");
	assert_diag(&ds, 2, false, 8, 16, "'10' has no unit");
}
END_TEST

START_TEST(too_many_errors_stop_the_load)
{
	char *text = malloc(200 * 16 + sizeof(LISTENER));
	struct diags ds;
	struct config *cfg;
	size_t i, n = 0;

	ck_assert_ptr_nonnull(text);
	n += (size_t)sprintf(text, LISTENER);
	for (i = 0; i < 200; i++)
		n += (size_t)sprintf(text + n, "bogus%zu = 1\n", i);
	cfg = load(text, &ds);
	free(text);
	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(ds.n_errors, 51);
	assert_diag(&ds, 49, false, 55, 1, "unknown key 'bogus49'");
	ck_assert_uint_eq(ds.d[50].line, 0);
	ck_assert_str_eq(ds.d[50].message, "too many errors; stopped reading");
}
END_TEST

START_TEST(text_over_1_mib_is_refused)
{
	size_t len = (1U << 20) + 1;
	char *text = malloc(len);
	struct diags ds;
	struct config *cfg;

	ck_assert_ptr_nonnull(text);
	memset(text, '#', len);
	memset(&ds, 0, sizeof(ds));
	cfg = config_load_text(CONF_NAME, text, len, collect_diag, &ds);
	free(text);
	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert_uint_eq(ds.d[0].line, 0);
	ck_assert_str_eq(ds.d[0].message, "larger than 1 MiB");
}
END_TEST

/* ---- defaults -------------------------------------------------------- */

START_TEST(global_defaults_resolve)
{
	struct config *cfg = load_ok(LISTENER);
	const struct config_global *g = config_global(cfg);

	ck_assert_ptr_null(g->audit_log);
	ck_assert_uint_eq(g->audit_buffer_bytes, 1 << 20);
	ck_assert_uint_eq(g->max_connections, 1024);
	ck_assert_uint_eq(g->buffer_memory_bytes, 256 << 20);
	config_free(cfg);
}
END_TEST

START_TEST(listener_defaults_resolve)
{
	struct config *cfg = load_ok(TLS_LISTENER);
	const struct config_listener *l = first(cfg);

	ck_assert_str_eq(l->name, "t");
	ck_assert_int_eq(l->framing, FRAME_LEN32);
	ck_assert_uint_eq(l->mp_handshake, 0);
	ck_assert_int_eq(l->memo, ANALYSIS_MEMO_PER_MESSAGE);
	ck_assert_ptr_null(l->rules);
	ck_assert(!l->mode_set);
	ck_assert_int_eq(l->on_deny, CONFIG_ON_DENY_CLOSE);
	ck_assert_int_eq(l->fail_policy, CONFIG_FAIL_CLOSE);
	ck_assert_int_eq(l->message_hash, CONFIG_MESSAGE_HASH_ALL);
	ck_assert_uint_eq(l->max_connections, 1024);
	ck_assert_uint_eq(l->max_message_bytes, 64 << 20);
	ck_assert_uint_eq(l->handshake_timeout_ms, 10000);
	ck_assert_uint_eq(l->message_timeout_ms, 30000);
	ck_assert_uint_eq(l->idle_timeout_ms, 300000);
	ck_assert_uint_eq(l->connect_timeout_ms, 5000);
	ck_assert(l->tls);
	ck_assert_str_eq(l->tls_cert, "s.crt");
	ck_assert_str_eq(l->tls_key, "s.key");
	ck_assert_int_eq(l->tls_min_version, CONFIG_TLS_1_2);
	ck_assert_ptr_null(l->tls_ciphers);
	ck_assert_ptr_null(l->tls_ciphersuites);
	ck_assert_ptr_null(l->tls_groups);
	ck_assert_uint_eq(l->tls_session_tickets, 0);
	ck_assert_int_eq(l->client_auth, CONFIG_CLIENT_AUTH_NONE);
	ck_assert_ptr_null(l->client_ca);
	ck_assert_ptr_null(l->client_crl);
	ck_assert_uint_eq(l->n_client_allow, 0);
	ck_assert(!l->backend_tls);
	ck_assert_ptr_null(l->backend_ca);
	ck_assert_ptr_null(l->backend_name);
	ck_assert_ptr_null(l->backend_sni);
	config_free(cfg);
}
END_TEST

START_TEST(memo_default_is_both_for_raw_per_message_otherwise)
{
	struct config *cfg = load_ok(
	    "[listener r]\nlisten = 127.0.0.1:1\nbackend = tcp://h:1\n"
	    "framing = raw\ntls = no\n"
	    "[listener l]\nlisten = 127.0.0.1:2\nbackend = tcp://h:1\n"
	    "framing = len32\ntls = no\n"
	    "[listener m]\nlisten = 127.0.0.1:3\nbackend = tcp://h:1\n"
	    "framing = mp\ntls = no\n");

	ck_assert_uint_eq(config_listener_count(cfg), 3);
	ck_assert_int_eq(config_listener(cfg, 0)->memo, ANALYSIS_MEMO_BOTH);
	ck_assert_int_eq(config_listener(cfg, 1)->memo,
	    ANALYSIS_MEMO_PER_MESSAGE);
	ck_assert_int_eq(config_listener(cfg, 2)->memo,
	    ANALYSIS_MEMO_PER_MESSAGE);
	config_free(cfg);
}
END_TEST

START_TEST(mp_handshake_defaults_to_3_for_mp)
{
	struct config *cfg = load_ok("[listener m]\nlisten = 127.0.0.1:3\n"
	    "backend = tcp://h:1\nframing = mp\ntls = no\n"
	    "[listener n]\nlisten = 127.0.0.1:4\n"
	    "backend = tcp://h:1\nframing = mp\ntls = no\nmp_handshake = 0\n");

	ck_assert_uint_eq(config_listener(cfg, 0)->mp_handshake, 3);
	ck_assert_uint_eq(config_listener(cfg, 1)->mp_handshake, 0);
	config_free(cfg);
}
END_TEST

START_TEST(mp_handshake_takes_only_0_or_3)
{
	assert_error("[listener m]\nlisten = 127.0.0.1:3\nbackend = tcp://h:1\n"
	    "framing = mp\ntls = no\nmp_handshake = 2\n", 6, 16,
	    "mp_handshake: expected 0 or 3; found '2'");
}
END_TEST

START_TEST(mp_handshake_needs_framing_mp)
{
	assert_error(LISTENER "mp_handshake = 3\n", 6, 1,
	    "mp_handshake only applies to framing = mp; this listener has "
	    "framing = len32");
}
END_TEST

START_TEST(mode_set_overrides_the_rule_file)
{
	struct config *cfg = load_ok(LISTENER "mode = detect\n");

	ck_assert(first(cfg)->mode_set);
	ck_assert_int_eq(first(cfg)->mode, POLICY_MODE_DETECT);
	config_free(cfg);
}
END_TEST

START_TEST(listener_max_connections_defaults_to_the_global_one)
{
	struct config *cfg = load_ok("[global]\nmax_connections = 10\n"
	    LISTENER "[listener u]\nlisten = 127.0.0.1:1\nbackend = tcp://h:1\n"
	    "framing = raw\ntls = no\nmax_connections = 4\n");

	ck_assert_uint_eq(config_global(cfg)->max_connections, 10);
	ck_assert_uint_eq(config_listener(cfg, 0)->max_connections, 10);
	ck_assert_uint_eq(config_listener(cfg, 1)->max_connections, 4);
	config_free(cfg);
}
END_TEST

/* ---- message_hash ----------------------------------------------------- */

START_TEST(message_hash_takes_all_denied_none)
{
	static const char *const names[] = { "all", "denied", "none" };
	static const enum config_message_hash values[] = {
		CONFIG_MESSAGE_HASH_ALL, CONFIG_MESSAGE_HASH_DENIED,
		CONFIG_MESSAGE_HASH_NONE,
	};
	char text[512];
	struct config *cfg;
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(text, sizeof(text), LISTENER "message_hash = %s\n",
		    names[i]);
		cfg = load_ok(text);
		ck_assert_int_eq(first(cfg)->message_hash, values[i]);
		config_free(cfg);
	}
	assert_error(LISTENER "message_hash = some\n", 6, 16,
	    "message_hash: expected all, denied or none; found 'some'");
}
END_TEST

/* ---- resume_after_error ---------------------------------------------- */

START_TEST(resume_after_error_is_yes_for_raw_and_applies_to_raw_only)
{
	static const char raw[] = "[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://127.0.0.1:9021\nframing = raw\ntls = no\n";
	char text[512];
	struct config *cfg;

	cfg = load_ok(raw);
	ck_assert(first(cfg)->resume_after_error);
	config_free(cfg);
	snprintf(text, sizeof(text), "%sresume_after_error = no\n", raw);
	cfg = load_ok(text);
	ck_assert(!first(cfg)->resume_after_error);
	config_free(cfg);
	/* A len32 server unpickles each payload by itself. */
	cfg = load_ok(LISTENER);
	ck_assert(!first(cfg)->resume_after_error);
	config_free(cfg);
	assert_error(LISTENER "resume_after_error = no\n", 6, 1,
	    "resume_after_error only applies to framing = raw: len32 and mp "
	    "servers unpickle each message by itself");
	assert_error(LISTENER "resume_after_error = maybe\n", 6, 22,
	    "resume_after_error: expected yes or no (or true/false, on/off); "
	    "found 'maybe'");
}
END_TEST

/* ---- on_deny ---------------------------------------------------------- */

START_TEST(drop_is_allowed_with_len32)
{
	struct config *cfg = load_ok(LISTENER "on_deny = drop\n");

	ck_assert_int_eq(first(cfg)->on_deny, CONFIG_ON_DENY_DROP);
	config_free(cfg);
}
END_TEST

START_TEST(drop_is_rejected_for_raw_because_of_the_memo)
{
	assert_error("[listener t]\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://h:1\nframing = raw\ntls = no\non_deny = drop\n", 6, 1,
	    "on_deny = drop is not possible with framing = raw: a server that "
	    "reads the stream with one Unpickler would miss the dropped "
	    "pickle's memo entries");
}
END_TEST

START_TEST(drop_is_rejected_for_mp_because_it_is_request_reply)
{
	assert_error("[listener t]\non_deny = drop\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://h:1\nframing = mp\ntls = no\n", 2, 1,
	    "on_deny = drop is not possible with framing = mp: "
	    "multiprocessing.connection is request/reply");
}
END_TEST

START_TEST(drop_needs_a_per_message_memo)
{
	assert_error(LISTENER "memo = persistent\non_deny = drop\n", 7, 1,
	    "on_deny = drop needs memo = per-message");
}
END_TEST

START_TEST(fail_policy_has_only_close)
{
	assert_error(LISTENER "fail_policy = forward\n", 6, 15,
	    "fail_policy: expected close (the only fail policy so far); found "
	    "'forward'");
}
END_TEST

/* ---- TLS towards clients ---------------------------------------------- */

START_TEST(plaintext_listener_rejects_tls_keys)
{
	struct diags ds;
	struct config *cfg = load(LISTENER "tls_cert = a\nclient_auth = "
	    "required\n", &ds);

	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(ds.n_errors, 2);
	assert_diag(&ds, 0, false, 6, 1, "'tls_cert' needs tls = yes; this "
	    "listener is plaintext (tls = no at line 5)");
	assert_diag(&ds, 1, false, 7, 1, "'client_auth' needs tls = yes");
}
END_TEST

START_TEST(plaintext_listener_off_loopback_warns)
{
	struct config *cfg = load_warning("[listener t]\nlisten = 0.0.0.0:9020\n"
	    "backend = tcp://h:1\nframing = len32\ntls = no\n", 5, 1,
	    "listener 't' takes plaintext on 0.0.0.0, which is not a loopback "
	    "address");

	ck_assert(!first(cfg)->tls);
	config_free(cfg);
}
END_TEST

START_TEST(tls_ciphers_are_refused_when_tls12_is_off)
{
	assert_error(TLS_LISTENER "tls_min_version = 1.3\ntls_ciphers = HIGH\n",
	    8, 1, "tls_ciphers only applies to TLS 1.2, which tls_min_version "
	    "= 1.3 turns off");
}
END_TEST

START_TEST(tls_settings_resolve)
{
	struct config *cfg = load_ok(TLS_LISTENER "tls_min_version = 1.3\n"
	    "tls_session_tickets = 2\n");

	ck_assert_int_eq(first(cfg)->tls_min_version, CONFIG_TLS_1_3);
	ck_assert_uint_eq(first(cfg)->tls_session_tickets, 2);
	config_free(cfg);
}
END_TEST

START_TEST(tls_session_tickets_is_bounded)
{
	assert_error(TLS_LISTENER "tls_session_tickets = 17\n", 7, 23,
	    "tls_session_tickets must be between 0 and 16");
}
END_TEST

START_TEST(client_auth_needs_a_client_ca)
{
	assert_error(TLS_LISTENER "client_auth = required\n", 7, 1,
	    "client_auth = required needs client_ca");
}
END_TEST

START_TEST(client_keys_need_client_auth)
{
	struct diags ds;
	struct config *cfg = load(TLS_LISTENER "client_ca = ca\nclient_crl = "
	    "crl\nclient_allow = CN=a\n", &ds);

	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(ds.n_errors, 3);
	assert_diag(&ds, 0, false, 7, 1, "'client_ca' needs client_auth = "
	    "optional or required");
	assert_diag(&ds, 1, false, 8, 1, "'client_crl' needs client_auth");
	assert_diag(&ds, 2, false, 9, 1, "'client_allow' needs client_auth");
}
END_TEST

START_TEST(client_allow_needs_client_auth_required)
{
	assert_error(TLS_LISTENER "client_auth = optional\nclient_ca = ca\n"
	    "client_allow = CN=a\n", 9, 1, "client_allow needs client_auth = "
	    "required");
}
END_TEST

START_TEST(client_allow_entries_are_kept_as_written)
{
	struct config *cfg = load_ok(TLS_LISTENER "client_auth = required\n"
	    "client_ca = ca.crt\nclient_crl = ca.crl\n"
	    "client_allow = CN=app-01, \"CN=Doe, John\", DNS=a.example, "
	    "URI=spiffe://example.org/app\n");
	const struct config_listener *l = first(cfg);

	ck_assert_int_eq(l->client_auth, CONFIG_CLIENT_AUTH_REQUIRED);
	ck_assert_str_eq(l->client_ca, "ca.crt");
	ck_assert_str_eq(l->client_crl, "ca.crl");
	ck_assert_uint_eq(l->n_client_allow, 4);
	ck_assert_str_eq(l->client_allow[0], "CN=app-01");
	ck_assert_str_eq(l->client_allow[1], "CN=Doe, John");
	ck_assert_str_eq(l->client_allow[2], "DNS=a.example");
	ck_assert_str_eq(l->client_allow[3], "URI=spiffe://example.org/app");
	config_free(cfg);
}
END_TEST

START_TEST(client_allow_refuses_other_attributes)
{
	assert_error(TLS_LISTENER "client_auth = required\nclient_ca = ca\n"
	    "client_allow = CN=a, OU=ops\n", 9, 22, "client_allow: expected "
	    "CN=NAME, DNS=NAME or URI=URI; found 'OU=ops'");
	assert_error(TLS_LISTENER "client_auth = required\nclient_ca = ca\n"
	    "client_allow = DNS=\n", 9, 16, "client_allow: DNS= needs a value");
}
END_TEST

/* ---- TLS towards the backend ------------------------------------------ */

#define TLS_BACKEND(host)						\
	"[listener t]\nlisten = 127.0.0.1:9020\n"			\
	"backend = tls://" host ":6000\nframing = mp\ntls = no\n"

START_TEST(backend_tls_defaults_verify_the_host_name)
{
	struct config *cfg = load_ok(TLS_BACKEND("db.example.com"));
	const struct config_listener *l = first(cfg);

	ck_assert(l->backend_tls);
	ck_assert(l->backend_verify);
	ck_assert_ptr_null(l->backend_ca);
	ck_assert_str_eq(l->backend_name, "db.example.com");
	ck_assert_str_eq(l->backend_sni, "db.example.com");
	ck_assert_ptr_null(l->backend_cert);
	ck_assert_ptr_null(l->backend_key);
	config_free(cfg);
}
END_TEST

START_TEST(backend_ip_address_sends_no_sni)
{
	struct config *cfg = load_ok(TLS_BACKEND("10.0.0.5"));

	ck_assert_str_eq(first(cfg)->backend_name, "10.0.0.5");
	ck_assert_ptr_null(first(cfg)->backend_sni);
	config_free(cfg);
}
END_TEST

START_TEST(backend_name_and_sni_can_be_set)
{
	struct config *cfg = load_ok(TLS_BACKEND("10.0.0.5")
	    "backend_name = db.internal\nbackend_sni = front.example\n"
	    "backend_ca = ca.crt\nbackend_cert = c.crt\nbackend_key = c.key\n");
	const struct config_listener *l = first(cfg);

	ck_assert_str_eq(l->backend_name, "db.internal");
	ck_assert_str_eq(l->backend_sni, "front.example");
	ck_assert_str_eq(l->backend_ca, "ca.crt");
	ck_assert_str_eq(l->backend_cert, "c.crt");
	ck_assert_str_eq(l->backend_key, "c.key");
	config_free(cfg);
}
END_TEST

START_TEST(backend_sni_cannot_be_an_ip_address)
{
	assert_error(TLS_BACKEND("db") "backend_sni = 10.0.0.1\n", 6, 1,
	    "backend_sni cannot be an IP address");
}
END_TEST

START_TEST(backend_cert_needs_backend_key)
{
	assert_error(TLS_BACKEND("db") "backend_cert = c.crt\n", 6, 1,
	    "backend_cert and backend_key go together; this listener has only "
	    "backend_cert");
}
END_TEST

START_TEST(backend_verify_no_warns)
{
	struct config *cfg = load_warning(TLS_BACKEND("db")
	    "backend_verify = no\n", 6, 1, "backend_verify = no: anyone on the "
	    "path to db can pose as the backend");

	ck_assert(!first(cfg)->backend_verify);
	config_free(cfg);
}
END_TEST

START_TEST(backend_ca_without_verification_is_an_error)
{
	struct diags ds;
	struct config *cfg = load(TLS_BACKEND("db") "backend_verify = no\n"
	    "backend_ca = ca\n", &ds);

	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(ds.n_errors, 1);
	assert_diag(&ds, 0, false, 7, 1, "backend_ca means nothing with "
	    "backend_verify = no");
}
END_TEST

START_TEST(backend_tls_keys_need_a_tls_backend)
{
	assert_error(LISTENER "backend_ca = ca.crt\n", 6, 1,
	    "'backend_ca' only applies to a tls:// backend; this one is "
	    "tcp://");
}
END_TEST

START_TEST(backend_name_must_be_a_host_name)
{
	assert_error(TLS_BACKEND("db") "backend_name = db/x\n", 6, 16,
	    "backend_name: a character a host name cannot hold");
}
END_TEST

/* ---- limits across sections ------------------------------------------- */

START_TEST(listener_max_connections_above_global_is_an_error)
{
	assert_error("[global]\nmax_connections = 10\n" LISTENER
	    "max_connections = 11\n", 8, 1, "max_connections 11 can never be "
	    "reached: the global max_connections is 10");
}
END_TEST

START_TEST(max_message_bytes_above_buffer_memory_is_an_error)
{
	assert_error("[global]\nbuffer_memory = 1M\n" LISTENER
	    "max_message_bytes = 2M\n", 8, 1, "max_message_bytes 2M is more "
	    "than buffer_memory 1M");
}
END_TEST

START_TEST(buffer_memory_below_default_message_size_is_reported_there)
{
	assert_error("[global]\nbuffer_memory = 16M\n" LISTENER, 2, 1,
	    "buffer_memory 16M is less than the max_message_bytes of listener "
	    "'t' (64M, the default)");
}
END_TEST

START_TEST(same_address_twice_is_an_error)
{
	assert_error(LISTENER "[listener u]\nlisten = 127.0.0.1:9020\n"
	    "backend = tcp://h:1\nframing = raw\ntls = no\n", 7, 1,
	    "listener 'u' listens on 127.0.0.1 port 9020, which listener 't' "
	    "(line 2) already takes");
}
END_TEST

START_TEST(wildcard_address_overlaps_a_specific_one)
{
	assert_error(LISTENER "[listener u]\nlisten = 0.0.0.0:9020\n"
	    "backend = tcp://h:1\nframing = raw\ntls_cert = c\ntls_key = k\n",
	    7, 1, "listener 'u' listens on 0.0.0.0 port 9020, which listener "
	    "'t' (line 2) already takes");
	assert_error("[listener t]\nlisten = [::]:9020\nbackend = tcp://h:1\n"
	    "framing = raw\ntls_cert = c\ntls_key = k\n"
	    "[listener u]\nlisten = [::1]:9020\nbackend = tcp://h:1\n"
	    "framing = raw\ntls = no\n", 8, 1,
	    "listener 'u' listens on ::1 port 9020, which listener 't' (line 2) "
	    "already takes");
}
END_TEST

START_TEST(other_port_or_family_does_not_overlap)
{
	struct config *cfg = load_ok(LISTENER
	    "[listener u]\nlisten = 127.0.0.1:9021\nbackend = tcp://h:1\n"
	    "framing = raw\ntls = no\n"
	    "[listener v]\nlisten = [::1]:9020\nbackend = tcp://h:1\n"
	    "framing = raw\ntls = no\n");

	ck_assert_uint_eq(config_listener_count(cfg), 3);
	ck_assert_str_eq(config_listener(cfg, 2)->name, "v");
	config_free(cfg);
}
END_TEST

/* ---- rule file limits ------------------------------------------------- */

START_TEST(rule_limit_within_max_message_bytes_passes)
{
	struct config *cfg = load_ok(LISTENER "rules = r.rules\n");
	struct pvm_limits limits;
	struct diags ds;

	memset(&limits, 0, sizeof(limits));
	memset(&ds, 0, sizeof(ds));
	ck_assert_int_eq(config_check_rule_limits(cfg, first(cfg), &limits,
	    collect_diag, &ds), 0);
	limits.max_message_bytes = 64 << 20;
	ck_assert_int_eq(config_check_rule_limits(cfg, first(cfg), &limits,
	    collect_diag, &ds), 0);
	ck_assert_uint_eq(ds.n, 0);
	config_free(cfg);
}
END_TEST

START_TEST(rule_limit_above_max_message_bytes_is_reported_at_rules)
{
	struct config *cfg = load_ok(LISTENER "max_message_bytes = 16M\n"
	    "rules = r.rules\n");
	struct pvm_limits limits;
	struct diags ds;

	memset(&limits, 0, sizeof(limits));
	memset(&ds, 0, sizeof(ds));
	limits.max_message_bytes = 32 << 20;
	ck_assert_int_eq(config_check_rule_limits(cfg, first(cfg), &limits,
	    collect_diag, &ds), -1);
	ck_assert_uint_eq(ds.n_errors, 1);
	assert_diag(&ds, 0, false, 7, 1, "the rule file r.rules sets limit "
	    "message_bytes 32M, above this listener's max_message_bytes 16M");
	config_free(cfg);
}
END_TEST

/* ---- files ------------------------------------------------------------ */

START_TEST(example_file_loads)
{
	struct diags ds;
	struct config *cfg;
	const struct config_listener *l;

	memset(&ds, 0, sizeof(ds));
	cfg = config_load("picklewall.conf.example", collect_diag, &ds);
	ck_assert_msg(cfg != NULL, "%s:%u:%u: %s", ds.d[0].file, ds.d[0].line,
	    ds.d[0].col, ds.d[0].message);
	ck_assert_uint_eq(ds.n, 0);
	ck_assert_str_eq(config_global(cfg)->audit_log,
	    "/var/log/picklewall/audit.jsonl");
	ck_assert_uint_eq(config_listener_count(cfg), 3);
	l = config_listener(cfg, 0);
	ck_assert_str_eq(l->name, "logging");
	ck_assert_int_eq(l->framing, FRAME_LEN32);
	ck_assert_int_eq(l->on_deny, CONFIG_ON_DENY_DROP);
	ck_assert_int_eq(l->client_auth, CONFIG_CLIENT_AUTH_REQUIRED);
	ck_assert_uint_eq(l->n_client_allow, 3);
	l = config_listener(cfg, 1);
	ck_assert_str_eq(l->name, "jobs");
	ck_assert_int_eq(l->framing, FRAME_MP);
	ck_assert_uint_eq(l->mp_handshake, 3);
	ck_assert(l->backend_tls && l->backend_verify);
	ck_assert_str_eq(l->backend_sni, "jobs.internal.example.com");
	l = config_listener(cfg, 2);
	ck_assert(!l->tls);
	ck_assert_int_eq(l->memo, ANALYSIS_MEMO_BOTH);
	config_free(cfg);
}
END_TEST

START_TEST(embedded_default_is_the_make_run_demo)
{
	struct diags ds;
	struct config *cfg;
	const struct config_listener *l;

	memset(&ds, 0, sizeof(ds));
	cfg = config_embedded_default(collect_diag, &ds);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(ds.n, 0);
	ck_assert_ptr_nonnull(strstr(config_embedded_default_text(),
	    "[listener demo]"));
	ck_assert_ptr_null(config_global(cfg)->audit_log);
	ck_assert_uint_eq(config_listener_count(cfg), 1);
	l = first(cfg);
	ck_assert_str_eq(l->name, "demo");
	ck_assert_str_eq(l->listen_host, "127.0.0.1");
	ck_assert_uint_eq(l->listen_port, 9020);
	ck_assert(l->tls);
	ck_assert_str_eq(l->tls_cert, "certs/dev/server-chain.crt");
	ck_assert_str_eq(l->tls_key, "certs/dev/server.key");
	ck_assert(!l->backend_tls);
	ck_assert_str_eq(l->backend_host, "127.0.0.1");
	ck_assert_uint_eq(l->backend_port, 9021);
	ck_assert_int_eq(l->framing, FRAME_LEN32);
	ck_assert_str_eq(l->rules, "rules/logging.rules");
	config_free(cfg);
}
END_TEST

START_TEST(missing_file_is_reported_without_a_line)
{
	struct diags ds;

	memset(&ds, 0, sizeof(ds));
	ck_assert_ptr_null(config_load("/nonexistent/pw.conf", collect_diag,
	    &ds));
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert_str_eq(ds.d[0].file, "/nonexistent/pw.conf");
	ck_assert_uint_eq(ds.d[0].line, 0);
	ck_assert_str_starts(ds.d[0].message, "cannot open: ");
}
END_TEST

START_TEST(file_errors_name_the_file_and_its_paths)
{
	char dir[] = "/tmp/pw-config-XXXXXX", path[64];
	struct diags ds;
	struct config *cfg;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pw.conf", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(LISTENER "rules = r.rules\n", f);
	fclose(f);
	memset(&ds, 0, sizeof(ds));
	cfg = config_load(path, collect_diag, &ds);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(config_name(cfg), path);
	ck_assert_str_eq(first(cfg)->rules + strlen(dir), "/r.rules");
	config_free(cfg);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(LISTENER "rules = \n", f);
	fclose(f);
	memset(&ds, 0, sizeof(ds));
	ck_assert_ptr_null(config_load(path, collect_diag, &ds));
	ck_assert_uint_eq(ds.n_errors, 1);
	ck_assert_str_eq(ds.d[0].file, path);
	ck_assert_uint_eq(ds.d[0].line, 6);
	unlink(path);
	rmdir(dir);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, size_units_are_powers_of_1024);
	tcase_add_test(tc, size_unknown_unit_points_at_the_unit);
	tcase_add_test(tc, size_without_digits_says_what_a_size_is);
	tcase_add_test(tc, size_above_the_range_is_refused);
	tcase_add_test(tc, size_that_overflows_is_out_of_range);
	tcase_add_test(tc, duration_units_resolve_to_milliseconds);
	tcase_add_test(tc, duration_without_unit_is_an_error);
	tcase_add_test(tc, duration_unknown_unit_points_at_the_unit);
	tcase_add_test(tc, duration_out_of_range_names_the_bounds);
	tcase_add_test(tc, duration_fraction_is_not_a_duration);
	tcase_add_test(tc, booleans_take_yes_true_on_and_no_false_off);
	tcase_add_test(tc, boolean_other_word_is_an_error);
	tcase_add_test(tc, enum_unknown_value_lists_the_choices);
	tcase_add_test(tc, count_takes_decimal_digits_only);
	tcase_add_test(tc, scalar_key_refuses_a_list);
	tcase_add_test(tc, quoted_string_keeps_spaces_hashes_and_escapes);
	tcase_add_test(tc, bare_value_ends_at_a_comment);
	tcase_add_test(tc, bare_value_with_a_space_asks_for_quotes);
	tcase_add_test(tc, unterminated_string_points_at_the_quote);
	tcase_add_test(tc, unknown_escape_points_at_the_backslash);
	tcase_add_test(tc, empty_value_is_an_error);
	tcase_add_test(tc, list_items_are_joined_for_openssl);
	tcase_add_test(tc, list_empty_item_is_an_error);
	tcase_add_test(tc, openssl_name_with_a_space_is_an_error);
	tcase_add_test(tc, crlf_line_ends_read_the_same);
	tcase_add_test(tc, relative_paths_are_under_the_file_directory);
	tcase_add_test(tc, absolute_paths_stay_as_written);
	tcase_add_test(tc, paths_of_a_file_in_root_are_under_root);
	tcase_add_test(tc, name_without_directory_leaves_paths_relative);
	tcase_add_test(tc, audit_log_dash_is_standard_output);
	tcase_add_test(tc, listen_ipv4_fills_a_sockaddr);
	tcase_add_test(tc, listen_ipv6_in_brackets_fills_a_sockaddr);
	tcase_add_test(tc, listen_refuses_a_host_name);
	tcase_add_test(tc, listen_ipv6_without_brackets_is_an_error);
	tcase_add_test(tc, listen_port_must_be_1_to_65535);
	tcase_add_test(tc, backend_tcp_takes_a_host_name);
	tcase_add_test(tc, backend_tls_ipv6_host_loses_its_brackets);
	tcase_add_test(tc, backend_needs_a_scheme);
	tcase_add_test(tc, backend_refuses_a_path);
	tcase_add_test(tc, backend_refuses_a_bad_host);
	tcase_add_test(tc, unknown_key_suggests_a_close_one);
	tcase_add_test(tc, unknown_key_far_from_any_is_just_unknown);
	tcase_add_test(tc, duplicate_key_names_the_first_line);
	tcase_add_test(tc, missing_required_keys_are_each_reported_at_the_header);
	tcase_add_test(tc, tls_listener_needs_cert_and_key);
	tcase_add_test(tc, key_outside_any_section_is_an_error);
	tcase_add_test(tc, key_in_the_wrong_section_says_where_it_belongs);
	tcase_add_test(tc, unknown_section_is_an_error);
	tcase_add_test(tc, keys_after_a_bad_header_are_only_checked_for_typos);
	tcase_add_test(tc, listener_without_a_name_is_an_error);
	tcase_add_test(tc, listener_name_with_a_space_is_an_error);
	tcase_add_test(tc, duplicate_listener_name_is_an_error);
	tcase_add_test(tc, duplicate_global_section_is_an_error);
	tcase_add_test(tc, no_listener_is_reported_at_the_end);
	tcase_add_test(tc, missing_equals_is_an_error);
	tcase_add_test(tc, line_that_is_not_a_key_is_an_error);
	tcase_add_test(tc, control_byte_is_an_error);
	tcase_add_test(tc, nul_byte_is_an_error);
	tcase_add_test(tc, every_error_is_reported_in_order);
	tcase_add_test(tc, too_many_errors_stop_the_load);
	tcase_add_test(tc, text_over_1_mib_is_refused);
	tcase_add_test(tc, global_defaults_resolve);
	tcase_add_test(tc, listener_defaults_resolve);
	tcase_add_test(tc, memo_default_is_both_for_raw_per_message_otherwise);
	tcase_add_test(tc, mp_handshake_defaults_to_3_for_mp);
	tcase_add_test(tc, mp_handshake_takes_only_0_or_3);
	tcase_add_test(tc, mp_handshake_needs_framing_mp);
	tcase_add_test(tc, mode_set_overrides_the_rule_file);
	tcase_add_test(tc, listener_max_connections_defaults_to_the_global_one);
	tcase_add_test(tc, message_hash_takes_all_denied_none);
	tcase_add_test(tc, resume_after_error_is_yes_for_raw_and_applies_to_raw_only);
	tcase_add_test(tc, drop_is_allowed_with_len32);
	tcase_add_test(tc, drop_is_rejected_for_raw_because_of_the_memo);
	tcase_add_test(tc, drop_is_rejected_for_mp_because_it_is_request_reply);
	tcase_add_test(tc, drop_needs_a_per_message_memo);
	tcase_add_test(tc, fail_policy_has_only_close);
	tcase_add_test(tc, plaintext_listener_rejects_tls_keys);
	tcase_add_test(tc, plaintext_listener_off_loopback_warns);
	tcase_add_test(tc, tls_ciphers_are_refused_when_tls12_is_off);
	tcase_add_test(tc, tls_settings_resolve);
	tcase_add_test(tc, tls_session_tickets_is_bounded);
	tcase_add_test(tc, client_auth_needs_a_client_ca);
	tcase_add_test(tc, client_keys_need_client_auth);
	tcase_add_test(tc, client_allow_needs_client_auth_required);
	tcase_add_test(tc, client_allow_entries_are_kept_as_written);
	tcase_add_test(tc, client_allow_refuses_other_attributes);
	tcase_add_test(tc, backend_tls_defaults_verify_the_host_name);
	tcase_add_test(tc, backend_ip_address_sends_no_sni);
	tcase_add_test(tc, backend_name_and_sni_can_be_set);
	tcase_add_test(tc, backend_sni_cannot_be_an_ip_address);
	tcase_add_test(tc, backend_cert_needs_backend_key);
	tcase_add_test(tc, backend_verify_no_warns);
	tcase_add_test(tc, backend_ca_without_verification_is_an_error);
	tcase_add_test(tc, backend_tls_keys_need_a_tls_backend);
	tcase_add_test(tc, backend_name_must_be_a_host_name);
	tcase_add_test(tc, listener_max_connections_above_global_is_an_error);
	tcase_add_test(tc, max_message_bytes_above_buffer_memory_is_an_error);
	tcase_add_test(tc,
	    buffer_memory_below_default_message_size_is_reported_there);
	tcase_add_test(tc, same_address_twice_is_an_error);
	tcase_add_test(tc, wildcard_address_overlaps_a_specific_one);
	tcase_add_test(tc, other_port_or_family_does_not_overlap);
	tcase_add_test(tc, rule_limit_within_max_message_bytes_passes);
	tcase_add_test(tc, rule_limit_above_max_message_bytes_is_reported_at_rules);
	tcase_add_test(tc, example_file_loads);
	tcase_add_test(tc, embedded_default_is_the_make_run_demo);
	tcase_add_test(tc, missing_file_is_reported_without_a_line);
	tcase_add_test(tc, file_errors_name_the_file_and_its_paths);
	tcase_add_test(tc, workers_share_the_limits_and_need_an_audit_file);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_SUITE(config_suite)
