/*
 * libFuzzer harness for the configuration loader.  The input is config
 * text, loaded twice: as "fuzz.conf" and as "/etc/pw/fuzz.conf" (so that
 * relative paths are resolved).  Beyond "no crash, no leak, no undefined
 * behaviour" it checks the loader's contract:
 *   - every diagnostic is one non-empty line without control bytes, about
 *     the input, at a line and column that exist in it (line 0 only for
 *     the few messages about the whole text);
 *   - a load fails exactly when it reported an error, and both loads
 *     report the same errors and warnings, in number;
 *   - a configuration that loads keeps every promise config.h makes:
 *     defaults resolved, values in their ranges, the combinations that are
 *     refused absent, no two listeners on one address, and every path of
 *     the second load under its directory.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.conf"
#define NAME_IN_DIR "/etc/pw/fuzz.conf"
#define MESSAGE_MAX_BYTES 4096

static void
check(int ok)
{
	if (!ok)
		abort();
}

/* What a load said. */
struct load_seen {
	const char *name;
	const uint8_t *text;
	size_t len;
	unsigned errors, warnings, whole_file;
};

/* The length of line ${line} (1-based) of ${text}, or -1 if there is none. */
static long
line_length(const uint8_t *text, size_t len, unsigned line)
{
	size_t i = 0, start;
	unsigned n = 1;

	while (n < line) {
		const uint8_t *nl = memchr(text + i, '\n', len - i);

		if (nl == NULL)
			return -1;
		i = (size_t)(nl - text) + 1;
		n++;
	}
	start = i;
	while (i < len && text[i] != '\n')
		i++;
	return (long)(i - start);
}

static void
on_diag(void *cookie, const struct config_diag *d)
{
	struct load_seen *s = cookie;
	size_t n, i;
	long ll;

	check(d->message != NULL && d->file != NULL);
	check(strcmp(d->file, s->name) == 0);
	n = strnlen(d->message, MESSAGE_MAX_BYTES);
	check(n > 0 && n < MESSAGE_MAX_BYTES);
	for (i = 0; i < n; i++)
		check((unsigned char)d->message[i] >= 0x20 &&
		    (unsigned char)d->message[i] != 0x7f);
	if (d->warning)
		s->warnings++;
	else
		s->errors++;
	if (d->line == 0) {
		check(!d->warning && d->col == 0);
		s->whole_file++;
		return;
	}
	check(d->col >= 1);
	ll = line_length(s->text, s->len, d->line);
	check(ll >= 0);
	/* One past the last byte: "found the end of the line". */
	check((long)d->col - 1 <= ll);
}

static bool
is_ip(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1;
}

static void
check_path(const char *path, bool in_dir)
{
	if (path == NULL)
		return;
	check(path[0] != '\0');
	if (in_dir)
		check(path[0] == '/');
}

static void
check_listener(const struct config *cfg, const struct config_listener *l,
    bool in_dir)
{
	const struct config_global *g = config_global(cfg);
	struct pvm_limits limits;
	size_t i;

	check(l->name != NULL && l->name[0] != '\0');
	check(l->listen_host != NULL && l->listen_port != 0);
	check(is_ip(l->listen_host));
	check((l->listen_addr.ss_family == AF_INET &&
	    l->listen_addr_len == sizeof(struct sockaddr_in)) ||
	    (l->listen_addr.ss_family == AF_INET6 &&
	    l->listen_addr_len == sizeof(struct sockaddr_in6)));
	check(l->backend_host != NULL && l->backend_port != 0);

	check(l->framing == FRAME_RAW || l->framing == FRAME_LEN32 ||
	    l->framing == FRAME_MP);
	check(l->mp_handshake == 0 || (l->mp_handshake == 3 &&
	    l->framing == FRAME_MP));
	check(l->memo == ANALYSIS_MEMO_PER_MESSAGE ||
	    l->memo == ANALYSIS_MEMO_PERSISTENT ||
	    l->memo == ANALYSIS_MEMO_BOTH);
	check(l->on_deny == CONFIG_ON_DENY_CLOSE ||
	    (l->on_deny == CONFIG_ON_DENY_DROP && l->framing == FRAME_LEN32 &&
	    l->memo == ANALYSIS_MEMO_PER_MESSAGE));
	check(l->fail_policy == CONFIG_FAIL_CLOSE);
	check_path(l->rules, in_dir);

	check(l->max_connections >= 1 &&
	    l->max_connections <= g->max_connections);
	check(l->max_message_bytes >= 1 && l->max_message_bytes <= (1U << 30));
	check(l->max_message_bytes <= g->buffer_memory_bytes);
	check(l->handshake_timeout_ms >= 1 &&
	    l->handshake_timeout_ms <= 3600000);
	check(l->message_timeout_ms >= 1 && l->message_timeout_ms <= 3600000);
	check(l->connect_timeout_ms >= 1 && l->connect_timeout_ms <= 3600000);
	check(l->idle_timeout_ms >= 1 &&
	    l->idle_timeout_ms <= 720ULL * 3600000);

	if (l->tls) {
		check(l->tls_cert != NULL && l->tls_key != NULL);
		check(l->tls_min_version == CONFIG_TLS_1_2 ||
		    l->tls_min_version == CONFIG_TLS_1_3);
		check(l->tls_ciphers == NULL ||
		    l->tls_min_version == CONFIG_TLS_1_2);
		check(l->tls_session_tickets <= 16);
		check((l->client_auth == CONFIG_CLIENT_AUTH_NONE) ==
		    (l->client_ca == NULL));
		check(l->client_crl == NULL || l->client_ca != NULL);
		check(l->n_client_allow == 0 ||
		    l->client_auth == CONFIG_CLIENT_AUTH_REQUIRED);
	} else {
		check(l->tls_cert == NULL && l->tls_key == NULL &&
		    l->client_ca == NULL && l->n_client_allow == 0 &&
		    l->client_auth == CONFIG_CLIENT_AUTH_NONE &&
		    l->tls_session_tickets == 0);
	}
	check_path(l->tls_cert, in_dir);
	check_path(l->tls_key, in_dir);
	check_path(l->client_ca, in_dir);
	check_path(l->client_crl, in_dir);
	for (i = 0; i < l->n_client_allow; i++)
		check(strncmp(l->client_allow[i], "CN=", 3) == 0 ||
		    strncmp(l->client_allow[i], "DNS=", 4) == 0 ||
		    strncmp(l->client_allow[i], "URI=", 4) == 0);

	if (l->backend_tls) {
		check(l->backend_name != NULL);
		check(l->backend_sni == NULL || !is_ip(l->backend_sni));
		check((l->backend_cert == NULL) == (l->backend_key == NULL));
		check(l->backend_verify || l->backend_ca == NULL);
	} else {
		check(l->backend_name == NULL && l->backend_sni == NULL &&
		    l->backend_ca == NULL && l->backend_cert == NULL);
	}
	check_path(l->backend_ca, in_dir);
	check_path(l->backend_cert, in_dir);
	check_path(l->backend_key, in_dir);

	/* A rule file limit up to the listener's passes, above it fails. */
	memset(&limits, 0, sizeof(limits));
	limits.max_message_bytes = l->max_message_bytes;
	check(config_check_rule_limits(cfg, l, &limits, NULL, NULL) == 0);
	limits.max_message_bytes++;
	check(config_check_rule_limits(cfg, l, &limits, NULL, NULL) == -1);
}

static void
inspect(const struct config *cfg, bool in_dir)
{
	const struct config_global *g = config_global(cfg);
	size_t i, j, n = config_listener_count(cfg);

	check(n >= 1);
	check_path(g->audit_log, in_dir);
	check(g->max_connections >= 1);
	for (i = 0; i < n; i++) {
		const struct config_listener *a = config_listener(cfg, i);

		check_listener(cfg, a, in_dir);
		for (j = 0; j < i; j++) {
			const struct config_listener *b =
			    config_listener(cfg, j);

			check(strcmp(a->name, b->name) != 0);
			check(!(a->listen_port == b->listen_port &&
			    strcmp(a->listen_host, b->listen_host) == 0));
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct load_seen plain = { NAME, data, size, 0, 0, 0 };
	struct load_seen in_dir = { NAME_IN_DIR, data, size, 0, 0, 0 };
	struct config *p, *q;

	p = config_load_text(NAME, (const char *)data, size, on_diag, &plain);
	check((p != NULL) == (plain.errors == 0));
	q = config_load_text(NAME_IN_DIR, (const char *)data, size, on_diag,
	    &in_dir);
	check((q != NULL) == (p != NULL));
	check(in_dir.errors == plain.errors);
	check(in_dir.warnings == plain.warnings);
	if (p != NULL) {
		inspect(p, false);
		inspect(q, true);
	}
	config_free(p);
	config_free(q);
	return 0;
}
