/*
 * The audit log, one behaviour per test.  Expected lines are written out
 * in full after the timestamp (which is checked for its shape); every line
 * read back is also run through a small JSON validator, so "one valid JSON
 * object per line" is checked on every event, not assumed.
 */

#define _GNU_SOURCE	/* F_SETPIPE_SZ */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "render.h"
#include "sha256.h"
#include "unit.h"

#define S(lit) { (lit), sizeof(lit) - 1 }

/* ---- a JSON validator (RFC 8259 grammar, UTF-8 checked loosely) ---------- */

struct cursor {
	const char *p, *end;
};

static bool json_value(struct cursor *c, unsigned depth);

static void
skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
	    *c->p == '\r' || *c->p == '\n'))
		c->p++;
}

static bool
take(struct cursor *c, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool
is_digit(struct cursor *c)
{
	return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

static bool
json_number(struct cursor *c)
{
	(void)take(c, "-");
	if (take(c, "0")) {
		/* no leading zeros */
	} else if (is_digit(c)) {
		while (is_digit(c))
			c->p++;
	} else {
		return false;
	}
	if (take(c, ".")) {
		if (!is_digit(c))
			return false;
		while (is_digit(c))
			c->p++;
	}
	if (take(c, "e") || take(c, "E")) {
		if (!take(c, "+"))
			(void)take(c, "-");
		if (!is_digit(c))
			return false;
		while (is_digit(c))
			c->p++;
	}
	return true;
}

static bool
json_str(struct cursor *c)
{
	unsigned char ch;
	int i, more;

	if (!take(c, "\""))
		return false;
	while (c->p < c->end) {
		ch = (unsigned char)*c->p++;
		if (ch == '"')
			return true;
		if (ch < 0x20)
			return false;
		if (ch == '\\') {
			if (c->p == c->end)
				return false;
			ch = (unsigned char)*c->p++;
			if (ch == 'u') {
				for (i = 0; i < 4; i++, c->p++)
					if (c->p == c->end ||
					    strchr("0123456789abcdefABCDEF",
					    *c->p) == NULL || *c->p == '\0')
						return false;
			} else if (ch == '\0' || strchr("\"\\/bfnrt", ch) == NULL) {
				return false;
			}
		} else if (ch >= 0x80) {
			more = ch >= 0xf0 ? 3 : ch >= 0xe0 ? 2 : ch >= 0xc2 ? 1 : -1;
			if (more < 0 || ch > 0xf4)
				return false;
			for (; more > 0; more--, c->p++)
				if (c->p == c->end ||
				    ((unsigned char)*c->p & 0xc0) != 0x80)
					return false;
		}
	}
	return false;
}

static bool
json_members(struct cursor *c, unsigned depth, bool object)
{
	skip_ws(c);
	if (take(c, object ? "}" : "]"))
		return true;
	for (;;) {
		if (object) {
			skip_ws(c);
			if (!json_str(c))
				return false;
			skip_ws(c);
			if (!take(c, ":"))
				return false;
		}
		if (!json_value(c, depth + 1))
			return false;
		skip_ws(c);
		if (take(c, object ? "}" : "]"))
			return true;
		if (!take(c, ","))
			return false;
	}
}

static bool
json_value(struct cursor *c, unsigned depth)
{
	if (depth > 64)
		return false;
	skip_ws(c);
	if (c->p == c->end)
		return false;
	switch (*c->p) {
	case '{':
		c->p++;
		return json_members(c, depth, true);
	case '[':
		c->p++;
		return json_members(c, depth, false);
	case '"':
		return json_str(c);
	case 't':
		return take(c, "true");
	case 'f':
		return take(c, "false");
	case 'n':
		return take(c, "null");
	default:
		return json_number(c);
	}
}

/* ${len} bytes at ${line} are exactly one JSON object. */
static bool
is_json_object(const char *line, size_t len)
{
	struct cursor c = { line, line + len };

	skip_ws(&c);
	if (c.p == c.end || *c.p != '{' || !json_value(&c, 0))
		return false;
	skip_ws(&c);
	return c.p == c.end;
}

/* ---- files and lines ----------------------------------------------------- */

struct tmp {
	char dir[64];
	char path[128];		/* dir/audit.log */
	char other[128];	/* dir/audit.log.1 */
};

static void
tmp_make(struct tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/pw-audit-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/audit.log", t->dir);
	snprintf(t->other, sizeof(t->other), "%s/audit.log.1", t->dir);
}

static void
tmp_remove(struct tmp *t)
{
	(void)unlink(t->path);
	(void)unlink(t->other);
	(void)rmdir(t->dir);
}

/* The whole file at ${path}, NUL-terminated; the caller frees it. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text;
	long n;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	text = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* Everything readable now from the non-blocking ${fd} (up to the end of
 * the data or what is there), appended to *${text} (of *${len} bytes,
 * NUL-terminated). */
static void
read_available(int fd, char **text, size_t *len)
{
	char chunk[4096];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		*text = realloc(*text, *len + (size_t)n + 1);
		ck_assert_ptr_nonnull(*text);
		memcpy(*text + *len, chunk, (size_t)n);
		*len += (size_t)n;
		(*text)[*len] = '\0';
	}
	ck_assert(n == 0 || errno == EAGAIN || errno == EWOULDBLOCK);
}

#define TIMESTAMP_HEAD "{\"timestamp\":\""

/* Every line of ${text} is a JSON object, the text ends with a newline,
 * and the timestamps (compared as text, which their fixed width allows)
 * never go backwards; returns the number of lines. */
static size_t
check_lines(const char *text)
{
	const char *p = text, *nl, *stamp, *last = NULL;
	const size_t head = sizeof(TIMESTAMP_HEAD) - 1;
	size_t n = 0;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		ck_assert_msg(nl != NULL, "unterminated line: %s", p);
		ck_assert_msg(is_json_object(p, (size_t)(nl - p)),
		    "not one JSON object: %.*s", (int)(nl - p), p);
		if (strncmp(p, TIMESTAMP_HEAD, head) == 0) {
			stamp = p + head;
			ck_assert_msg(last == NULL || memcmp(last, stamp,
			    AUDIT_TIMESTAMP_SIZE - 1) <= 0,
			    "time goes backwards: %.*s", (int)(nl - p), p);
			last = stamp;
		}
		n++;
		p = nl + 1;
	}
	return n;
}

/* Line ${i} (from 0) of ${text}, in a buffer owned by the caller. */
static char *
line_at(const char *text, size_t i)
{
	const char *p = text, *nl;
	char *line;

	for (; i > 0; i--) {
		p = strchr(p, '\n');
		ck_assert_ptr_nonnull(p);
		p++;
	}
	nl = strchr(p, '\n');
	ck_assert_ptr_nonnull(nl);
	line = strndup(p, (size_t)(nl - p + 1));
	ck_assert_ptr_nonnull(line);
	return line;
}

static bool
timestamp_shaped(const char *t)
{
	static const char pattern[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	size_t i;

	for (i = 0; i < sizeof(pattern) - 1; i++) {
		if (pattern[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') :
		    t[i] != pattern[i])
			return false;
	}
	return true;
}

/* What follows the timestamp in ${line}, after checking its shape. */
static const char *
after_timestamp(const char *line)
{
	static const char head[] = TIMESTAMP_HEAD;

	ck_assert_str_starts(line, head);
	ck_assert_msg(timestamp_shaped(line + sizeof(head) - 1),
	    "timestamp not RFC 3339 with microseconds: %s", line);
	ck_assert_int_eq(line[sizeof(head) - 1 + AUDIT_TIMESTAMP_SIZE - 1],
	    '"');
	return line + sizeof(head) - 1 + AUDIT_TIMESTAMP_SIZE;
}

/* The single line that ${emit} writes to a fresh log, past its timestamp. */
#define ONE_LINE(expected, emit)                                            \
	do {                                                                \
		struct tmp t_;                                              \
		struct pw_error err_;                                       \
		struct audit *a;                                            \
		char *text_;                                                \
                                                                            \
		tmp_make(&t_);                                              \
		a = audit_open(t_.path, 65536, &err_);                      \
		ck_assert_ptr_nonnull(a);                                   \
		ck_assert_int_eq((emit), 0);                                \
		ck_assert_int_eq(audit_flush(a, &err_), 0);                 \
		audit_close(a);                                             \
		text_ = slurp(t_.path);                                     \
		ck_assert_uint_eq(check_lines(text_), 1);                   \
		ck_assert_str_eq(after_timestamp(text_), (expected));       \
		free(text_);                                                \
		tmp_remove(&t_);                                            \
	} while (0)

/* ---- connections and messages to log ------------------------------------- */

static const char *const test_sans[] = {
	"DNS:client.example", "URI:spiffe://example/client",
};

static struct audit_conn
full_conn(void)
{
	struct audit_conn c;

	memset(&c, 0, sizeof(c));
	c.conn_id = 7;
	c.listener = "logging";
	c.client_addr = "192.0.2.10";
	c.client_port = 50312;
	c.backend_addr = "127.0.0.1";
	c.backend_port = 9020;
	c.tls_version = "TLSv1.3";
	c.tls_cipher = "TLS_AES_256_GCM_SHA384";
	c.peer_subject = "CN=client,O=Example";
	c.peer_sans = test_sans;
	c.n_peer_sans = 2;
	c.peer_serial = "1A2B";
	c.peer_sha256 = "00ff";
	return c;
}

#define COMMON_FIELDS "\"conn_id\":7,\"listener\":\"logging\"," \
	"\"client_addr\":\"192.0.2.10\",\"client_port\":50312," \
	"\"backend_addr\":\"127.0.0.1\",\"backend_port\":9020"

#define TLS_FIELDS "\"tls_version\":\"TLSv1.3\"," \
	"\"tls_cipher\":\"TLS_AES_256_GCM_SHA384\"," \
	"\"peer_subject\":\"CN=client,O=Example\"," \
	"\"peer_sans\":[\"DNS:client.example\",\"URI:spiffe://example/client\"]," \
	"\"peer_serial\":\"1A2B\",\"peer_sha256\":\"00ff\""

/* GLOBAL os.system, MARK, SHORT... STRING 'id', TUPLE, REDUCE, STOP: what
 * an attacker sends; GLOBAL at 0, REDUCE at 19. */
#define OS_SYSTEM "cos\nsystem\n(S'id'\ntR."
#define OS_SYSTEM_SHA256 \
	"8cc73ceecc3fb6787129f6639c5171a97fae9256e36d20d1ca7e4916aee299a4"

static const char *const rule_tags[] = { "rce" };

static const struct policy_rule_info test_rule = {
	.id = 1001, .rev = 2, .msg = "os.system runs a shell command",
	.severity = "critical", .tags = rule_tags, .n_tags = 1,
	.action = POLICY_ACTION_DENY, .file = "gadgets.rules", .line = 12,
};

static const struct pvm_import test_imports[] = {
	{ .op = 'c', .pos = 0, .module = S("os"), .name = S("system"),
	  .module_known = true, .name_known = true },
};

static const struct pvm_call test_calls[] = {
	{ .op = 'R', .pos = 19, .callable = S("os.system"), .module_len = 2,
	  .args = S("(str)") },
};

static const struct pvm_reason test_reasons[] = {
	{ .code = PW_IMPORT, .pos = 0, .detail = "os.system is denied" },
};

static const struct analysis_hit test_hits[] = {
	{ .rule = &test_rule, .matched = S("os.system") },
};

static struct analysis_message
denied_message(void)
{
	struct analysis_message m;

	memset(&m, 0, sizeof(m));
	m.offset = 0;
	m.length = sizeof(OS_SYSTEM) - 1;
	m.payload_offset = 0;
	m.is_pickle = true;
	m.protocol = 0;
	m.opcodes = 6;
	m.verdict = ANALYSIS_DENY;
	m.n_imports = 1;
	m.imports = test_imports;
	m.n_calls = 1;
	m.calls = test_calls;
	m.n_reasons = 1;
	m.reasons = test_reasons;
	m.n_hits = 1;
	m.hits = test_hits;
	return m;
}

/* ---- timestamps ----------------------------------------------------------- */

START_TEST(timestamp_is_rfc3339_utc_with_microseconds)
{
	struct timespec ts = { 1795557003, 123456789 };
	char text[AUDIT_TIMESTAMP_SIZE];

	ck_assert_int_eq(audit_timestamp(&ts, text), 0);
	ck_assert_str_eq(text, "2026-11-24T21:50:03.123456Z");
}
END_TEST

START_TEST(timestamp_keeps_leading_zeros)
{
	struct timespec ts = { 951782400, 1000 };	/* a leap day */
	char text[AUDIT_TIMESTAMP_SIZE];

	ck_assert_int_eq(audit_timestamp(&ts, text), 0);
	ck_assert_str_eq(text, "2000-02-29T00:00:00.000001Z");
	ts.tv_sec = 0;
	ts.tv_nsec = 0;
	ck_assert_int_eq(audit_timestamp(&ts, text), 0);
	ck_assert_str_eq(text, "1970-01-01T00:00:00.000000Z");
}
END_TEST

START_TEST(timestamp_refuses_a_bad_nanosecond_count)
{
	struct timespec ts = { 0, 1000000000L };
	char text[AUDIT_TIMESTAMP_SIZE];

	ck_assert_int_eq(audit_timestamp(&ts, text), -1);
}
END_TEST

/* ---- one event, one line ------------------------------------------------- */

START_TEST(conn_open_is_one_line_with_the_connection_fields)
{
	struct audit_conn c = full_conn();

	ONE_LINE(",\"event\":\"conn_open\"," COMMON_FIELDS "}\n",
	    audit_conn_open(a, &c));
}
END_TEST

START_TEST(unknown_connection_fields_are_left_out)
{
	struct audit_conn c;

	memset(&c, 0, sizeof(c));
	c.conn_id = 8;
	c.listener = "raw";
	ONE_LINE(",\"event\":\"conn_open\",\"conn_id\":8,\"listener\":\"raw\"}\n",
	    audit_conn_open(a, &c));
}
END_TEST

/* The connection fields are rendered once per connection and reused:
 * events of connections taking turns, and a connection whose fields
 * change under the same id (a buffer reused for another address), must
 * each show their own. */
START_TEST(connection_fields_follow_the_connection_logged)
{
	struct audit_conn c = full_conn(), d;
	char other_addr[16] = "192.0.2.99";
	struct tmp t;
	struct pw_error err;
	struct audit *a;
	char *text, *line;
	const char *want[] = {
		"\"conn_id\":7,\"listener\":\"logging\","
		    "\"client_addr\":\"192.0.2.10\"",
		"\"conn_id\":9,\"listener\":\"raw\","
		    "\"client_addr\":\"192.0.2.99\"",
		"\"conn_id\":7,\"listener\":\"logging\","
		    "\"client_addr\":\"192.0.2.10\"",
		"\"conn_id\":9,\"listener\":\"raw\","
		    "\"client_addr\":\"192.0.2.98\"",
		"\"conn_id\":9,\"listener\":\"raw\"}",
	};
	size_t i;

	memset(&d, 0, sizeof(d));
	d.conn_id = 9;
	d.listener = "raw";
	d.client_addr = other_addr;
	tmp_make(&t);
	a = audit_open(t.path, 65536, &err);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(audit_conn_open(a, &c), 0);
	ck_assert_int_eq(audit_conn_open(a, &d), 0);
	ck_assert_int_eq(audit_error(a, &c, PW_IO, "x"), 0);
	other_addr[9] = '8';
	ck_assert_int_eq(audit_conn_open(a, &d), 0);
	d.client_addr = NULL;
	ck_assert_int_eq(audit_conn_open(a, &d), 0);
	ck_assert_int_eq(audit_flush(a, &err), 0);
	audit_close(a);
	text = slurp(t.path);
	ck_assert_uint_eq(check_lines(text), 5);
	line = text;
	for (i = 0; i < 5; i++) {
		char *end = strchr(line, '\n');

		ck_assert_ptr_nonnull(end);
		*end = '\0';
		ck_assert_msg(strstr(line, want[i]) != NULL, "line %zu: %s",
		    i, line);
		line = end + 1;
	}
	free(text);
	tmp_remove(&t);
}
END_TEST

/* ---- hashes from the worker --------------------------------------------- */

/* Message events for ${n} messages of sizes around the offload threshold,
 * other events between them, the buffer flushed after each (so a line
 * waiting for its hash is tested against the file at every step): every
 * line arrives in order, whole, with the hash of its own bytes, and no
 * placeholder ever reaches the file. */
static void
check_offloaded_hashes(size_t max_bytes, size_t n)
{
	struct audit_conn c = full_conn();
	struct analysis_message m = denied_message();
	struct pw_error err;
	struct tmp t;
	struct audit *a;
	uint8_t *bytes;
	char *text, *line, want[SHA256_HEX_SIZE], field[100];
	size_t i, len, lines = 0;

	tmp_make(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 1 << 20, &err));
	ck_assert_int_eq(audit_hash_offload(a, 4096, max_bytes, &err), 0);
	ck_assert_int_ge(audit_hash_fd(a), 0);
	ck_assert_ptr_nonnull(bytes = malloc(3 * 4096));
	for (i = 0; i < n; i++) {
		len = (i * 977) % (3 * 4096);
		memset(bytes, (int)i, len);
		/* Every other message finds nothing: its line is put
		 * together without the JSON writer, placeholder included. */
		m = denied_message();
		if (i % 2 == 1) {
			m.n_reasons = m.n_imports = m.n_calls = m.n_hits = 0;
			m.verdict = ANALYSIS_ALLOW;
		}
		m.length = len;
		ck_assert_int_eq(audit_message(a, &c, i + 1, &m, bytes, len, 0),
		    0);
		/* The caller's bytes change at once: the worker has a copy. */
		memset(bytes, 0xff, len);
		ck_assert_int_eq(audit_error(a, &c, PW_IO, "between"), 0);
		ck_assert_int_ge(audit_flush(a, &err), 0);
		text = slurp(t.path);
		ck_assert_ptr_null(strstr(text, "\"0000000000000000000000000"));
		free(text);
	}
	ck_assert_int_eq(audit_drain(a, 10000, &err), 0);
	audit_close(a);
	text = slurp(t.path);
	ck_assert_uint_eq(check_lines(text), 2 * n);
	line = text;
	for (i = 0; i < n; i++) {
		len = (i * 977) % (3 * 4096);
		memset(bytes, (int)i, len);
		ck_assert_int_eq(sha256_hex(bytes, len, want), 0);
		snprintf(field, sizeof(field), "\"msg_seq\":%zu,", i + 1);
		ck_assert_msg(strstr(line, field) != NULL, "line %zu", i);
		snprintf(field, sizeof(field), "\"sha256\":\"%s\"", want);
		ck_assert_msg(strstr(line, field) != NULL &&
		    strstr(line, field) < strchr(line, '\n'),
		    "message %zu: no %s", i, field);
		line = strchr(line, '\n') + 1;
		ck_assert_msg(strstr(line, "\"detail\":\"between\"") != NULL &&
		    strstr(line, "\"detail\":\"between\"") <
		    strchr(line, '\n'), "line after message %zu", i);
		line = strchr(line, '\n') + 1;
		lines += 2;
	}
	ck_assert_uint_eq(lines, 2 * n);
	free(text);
	free(bytes);
	tmp_remove(&t);
}

START_TEST(offloaded_hashes_arrive_in_order_and_whole)
{
	check_offloaded_hashes(1 << 20, 200);
}
END_TEST

/* A worker bound below most messages: those are hashed at once instead,
 * between lines that wait for theirs. */
START_TEST(offloaded_hashes_past_the_bound_are_computed_at_once)
{
	check_offloaded_hashes(6000, 200);
}
END_TEST

/* A line waiting for its hash holds back every line after it: when the
 * buffer fills behind it, the log waits for the worker instead of
 * dropping events. */
START_TEST(a_full_buffer_behind_a_held_line_waits_for_the_hash)
{
	struct audit_conn c = full_conn();
	struct analysis_message m = denied_message();
	struct pw_error err;
	struct tmp t;
	struct audit *a;
	uint8_t *bytes;
	char *text, want[SHA256_HEX_SIZE], field[100];
	int i;

	tmp_make(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 4096, &err));
	ck_assert_int_eq(audit_hash_offload(a, 1000, 64 << 20, &err), 0);
	ck_assert_ptr_nonnull(bytes = malloc(8 << 20));
	memset(bytes, 'x', 8 << 20);
	m.length = 8 << 20;
	ck_assert_int_eq(audit_message(a, &c, 1, &m, bytes, 8 << 20, 0), 0);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(audit_error(a, &c, PW_IO, "behind"), 0);
	ck_assert_uint_eq(audit_dropped_total(a), 0);
	ck_assert_int_eq(audit_drain(a, 10000, &err), 0);
	audit_close(a);
	text = slurp(t.path);
	ck_assert_uint_eq(check_lines(text), 101);
	ck_assert_int_eq(sha256_hex(bytes, 8 << 20, want), 0);
	snprintf(field, sizeof(field), "\"sha256\":\"%s\"", want);
	ck_assert_ptr_nonnull(strstr(text, field));
	ck_assert_ptr_null(strstr(text, "audit_dropped"));
	free(text);
	free(bytes);
	tmp_remove(&t);
}
END_TEST

START_TEST(tls_event_carries_version_cipher_and_peer_identity)
{
	struct audit_conn c = full_conn();

	ONE_LINE(",\"event\":\"tls\"," COMMON_FIELDS "," TLS_FIELDS "}\n",
	    audit_tls(a, &c));
}
END_TEST

START_TEST(message_event_carries_the_fields_of_scan)
{
	struct audit_conn c = full_conn();
	struct analysis_message m = denied_message();

	ONE_LINE(",\"event\":\"message\"," COMMON_FIELDS ","
	    "\"msg_seq\":3,\"offset\":0,\"length\":21,"
	    "\"sha256\":\"" OS_SYSTEM_SHA256 "\",\"protocol\":0,"
	    "\"kind\":\"pickle\",\"verdict\":\"deny\","
	    "\"reasons\":[{\"code\":\"import\","
	    "\"detail\":\"os.system is denied\",\"pos\":0}],"
	    "\"imports\":[{\"module\":\"os\",\"name\":\"system\","
	    "\"op\":\"GLOBAL\",\"pos\":0}],"
	    "\"calls\":[{\"op\":\"REDUCE\",\"callable\":\"os.system\","
	    "\"args\":\"(str)\",\"pos\":19}],"
	    "\"rules\":[{\"id\":1001,\"rev\":2,"
	    "\"msg\":\"os.system runs a shell command\","
	    "\"severity\":\"critical\",\"tags\":[\"rce\"],"
	    "\"action\":\"deny\",\"matched\":\"os.system\"}],"
	    "\"scan_us\":42}\n",
	    audit_message(a, &c, 3, &m, (const uint8_t *)OS_SYSTEM,
	    sizeof(OS_SYSTEM) - 1, 42));
}
END_TEST

START_TEST(message_without_its_bytes_has_a_null_sha256)
{
	struct audit_conn c;
	struct analysis_message m;

	memset(&c, 0, sizeof(c));
	c.conn_id = 1;
	memset(&m, 0, sizeof(m));
	m.length = 5;
	m.is_pickle = true;
	m.protocol = 4;
	ONE_LINE(",\"event\":\"message\",\"conn_id\":1,\"msg_seq\":1,"
	    "\"offset\":0,\"length\":5,\"sha256\":null,\"protocol\":4,"
	    "\"kind\":\"pickle\",\"verdict\":\"allow\",\"reasons\":[],"
	    "\"imports\":[],\"calls\":[],\"rules\":[],\"scan_us\":0}\n",
	    audit_message(a, &c, 1, &m, NULL, 0, 0));
}
END_TEST

START_TEST(names_with_nul_and_invalid_utf8_are_escaped)
{
	static const struct pvm_import imports[] = {
		{ .op = 'c', .pos = 0, .module = S("o\0s"),
		  .name = S("sys\xfftem"), .module_known = true,
		  .name_known = true },
	};
	static const struct pvm_call calls[] = {
		{ .op = 'R', .pos = 9, .callable = S("o\0s.sys\xfftem\n"),
		  .module_len = 3 },
	};
	struct audit_conn c;
	struct analysis_message m;

	memset(&c, 0, sizeof(c));
	c.conn_id = 2;
	c.listener = "bad\"name\n";
	memset(&m, 0, sizeof(m));
	m.length = 10;
	m.is_pickle = true;
	m.verdict = ANALYSIS_WOULD_DENY;
	m.n_imports = 1;
	m.imports = imports;
	m.n_calls = 1;
	m.calls = calls;
	ONE_LINE(",\"event\":\"message\",\"conn_id\":2,"
	    "\"listener\":\"bad\\\"name\\u000a\",\"msg_seq\":1,\"offset\":0,"
	    "\"length\":10,\"sha256\":null,\"protocol\":0,\"kind\":\"pickle\","
	    "\"verdict\":\"would_deny\",\"reasons\":[],"
	    "\"imports\":[{\"module\":\"o\\u0000s\",\"name\":\"sys\\u00fftem\","
	    "\"op\":\"GLOBAL\",\"pos\":0}],"
	    "\"calls\":[{\"op\":\"REDUCE\","
	    "\"callable\":\"o\\u0000s.sys\\u00fftem\\u000a\",\"pos\":9}],"
	    "\"rules\":[],\"scan_us\":1}\n",
	    audit_message(a, &c, 1, &m, NULL, 0, 1));
}
END_TEST

/* The fields from "length" to "rules" in ${line}, as a new string. */
static char *
fields_of(const char *line, const char *stop)
{
	const char *from = strstr(line, "\"length\":"), *to;
	char *out;

	ck_assert_ptr_nonnull(from);
	to = strstr(from, stop);
	ck_assert_ptr_nonnull(to);
	out = strndup(from, (size_t)(to - from));
	ck_assert_ptr_nonnull(out);
	return out;
}

START_TEST(message_fields_are_those_of_scan_for_an_analyzed_pickle)
{
	static const uint8_t pickle[] = OS_SYSTEM;
	struct analysis_config config;
	struct analysis *an;
	struct analysis_message m;
	struct audit_conn c;
	struct pw_error err;
	struct json *j = json_new(0);
	struct audit *a;
	struct tmp t;
	const char *scan_line, *from;
	char *text, *ours, *theirs;
	size_t used, scan_len;

	memset(&config, 0, sizeof(config));
	config.frame.kind = FRAME_RAW;
	config.memo = ANALYSIS_MEMO_BOTH;
	ck_assert_ptr_nonnull(an = analysis_new(&config));
	ck_assert_int_eq(analysis_feed(an, pickle, sizeof(pickle) - 1, &used,
	    &m), ANALYSIS_MESSAGE);
	ck_assert_int_eq(m.verdict, ANALYSIS_DENY);

	tmp_make(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 65536, &err));
	memset(&c, 0, sizeof(c));
	c.conn_id = 1;
	ck_assert_int_eq(audit_message(a, &c, 1, &m, pickle,
	    sizeof(pickle) - 1, 5), 0);
	audit_close(a);
	ck_assert_int_eq(render_json(j, "-", &m, pickle, sizeof(pickle) - 1), 0);
	ck_assert_ptr_nonnull(scan_line = json_data(j, &scan_len));
	analysis_free(an);

	text = slurp(t.path);
	ck_assert_uint_eq(check_lines(text), 1);
	ck_assert_ptr_nonnull(strstr(text, "\"verdict\":\"deny\""));
	ck_assert_ptr_nonnull(strstr(text, "\"callable\":\"os.system\""));
	/* render_json's object ends right after "rules"; ours goes on with
	 * "scan_us". */
	ck_assert_uint_eq(scan_line[scan_len - 1], '}');
	ours = fields_of(text, ",\"scan_us\":");
	from = strstr(scan_line, "\"length\":");
	ck_assert_ptr_nonnull(from);
	theirs = strndup(from, (size_t)(scan_line + scan_len - 1 - from));
	ck_assert_ptr_nonnull(theirs);
	ck_assert_str_eq(ours, theirs);
	free(ours);
	free(theirs);
	free(text);
	json_free(j);
	tmp_remove(&t);
}
END_TEST

/* Messages without findings take a shorter way to the log: the same bytes
 * as render_message_fields() for every shape of message, hash or none. */
START_TEST(fields_text_is_that_of_the_writer)
{
	static const int protocols[] = { 0, 5, -1, 2147483647 };
	static const uint64_t lengths[] = { 0, 200, UINT64_MAX };
	static const enum analysis_verdict verdicts[] = { ANALYSIS_ALLOW,
	    ANALYSIS_WOULD_DENY, ANALYSIS_DENY };
	static const char *const hexes[] = { NULL, OS_SYSTEM_SHA256 };
	struct analysis_message m;
	struct json *j = json_new(0);
	char text[RENDER_FIELDS_TEXT_MAX + 1];
	const char *want;
	size_t ip, il, iv, ih, k, n, len, at_text, at_json;

	for (ip = 0; ip < 4; ip++)
	for (il = 0; il < 3; il++)
	for (iv = 0; iv < 3; iv++)
	for (ih = 0; ih < 2; ih++)
	for (k = 0; k < 2; k++) {
		memset(&m, 0, sizeof(m));
		m.protocol = protocols[ip];
		m.length = lengths[il];
		m.verdict = verdicts[iv];
		m.is_pickle = k == 0;
		json_reset(j);
		ck_assert_int_eq(json_object_begin(j), 0);
		ck_assert_int_eq(json_key(j, "x"), 0);
		ck_assert_int_eq(json_null(j), 0);
		if (hexes[ih] != NULL) {
			ck_assert_int_eq(render_message_fields_hash_later(j, &m,
			    &at_json), 0);
		} else {
			ck_assert_int_eq(render_message_fields(j, &m, NULL, 0),
			    0);
		}
		ck_assert_int_eq(json_object_end(j), 0);
		ck_assert_ptr_nonnull(want = json_data(j, &len));
		/* {"x":null, ... } */
		want += 10;
		len -= 11;
		memset(text, 'X', sizeof(text));
		n = render_message_fields_text(text, &m, hexes[ih] != NULL ?
		    "0000000000000000000000000000000000000000000000000000000000000000" :
		    NULL, &at_text);
		ck_assert_uint_le(n, RENDER_FIELDS_TEXT_MAX);
		ck_assert_uint_eq(text[RENDER_FIELDS_TEXT_MAX], 'X');
		ck_assert_uint_eq(n, len);
		ck_assert(memcmp(text, want, n) == 0);
		if (hexes[ih] != NULL)
			ck_assert_uint_eq(at_text + 10, at_json);
	}
	/* With findings, it leaves the message to the writer. */
	m = denied_message();
	ck_assert_uint_eq(render_message_fields_text(text, &m, NULL, NULL), 0);
	m.n_reasons = 0;
	m.n_imports = 0;
	m.n_calls = 0;
	ck_assert_uint_eq(render_message_fields_text(text, &m, NULL, NULL), 0);
	json_free(j);
}
END_TEST

/* The same message as a line of its own and as the writer makes it with
 * findings: everything but the findings agrees, connection fields
 * included (they change from one event to the next). */
START_TEST(message_line_without_findings_is_that_of_the_writer)
{
	struct audit_conn full = full_conn(), bare;
	struct analysis_message m = denied_message();

	memset(&bare, 0, sizeof(bare));
	bare.conn_id = 9;
	m.n_reasons = m.n_imports = m.n_calls = m.n_hits = 0;
	m.verdict = ANALYSIS_ALLOW;
	m.offset = 4000000000U;
	ONE_LINE(",\"event\":\"message\"," COMMON_FIELDS ","
	    "\"msg_seq\":18446744073709551615,\"offset\":4000000000,"
	    "\"length\":21,\"sha256\":\"" OS_SYSTEM_SHA256 "\","
	    "\"protocol\":0,\"kind\":\"pickle\",\"verdict\":\"allow\","
	    "\"reasons\":[],\"imports\":[],\"calls\":[],\"rules\":[],"
	    "\"scan_us\":7}\n",
	    audit_message(a, &full, UINT64_MAX, &m, (const uint8_t *)OS_SYSTEM,
	    sizeof(OS_SYSTEM) - 1, 7));
	ONE_LINE(",\"event\":\"message\",\"conn_id\":9,"
	    "\"msg_seq\":1,\"offset\":4000000000,"
	    "\"length\":21,\"sha256\":null,"
	    "\"protocol\":0,\"kind\":\"pickle\",\"verdict\":\"allow\","
	    "\"reasons\":[],\"imports\":[],\"calls\":[],\"rules\":[],"
	    "\"scan_us\":0}\n",
	    audit_message(a, &bare, 1, &m, NULL, 0, 0));
}
END_TEST

/* A connection whose fields are too long for the short way still gets
 * its line, from the writer. */
START_TEST(message_line_with_a_long_listener_name)
{
	static char name[2000];
	struct audit_conn c;
	struct analysis_message m;
	char *want;

	memset(name, 'n', sizeof(name) - 1);
	memset(&c, 0, sizeof(c));
	c.conn_id = 3;
	c.listener = name;
	memset(&m, 0, sizeof(m));
	m.length = 5;
	m.is_pickle = true;
	ck_assert_int_ne(asprintf(&want, ",\"event\":\"message\","
	    "\"conn_id\":3,\"listener\":\"%s\",\"msg_seq\":1,"
	    "\"offset\":0,\"length\":5,\"sha256\":null,\"protocol\":0,"
	    "\"kind\":\"pickle\",\"verdict\":\"allow\",\"reasons\":[],"
	    "\"imports\":[],\"calls\":[],\"rules\":[],\"scan_us\":0}\n",
	    name), -1);
	ONE_LINE(want, audit_message(a, &c, 1, &m, NULL, 0, 0));
	free(want);
}
END_TEST

/* The wall-clock time, in microseconds, of the timestamp that opens the
 * line ${line}. */
static int64_t
stamp_us(const char *line)
{
	struct tm tm;
	const char *t = line + sizeof(TIMESTAMP_HEAD) - 1;
	long us;

	memset(&tm, 0, sizeof(tm));
	ck_assert_int_eq(sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%6ldZ",
	    &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	    &tm.tm_sec, &us), 7);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000000 + us;
}

static int64_t
clock_us(clockid_t id)
{
	struct timespec ts;

	ck_assert_int_eq(clock_gettime(id, &ts), 0);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A message stamped with a monotonic instant carries the wall-clock time
 * of that instant, not of the call: now, 5 s ago (past the offset's
 * lifetime, so read again), and once more now. */
START_TEST(message_at_a_monotonic_instant_has_its_wall_clock_time)
{
	static const int64_t ago_us[] = { 0, 5000000, 0 };
	struct audit_conn c = full_conn();
	struct analysis_message m;
	struct pw_error err;
	struct tmp t;
	struct audit *a;
	char *text, *line;
	int64_t mono, real[3];
	size_t i;

	memset(&m, 0, sizeof(m));
	m.is_pickle = true;
	tmp_make(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 65536, &err));
	for (i = 0; i < 3; i++) {
		real[i] = clock_us(CLOCK_REALTIME) - ago_us[i];
		mono = clock_us(CLOCK_MONOTONIC) - ago_us[i];
		ck_assert_int_eq(audit_message_at(a, &c, i + 1, &m, NULL, 0, 0,
		    (uint64_t)mono * 1000), 0);
	}
	audit_close(a);
	text = slurp(t.path);
	for (i = 0; i < 3; i++) {
		line = line_at(text, i);
		/* The two clocks were read a moment apart: a loose bound
		 * for a loaded machine. */
		ck_assert_msg(llabs(stamp_us(line) - real[i]) < 100000,
		    "line %zu: %s is %lld us off", i, line,
		    (long long)(stamp_us(line) - real[i]));
		free(line);
	}
	free(text);
	tmp_remove(&t);
}
END_TEST

START_TEST(conn_close_carries_totals_tls_and_reason)
{
	struct audit_conn c = full_conn();
	struct audit_close totals = {
		.bytes_from_client = 1000, .bytes_to_backend = 900,
		.bytes_from_backend = 20, .bytes_to_client = 20,
		.messages_from_client = 3, .messages_to_backend = 2,
		.duration_us = 1500000, .reason = "denied",
	};

	ONE_LINE(",\"event\":\"conn_close\"," COMMON_FIELDS "," TLS_FIELDS ","
	    "\"bytes_from_client\":1000,\"bytes_to_backend\":900,"
	    "\"bytes_from_backend\":20,\"bytes_to_client\":20,"
	    "\"messages_from_client\":3,\"messages_to_backend\":2,"
	    "\"duration_us\":1500000,\"reason\":\"denied\"}\n",
	    audit_conn_close(a, &c, &totals));
}
END_TEST

START_TEST(error_event_carries_code_and_detail)
{
	struct audit_conn c = full_conn();

	ONE_LINE(",\"event\":\"error\"," COMMON_FIELDS ","
	    "\"code\":\"io_error\",\"detail\":\"backend connect: refused\"}\n",
	    audit_error(a, &c, PW_IO, "backend connect: refused"));
}
END_TEST

START_TEST(error_outside_a_connection_has_no_conn_id)
{
	ONE_LINE(",\"event\":\"error\",\"code\":\"io_error\","
	    "\"detail\":\"accept: too many open files\"}\n",
	    audit_error(a, NULL, PW_IO, "accept: too many open files"));
}
END_TEST

/* ---- the bound ------------------------------------------------------------ */

/* An error event whose detail makes the line longer than ${bytes}. */
static int
oversize_error(struct audit *a, size_t bytes)
{
	char *detail = malloc(bytes + 1);
	int r;

	ck_assert_ptr_nonnull(detail);
	memset(detail, 'x', bytes);
	detail[bytes] = '\0';
	r = audit_error(a, NULL, PW_INTERNAL, detail);
	free(detail);
	return r;
}

START_TEST(event_longer_than_the_buffer_is_dropped_and_counted)
{
	struct pw_error err;
	struct audit *a;
	struct tmp t;
	char *text;

	tmp_make(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, AUDIT_BUFFER_MIN_BYTES,
	    &err));
	ck_assert_int_eq(oversize_error(a, AUDIT_BUFFER_MIN_BYTES), -1);
	ck_assert_uint_eq(audit_dropped_total(a), 1);
	/* The flush has room again, so it reports the loss at once. */
	ck_assert_int_eq(audit_flush(a, &err), 0);
	audit_close(a);
	text = slurp(t.path);
	ck_assert_uint_eq(check_lines(text), 1);
	ck_assert_str_eq(after_timestamp(text),
	    ",\"event\":\"audit_dropped\",\"count\":1,\"dropped_total\":1}\n");
	free(text);
	tmp_remove(&t);
}
END_TEST

START_TEST(drop_notice_precedes_the_next_event)
{
	struct audit_conn c;
	struct pw_error err;
	struct audit *a;
	struct tmp t;
	char *text, *line;

	memset(&c, 0, sizeof(c));
	c.conn_id = 9;
	tmp_make(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 4096, &err));
	ck_assert_int_eq(oversize_error(a, 5000), -1);
	ck_assert_int_eq(oversize_error(a, 5000), -1);
	ck_assert_int_eq(audit_conn_open(a, &c), 0);
	ck_assert_int_eq(audit_flush(a, &err), 0);
	ck_assert_int_eq(oversize_error(a, 5000), -1);
	ck_assert_int_eq(audit_conn_open(a, &c), 0);
	ck_assert_int_eq(audit_flush(a, &err), 0);
	ck_assert_uint_eq(audit_dropped_total(a), 3);
	audit_close(a);

	text = slurp(t.path);
	ck_assert_uint_eq(check_lines(text), 4);
	line = line_at(text, 0);
	ck_assert_str_eq(after_timestamp(line),
	    ",\"event\":\"audit_dropped\",\"count\":2,\"dropped_total\":2}\n");
	free(line);
	line = line_at(text, 1);
	ck_assert_str_eq(after_timestamp(line),
	    ",\"event\":\"conn_open\",\"conn_id\":9}\n");
	free(line);
	line = line_at(text, 2);
	ck_assert_str_eq(after_timestamp(line),
	    ",\"event\":\"audit_dropped\",\"count\":1,\"dropped_total\":3}\n");
	free(line);
	free(text);
	tmp_remove(&t);
}
END_TEST

/* A FIFO at ${t}->path with a non-blocking reader whose pipe holds one
 * page, so that a few events fill it. */
static int
small_fifo(struct tmp *t)
{
	int reader;

	ck_assert_int_eq(mkfifo(t->path, 0600), 0);
	reader = open(t->path, O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(reader, 0);
	ck_assert_int_ge(fcntl(reader, F_SETPIPE_SZ, 4096), 4096);
	return reader;
}

static struct audit_conn
numbered_conn(uint64_t id)
{
	struct audit_conn c;

	memset(&c, 0, sizeof(c));
	c.conn_id = id;
	c.listener = "a-listener-name-long-enough-to-fill-a-pipe-quickly";
	c.client_addr = "2001:db8::1";
	c.client_port = 40000;
	return c;
}

START_TEST(full_buffer_drops_events_and_reports_them_when_drained)
{
	struct audit_conn c;
	struct pw_error err;
	struct audit *a;
	struct tmp t;
	char *text = NULL, *line;
	size_t len = 0, kept = 0, lines, i;
	uint64_t id;
	int reader;

	tmp_make(&t);
	reader = small_fifo(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, AUDIT_BUFFER_MIN_BYTES,
	    &err));
	/* Fill the pipe, then the buffer. */
	for (id = 1; audit_flush(a, &err) == 0; id++) {
		c = numbered_conn(id);
		ck_assert_int_eq(audit_conn_open(a, &c), 0);
		kept++;
	}
	for (;; id++) {
		c = numbered_conn(id);
		if (audit_conn_open(a, &c) < 0)
			break;
		kept++;
	}
	c = numbered_conn(++id);
	ck_assert_int_eq(audit_conn_open(a, &c), -1);
	c = numbered_conn(++id);
	ck_assert_int_eq(audit_conn_open(a, &c), -1);
	ck_assert_uint_eq(audit_dropped_total(a), 3);

	/* The reader catches up: the buffer goes out, then the notice. */
	while (read_available(reader, &text, &len), audit_flush(a, &err) != 0)
		;
	c = numbered_conn(++id);
	ck_assert_int_eq(audit_conn_open(a, &c), 0);
	ck_assert_int_eq(audit_flush(a, &err), 0);
	read_available(reader, &text, &len);

	lines = check_lines(text);
	ck_assert_uint_eq(lines, kept + 2);
	for (i = 0; i < kept; i++) {
		line = line_at(text, i);
		ck_assert_str_starts(after_timestamp(line),
		    ",\"event\":\"conn_open\"");
		free(line);
	}
	line = line_at(text, kept);
	ck_assert_str_eq(after_timestamp(line),
	    ",\"event\":\"audit_dropped\",\"count\":3,\"dropped_total\":3}\n");
	free(line);
	line = line_at(text, kept + 1);
	ck_assert_ptr_nonnull(strstr(line, ",\"event\":\"conn_open\""));
	free(line);

	audit_close(a);
	close(reader);
	free(text);
	tmp_remove(&t);
}
END_TEST

/* ---- writing without blocking -------------------------------------------- */

START_TEST(flush_on_a_full_pipe_returns_and_finishes_after_the_reader_drains)
{
	struct audit_conn c;
	struct pw_error err;
	struct audit *a;
	struct tmp t;
	char *text = NULL, *line;
	char expected[32];
	size_t len = 0, i;
	int reader;

	tmp_make(&t);
	reader = small_fifo(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 1 << 20, &err));
	for (i = 1; i <= 200; i++) {
		c = numbered_conn(i);
		ck_assert_int_eq(audit_conn_open(a, &c), 0);
	}
	/* 200 lines of ~150 bytes do not fit a 4 KiB pipe. */
	ck_assert_int_eq(audit_flush(a, &err), 1);
	ck_assert_int_ge(audit_fd_wants_write(a), 0);
	ck_assert_int_eq(audit_flush(a, &err), 1);
	while (read_available(reader, &text, &len), audit_flush(a, &err) != 0)
		;
	read_available(reader, &text, &len);
	ck_assert_int_eq(audit_fd_wants_write(a), -1);

	ck_assert_uint_eq(check_lines(text), 200);
	for (i = 0; i < 200; i++) {
		line = line_at(text, i);
		snprintf(expected, sizeof(expected), "\"conn_id\":%zu,", i + 1);
		ck_assert_ptr_nonnull(strstr(line, expected));
		free(line);
	}
	ck_assert_uint_eq(audit_dropped_total(a), 0);
	audit_close(a);
	close(reader);
	free(text);
	tmp_remove(&t);
}
END_TEST

START_TEST(drain_gives_up_when_the_time_runs_out)
{
	struct audit_conn c;
	struct pw_error err;
	struct audit *a;
	struct tmp t;
	size_t i;
	int reader;

	tmp_make(&t);
	reader = small_fifo(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 1 << 20, &err));
	for (i = 1; i <= 100; i++) {
		c = numbered_conn(i);
		ck_assert_int_eq(audit_conn_open(a, &c), 0);
	}
	ck_assert_int_eq(audit_drain(a, 20, &err), 1);
	audit_close(a);
	close(reader);
	tmp_remove(&t);
}
END_TEST

START_TEST(regular_file_is_never_waited_for)
{
	struct audit_conn c = numbered_conn(1);
	struct pw_error err;
	struct audit *a;
	struct tmp t;

	tmp_make(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 65536, &err));
	ck_assert_int_eq(audit_conn_open(a, &c), 0);
	/* epoll refuses regular files: the loop flushes each iteration. */
	ck_assert_int_eq(audit_fd_wants_write(a), -1);
	ck_assert_int_eq(audit_flush(a, &err), 0);
	audit_close(a);
	tmp_remove(&t);
}
END_TEST

START_TEST(close_writes_what_is_buffered)
{
	struct audit_conn c = numbered_conn(5);
	struct pw_error err;
	struct audit *a;
	struct tmp t;
	char *text;

	tmp_make(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 65536, &err));
	ck_assert_int_eq(audit_conn_open(a, &c), 0);
	audit_close(a);
	text = slurp(t.path);
	ck_assert_uint_eq(check_lines(text), 1);
	ck_assert_ptr_nonnull(strstr(text, "\"conn_id\":5,"));
	free(text);
	tmp_remove(&t);
}
END_TEST

START_TEST(open_appends_to_an_existing_log)
{
	struct audit_conn c = numbered_conn(1);
	struct pw_error err;
	struct audit *a;
	struct tmp t;
	char *text;
	FILE *f;

	tmp_make(&t);
	ck_assert_ptr_nonnull(f = fopen(t.path, "w"));
	fputs("{\"event\":\"earlier\"}\n", f);
	fclose(f);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 65536, &err));
	ck_assert_int_eq(audit_conn_open(a, &c), 0);
	audit_close(a);
	text = slurp(t.path);
	ck_assert_uint_eq(check_lines(text), 2);
	ck_assert_str_starts(text, "{\"event\":\"earlier\"}\n");
	free(text);
	tmp_remove(&t);
}
END_TEST

/* ---- rotation -------------------------------------------------------------- */

START_TEST(reopen_after_rename_continues_in_a_new_file)
{
	struct audit_conn c;
	struct pw_error err;
	struct audit *a;
	struct tmp t;
	char *text;

	tmp_make(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 65536, &err));
	c = numbered_conn(1);
	ck_assert_int_eq(audit_conn_open(a, &c), 0);
	ck_assert_int_eq(audit_flush(a, &err), 0);
	/* logrotate: rename, then SIGHUP.  Event 2 is still buffered when
	 * the signal comes and belongs to the new file. */
	ck_assert_int_eq(rename(t.path, t.other), 0);
	c = numbered_conn(2);
	ck_assert_int_eq(audit_conn_open(a, &c), 0);
	ck_assert_int_eq(audit_reopen(a, &err), 0);
	c = numbered_conn(3);
	ck_assert_int_eq(audit_conn_open(a, &c), 0);
	ck_assert_int_eq(audit_flush(a, &err), 0);
	audit_close(a);

	text = slurp(t.other);
	ck_assert_uint_eq(check_lines(text), 1);
	ck_assert_ptr_nonnull(strstr(text, "\"conn_id\":1,"));
	free(text);
	text = slurp(t.path);
	ck_assert_uint_eq(check_lines(text), 2);
	ck_assert_ptr_nonnull(strstr(text, "\"conn_id\":2,"));
	ck_assert_ptr_nonnull(strstr(text, "\"conn_id\":3,"));
	free(text);
	tmp_remove(&t);
}
END_TEST

START_TEST(reopen_failure_keeps_the_old_file)
{
	struct audit_conn c;
	struct pw_error err;
	struct audit *a;
	struct tmp t;
	char sub[96], inner[128], *text;

	tmp_make(&t);
	snprintf(sub, sizeof(sub), "%s/sub", t.dir);
	snprintf(inner, sizeof(inner), "%s/audit.log", sub);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_ptr_nonnull(a = audit_open(inner, 65536, &err));
	ck_assert_int_eq(rename(inner, t.other), 0);
	ck_assert_int_eq(rmdir(sub), 0);
	ck_assert_int_eq(audit_reopen(a, &err), -1);
	ck_assert_int_eq(err.code, PW_IO);
	ck_assert_ptr_nonnull(strstr(err.message, inner));
	c = numbered_conn(4);
	ck_assert_int_eq(audit_conn_open(a, &c), 0);
	ck_assert_int_eq(audit_flush(a, &err), 0);
	audit_close(a);
	text = slurp(t.other);
	ck_assert_uint_eq(check_lines(text), 1);
	ck_assert_ptr_nonnull(strstr(text, "\"conn_id\":4,"));
	free(text);
	tmp_remove(&t);
}
END_TEST

START_TEST(reopen_drops_the_tail_of_a_line_it_cannot_finish)
{
	struct audit_conn c;
	struct pw_error err;
	struct audit *a;
	struct tmp t;
	char *text = NULL, *fifo_text;
	size_t len = 0, i;
	int reader;

	tmp_make(&t);
	reader = small_fifo(&t);
	ck_assert_ptr_nonnull(a = audit_open(t.path, 1 << 20, &err));
	for (i = 1; i <= 100; i++) {
		c = numbered_conn(i);
		ck_assert_int_eq(audit_conn_open(a, &c), 0);
	}
	ck_assert_int_eq(audit_flush(a, &err), 1);
	/* The FIFO goes away under its name, a regular file takes it. */
	ck_assert_int_eq(rename(t.path, t.other), 0);
	ck_assert_int_eq(audit_reopen(a, &err), 0);
	ck_assert_int_eq(audit_flush(a, &err), 0);
	ck_assert_uint_eq(audit_dropped_total(a), 1);
	read_available(reader, &text, &len);
	audit_close(a);

	/* The pipe took 4096 bytes, which end inside a line (the lengths
	 * are fixed); the new file starts with a whole line and says that
	 * one line was lost. */
	fifo_text = text;
	ck_assert_ptr_nonnull(fifo_text);
	text = slurp(t.path);
	ck_assert_uint_ge(check_lines(text), 1);
	ck_assert_str_starts(text, TIMESTAMP_HEAD);
	ck_assert_int_ne(fifo_text[len - 1], '\n');
	ck_assert_ptr_nonnull(strstr(text,
	    "\"event\":\"audit_dropped\",\"count\":1,\"dropped_total\":1}\n"));
	free(fifo_text);
	free(text);
	close(reader);
	tmp_remove(&t);
}
END_TEST

/* ---- standard output ------------------------------------------------------ */

/* Put ${fd} in place of standard output; returns the saved original. */
static int
swap_stdout(int fd)
{
	int saved = dup(STDOUT_FILENO);

	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fd, STDOUT_FILENO), 0);
	close(fd);
	return saved;
}

static void
restore_stdout(int saved)
{
	ck_assert_int_ge(dup2(saved, STDOUT_FILENO), 0);
	close(saved);
}

/* Fill standard output through ${a} until a flush would block; the events
 * are numbered from 1 and their count is returned. */
static size_t
fill_until_blocked(struct audit *a)
{
	struct audit_conn c;
	struct pw_error err;
	size_t n = 0;
	int r;

	do {
		c = numbered_conn(++n);
		ck_assert_int_eq(audit_conn_open(a, &c), 0);
		r = audit_flush(a, &err);
		ck_assert_int_ge(r, 0);
	} while (r == 0 && n < 100000);
	ck_assert_int_eq(r, 1);
	return n;
}

START_TEST(stdout_pipe_keeps_its_flags_and_is_written_without_blocking)
{
	struct pw_error err;
	struct audit *a;
	char *text = NULL;
	size_t len = 0, n;
	int p[2], saved, reader_flags;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ge(fcntl(p[0], F_SETPIPE_SZ, 4096), 4096);
	reader_flags = fcntl(p[0], F_GETFL);
	ck_assert_int_eq(fcntl(p[0], F_SETFL, reader_flags | O_NONBLOCK), 0);
	saved = swap_stdout(p[1]);

	a = audit_open("-", 1 << 20, &err);
	ck_assert_ptr_nonnull(a);
	n = fill_until_blocked(a);
	ck_assert_int_eq(fcntl(STDOUT_FILENO, F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_ge(audit_fd_wants_write(a), 0);
	ck_assert_int_eq(audit_reopen(a, &err), 0);
	while (read_available(p[0], &text, &len), audit_flush(a, &err) != 0)
		;
	read_available(p[0], &text, &len);
	audit_close(a);
	restore_stdout(saved);
	close(p[0]);

	ck_assert_uint_eq(check_lines(text), n);
	free(text);
}
END_TEST

START_TEST(stdout_socket_keeps_its_flags_and_is_written_without_blocking)
{
	struct pw_error err;
	struct audit *a;
	char *text = NULL;
	size_t len = 0, n;
	int sv[2], saved, size = 4096;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size,
	    sizeof(size)), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL,
	    fcntl(sv[0], F_GETFL) | O_NONBLOCK), 0);
	saved = swap_stdout(sv[1]);

	a = audit_open("-", 1 << 20, &err);
	ck_assert_ptr_nonnull(a);
	n = fill_until_blocked(a);
	ck_assert_int_eq(fcntl(STDOUT_FILENO, F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(audit_fd_wants_write(a), STDOUT_FILENO);
	while (read_available(sv[0], &text, &len), audit_flush(a, &err) != 0)
		;
	read_available(sv[0], &text, &len);
	audit_close(a);
	restore_stdout(saved);
	close(sv[0]);

	ck_assert_uint_eq(check_lines(text), n);
	free(text);
}
END_TEST

/* ---- opening ----------------------------------------------------------------- */

START_TEST(open_of_an_unwritable_path_fails_with_io_error)
{
	struct pw_error err;

	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(audit_open("/nonexistent-dir/audit.log", 65536,
	    &err));
	ck_assert_int_eq(err.code, PW_IO);
	ck_assert_str_starts(err.message, "audit log /nonexistent-dir/audit.log: ");
}
END_TEST

START_TEST(buffer_below_the_minimum_is_refused)
{
	struct pw_error err;

	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(audit_open("-", AUDIT_BUFFER_MIN_BYTES - 1, &err));
	ck_assert_int_eq(err.code, PW_USAGE);
}
END_TEST

static Suite *
audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("audit");

	/* A write to a pipe whose reader is gone must fail, not kill. */
	signal(SIGPIPE, SIG_IGN);
	tcase_add_test(tc, timestamp_is_rfc3339_utc_with_microseconds);
	tcase_add_test(tc, timestamp_keeps_leading_zeros);
	tcase_add_test(tc, timestamp_refuses_a_bad_nanosecond_count);
	tcase_add_test(tc, conn_open_is_one_line_with_the_connection_fields);
	tcase_add_test(tc, unknown_connection_fields_are_left_out);
	tcase_add_test(tc, connection_fields_follow_the_connection_logged);
	tcase_add_test(tc, offloaded_hashes_arrive_in_order_and_whole);
	tcase_add_test(tc,
	    offloaded_hashes_past_the_bound_are_computed_at_once);
	tcase_add_test(tc,
	    a_full_buffer_behind_a_held_line_waits_for_the_hash);
	tcase_add_test(tc, tls_event_carries_version_cipher_and_peer_identity);
	tcase_add_test(tc, message_event_carries_the_fields_of_scan);
	tcase_add_test(tc, message_without_its_bytes_has_a_null_sha256);
	tcase_add_test(tc, names_with_nul_and_invalid_utf8_are_escaped);
	tcase_add_test(tc,
	    message_fields_are_those_of_scan_for_an_analyzed_pickle);
	tcase_add_test(tc, fields_text_is_that_of_the_writer);
	tcase_add_test(tc,
	    message_line_without_findings_is_that_of_the_writer);
	tcase_add_test(tc, message_line_with_a_long_listener_name);
	tcase_add_test(tc,
	    message_at_a_monotonic_instant_has_its_wall_clock_time);
	tcase_add_test(tc, conn_close_carries_totals_tls_and_reason);
	tcase_add_test(tc, error_event_carries_code_and_detail);
	tcase_add_test(tc, error_outside_a_connection_has_no_conn_id);
	tcase_add_test(tc, event_longer_than_the_buffer_is_dropped_and_counted);
	tcase_add_test(tc, drop_notice_precedes_the_next_event);
	tcase_add_test(tc,
	    full_buffer_drops_events_and_reports_them_when_drained);
	tcase_add_test(tc,
	    flush_on_a_full_pipe_returns_and_finishes_after_the_reader_drains);
	tcase_add_test(tc, drain_gives_up_when_the_time_runs_out);
	tcase_add_test(tc, regular_file_is_never_waited_for);
	tcase_add_test(tc, close_writes_what_is_buffered);
	tcase_add_test(tc, open_appends_to_an_existing_log);
	tcase_add_test(tc, reopen_after_rename_continues_in_a_new_file);
	tcase_add_test(tc, reopen_failure_keeps_the_old_file);
	tcase_add_test(tc, reopen_drops_the_tail_of_a_line_it_cannot_finish);
	tcase_add_test(tc,
	    stdout_pipe_keeps_its_flags_and_is_written_without_blocking);
	tcase_add_test(tc,
	    stdout_socket_keeps_its_flags_and_is_written_without_blocking);
	tcase_add_test(tc, open_of_an_unwritable_path_fails_with_io_error);
	tcase_add_test(tc, buffer_below_the_minimum_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_SUITE(audit_suite)
