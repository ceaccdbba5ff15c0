/*
 * tls: contexts, handshakes, client certificates, peer identity and
 * non-blocking I/O, one behaviour per test.
 *
 * A test PKI is made in-process with OpenSSL (P-256 keys, so it takes
 * milliseconds) in a temporary directory: a root CA, an intermediate CA
 * that issues the server and the clients, an unrelated root with a client
 * of its own, a revoked client and CRLs from both CAs.  Both ends of every
 * connection run in this process over a socketpair (TCP on loopback where
 * the kernel's TCP behaviour is the point), non-blocking, driven by a
 * small poll loop that gives up when neither end can make progress.  The
 * far end is a tls_conn or, where the test needs what our API does not
 * offer (a TLS 1.2-only client, counting tickets), a raw OpenSSL client.
 */

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "unit.h"

/* ---- the test PKI ------------------------------------------------------ */

#define DAY (24 * 60 * 60L)

static char dir[64];

/* A path in the fixture directory (a rotating set of buffers). */
static const char *
path(const char *name)
{
	static char bufs[8][128];
	static unsigned next;
	char *p = bufs[next++ % 8];

	snprintf(p, sizeof(bufs[0]), "%s/%s", dir, name);
	return p;
}

static EVP_PKEY *
key_new(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	ck_assert_ptr_nonnull(k);
	return k;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	ck_assert_ptr_nonnull(ext);
	ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

struct cert_spec {
	const char *cn;
	long serial;
	bool ca;
	const char *san;	/* subjectAltName value or NULL */
	const char *eku;	/* extendedKeyUsage value or NULL */
	long from_days, to_days;	/* validity relative to now */
};

/* A certificate for ${key} described by ${spec}, issued by ${issuer} with
 * ${issuer_key} (self-signed when ${issuer} is NULL). */
static X509 *
cert_new(const struct cert_spec *spec, EVP_PKEY *key, X509 *issuer,
    EVP_PKEY *issuer_key)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	ck_assert_int_eq(X509_set_version(x, 2), 1);
	ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x),
	    spec->serial), 1);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"picklewall tests", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)spec->cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	X509_gmtime_adj(X509_getm_notBefore(x), spec->from_days * DAY);
	X509_gmtime_adj(X509_getm_notAfter(x), spec->to_days * DAY);
	X509_set_pubkey(x, key);
	if (issuer == NULL)
		issuer = x;
	add_ext(x, issuer, NID_subject_key_identifier, "hash");
	add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	if (spec->ca) {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
	}
	if (spec->san != NULL)
		add_ext(x, issuer, NID_subject_alt_name, spec->san);
	if (spec->eku != NULL)
		add_ext(x, issuer, NID_ext_key_usage, spec->eku);
	ck_assert_int_gt(X509_sign(x, issuer_key, EVP_sha256()), 0);
	return x;
}

static void
write_certs(const char *name, X509 *a, X509 *b)
{
	FILE *f = fopen(path(name), "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_X509(f, a), 1);
	if (b != NULL)
		ck_assert_int_eq(PEM_write_X509(f, b), 1);
	fclose(f);
}

static void
write_key(const char *name, EVP_PKEY *key, const char *passphrase)
{
	FILE *f = fopen(path(name), "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PrivateKey(f, key,
	    passphrase != NULL ? EVP_aes_128_cbc() : NULL,
	    (unsigned char *)passphrase,
	    passphrase != NULL ? (int)strlen(passphrase) : 0, NULL, NULL), 1);
	fclose(f);
}

/* A CRL from ${ca} revoking ${revoked_serial} (0: nothing), next update
 * ${next_days} from now. */
static X509_CRL *
crl_new(X509 *ca, EVP_PKEY *ca_key, long revoked_serial, long next_days)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	X509_REVOKED *r;
	ASN1_INTEGER *serial;

	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	X509_gmtime_adj(t, -DAY);
	X509_CRL_set1_lastUpdate(crl, t);
	X509_gmtime_adj(t, next_days * DAY);
	X509_CRL_set1_nextUpdate(crl, t);
	if (revoked_serial != 0) {
		r = X509_REVOKED_new();
		serial = ASN1_INTEGER_new();
		ASN1_INTEGER_set(serial, revoked_serial);
		X509_REVOKED_set_serialNumber(r, serial);
		X509_gmtime_adj(t, -DAY);
		X509_REVOKED_set_revocationDate(r, t);
		X509_CRL_add0_revoked(crl, r);
		ASN1_INTEGER_free(serial);
	}
	ASN1_TIME_free(t);
	X509_CRL_sort(crl);
	ck_assert_int_gt(X509_CRL_sign(crl, ca_key, EVP_sha256()), 0);
	return crl;
}

static void
write_crls(const char *name, X509_CRL *a, X509_CRL *b)
{
	FILE *f = fopen(path(name), "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_X509_CRL(f, a), 1);
	if (b != NULL)
		ck_assert_int_eq(PEM_write_X509_CRL(f, b), 1);
	fclose(f);
}

static void
write_text(const char *name, const char *text)
{
	FILE *f = fopen(path(name), "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* Serials, so that tests can expect them in peer identities and CRLs. */
enum {
	SERIAL_ROOT = 0x1001,
	SERIAL_INTER,
	SERIAL_SERVER,
	SERIAL_CLIENT_GOOD = 0x2a3b4c,
	SERIAL_CLIENT_URI,
	SERIAL_CLIENT_REVOKED,
	SERIAL_CLIENT_OUTSIDER,
	SERIAL_FOREIGN_ROOT,
	SERIAL_CLIENT_FOREIGN,
	SERIAL_EXPIRED,
	SERIAL_CLIENT_ONLY,
};

/* Make a leaf issued by the intermediate, as NAME.pem (leaf then
 * intermediate) and NAME.key. */
static void
leaf(const char *name, const struct cert_spec *spec, X509 *inter,
    EVP_PKEY *inter_key)
{
	char file[64];
	EVP_PKEY *k = key_new();
	X509 *x = cert_new(spec, k, inter, inter_key);

	snprintf(file, sizeof(file), "%s.pem", name);
	write_certs(file, x, inter);
	snprintf(file, sizeof(file), "%s.key", name);
	write_key(file, k, NULL);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void
pki_setup(void)
{
	static const struct cert_spec root_spec = {
		"picklewall test root", SERIAL_ROOT, true, NULL, NULL, -1, 3650 };
	static const struct cert_spec inter_spec = {
		"picklewall test intermediate", SERIAL_INTER, true, NULL, NULL,
		-1, 3650 };
	static const struct cert_spec foreign_spec = {
		"unrelated root", SERIAL_FOREIGN_ROOT, true, NULL, NULL, -1,
		3650 };
	static const struct cert_spec server_spec = {
		"server.test", SERIAL_SERVER, false,
		"DNS:server.test,DNS:localhost,IP:127.0.0.1", "serverAuth", -1,
		365 };
	EVP_PKEY *root_key, *inter_key, *foreign_key, *k;
	X509 *root, *inter, *foreign, *x;
	X509_CRL *c1, *c2;

	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/pw-test-tls-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));

	root_key = key_new();
	root = cert_new(&root_spec, root_key, NULL, root_key);
	inter_key = key_new();
	inter = cert_new(&inter_spec, inter_key, root, root_key);
	foreign_key = key_new();
	foreign = cert_new(&foreign_spec, foreign_key, NULL, foreign_key);
	write_certs("root.pem", root, NULL);
	write_certs("foreign-root.pem", foreign, NULL);

	leaf("server", &server_spec, inter, inter_key);
	leaf("client-good", &(struct cert_spec){ "client-good",
	    SERIAL_CLIENT_GOOD, false,
	    "DNS:client-good.test,URI:spiffe://test/client-good",
	    "clientAuth", -1, 365 }, inter, inter_key);
	leaf("client-uri", &(struct cert_spec){ "client-uri",
	    SERIAL_CLIENT_URI, false, "URI:spiffe://test/worker",
	    "clientAuth", -1, 365 }, inter, inter_key);
	leaf("client-revoked", &(struct cert_spec){ "client-revoked",
	    SERIAL_CLIENT_REVOKED, false, NULL, "clientAuth", -1, 365 },
	    inter, inter_key);
	leaf("client-outsider", &(struct cert_spec){ "client-outsider",
	    SERIAL_CLIENT_OUTSIDER, false, "DNS:outsider.test", "clientAuth",
	    -1, 365 }, inter, inter_key);
	leaf("server-expired", &(struct cert_spec){ "server.test",
	    SERIAL_EXPIRED, false, "DNS:server.test", "serverAuth", -30, -1 },
	    inter, inter_key);
	leaf("client-only", &(struct cert_spec){ "server.test",
	    SERIAL_CLIENT_ONLY, false, "DNS:server.test", "clientAuth", -1,
	    365 }, inter, inter_key);

	/* Same CN as the good client, but from a CA nobody trusts. */
	k = key_new();
	x = cert_new(&(struct cert_spec){ "client-good", SERIAL_CLIENT_FOREIGN,
	    false, NULL, "clientAuth", -1, 365 }, k, foreign, foreign_key);
	write_certs("client-foreign.pem", x, NULL);
	write_key("client-foreign.key", k, NULL);
	write_key("encrypted.key", k, "secret");
	write_key("other.key", root_key, NULL);
	X509_free(x);
	EVP_PKEY_free(k);

	/* The server certificate, then a CA that did not issue it. */
	{
		FILE *f = fopen(path("server.pem"), "r");

		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
		write_certs("server-wrong-chain.pem", x, foreign);
		X509_free(x);
	}

	c1 = crl_new(root, root_key, 0, 30);
	c2 = crl_new(inter, inter_key, SERIAL_CLIENT_REVOKED, 30);
	write_crls("crl.pem", c1, c2);
	write_crls("crl-root-only.pem", c1, NULL);
	write_crls("crl-inter-only.pem", c2, NULL);
	X509_CRL_free(c1);
	X509_CRL_free(c2);
	c1 = crl_new(inter, inter_key, 0, -1);
	write_crls("crl-expired.pem", c1, NULL);
	X509_CRL_free(c1);
	/* Claims to be from the root, signed by another key. */
	c1 = crl_new(root, foreign_key, 0, 30);
	write_crls("crl-forged.pem", c1, NULL);
	X509_CRL_free(c1);

	write_text("garbage.pem", "this is not PEM\n");

	X509_free(root);
	X509_free(inter);
	X509_free(foreign);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(inter_key);
	EVP_PKEY_free(foreign_key);
}

static void
pki_teardown(void)
{
	static const char *const files[] = {
		"root.pem", "foreign-root.pem", "server.pem", "server.key",
		"client-good.pem", "client-good.key", "client-uri.pem",
		"client-uri.key", "client-revoked.pem", "client-revoked.key",
		"client-outsider.pem", "client-outsider.key",
		"server-expired.pem", "server-expired.key", "client-only.pem",
		"client-only.key", "client-foreign.pem", "client-foreign.key",
		"encrypted.key", "other.key", "server-wrong-chain.pem",
		"crl.pem", "crl-root-only.pem", "crl-inter-only.pem",
		"crl-expired.pem",
		"crl-forged.pem", "garbage.pem",
	};
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(path(files[i]));
	rmdir(dir);
}

/* ---- contexts ---------------------------------------------------------- */

static struct tls_server_options
server_options(void)
{
	return (struct tls_server_options){
		.cert_chain_file = path("server.pem"),
		.key_file = path("server.key"),
	};
}

static struct tls_server_options
mtls_options(void)
{
	struct tls_server_options o = server_options();

	o.client_auth = TLS_CLIENT_REQUIRED;
	o.client_ca_file = path("root.pem");
	o.client_crl_file = path("crl.pem");
	return o;
}

static struct tls_ctx *
server_ctx(const struct tls_server_options *o)
{
	struct pw_error err = { 0 };
	struct tls_ctx *ctx = tls_server_ctx_new(o, &err);

	ck_assert_msg(ctx != NULL, "server context: %s", err.message);
	return ctx;
}

/* A backend client context that verifies server.test against the root,
 * presenting the client certificate ${client} ("client-good"...) if not
 * NULL. */
static struct tls_ctx *
client_ctx(const char *client)
{
	char chain[64], key[64];
	struct tls_client_options o = {
		.ca_file = path("root.pem"),
		.expected_name = "server.test",
		.verify = true,
	};
	struct pw_error err = { 0 };
	struct tls_ctx *ctx;

	if (client != NULL) {
		snprintf(chain, sizeof(chain), "%s.pem", client);
		snprintf(key, sizeof(key), "%s.key", client);
		o.cert_chain_file = path(chain);
		o.key_file = path(key);
	}
	ctx = tls_client_ctx_new(&o, &err);
	ck_assert_msg(ctx != NULL, "client context: %s", err.message);
	return ctx;
}

/* tls_server_ctx_new(o) fails, with a message containing ${a} and ${b}. */
static void
server_ctx_fails(const struct tls_server_options *o, const char *a,
    const char *b)
{
	struct pw_error err = { 0 };

	ck_assert_ptr_null(tls_server_ctx_new(o, &err));
	ck_assert_msg(err.code == PW_CONFIG, "code %s: %s",
	    pw_code_name(err.code), err.message);
	ck_assert_msg(strstr(err.message, a) != NULL, "\"%s\" lacks \"%s\"",
	    err.message, a);
	if (b != NULL)
		ck_assert_msg(strstr(err.message, b) != NULL,
		    "\"%s\" lacks \"%s\"", err.message, b);
}

/* ---- connections ------------------------------------------------------- */

/* One end of a test connection: ours, or a raw OpenSSL one. */
struct end {
	int fd;
	struct tls_conn *conn;
	SSL *raw;
	enum tls_status st;
	struct pw_error err;
};

static void
nonblocking(int fd)
{
	ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK),
	    0);
}

static void
pair(int fds[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	nonblocking(fds[0]);
	nonblocking(fds[1]);
}

static enum tls_status
raw_status(SSL *ssl, int ret)
{
	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_CLOSED;
	default:
		return TLS_ERROR;
	}
}

static enum tls_status
step_handshake(struct end *e)
{
	int ret;

	if (e->conn != NULL)
		return tls_handshake(e->conn, &e->err);
	ERR_clear_error();
	ret = SSL_do_handshake(e->raw);
	return ret == 1 ? TLS_OK : raw_status(e->raw, ret);
}

static bool
finished(enum tls_status st)
{
	return st == TLS_OK || st == TLS_ERROR;
}

/* Wait (up to 200 ms) until one of the ends can make progress; false if
 * neither can, which ends a test's exchange. */
static bool
wait_either(struct end *a, struct end *b)
{
	struct pollfd p[2];
	int n = 0;

	if (!finished(a->st))
		p[n++] = (struct pollfd){ a->fd,
		    a->st == TLS_WANT_WRITE ? POLLOUT : POLLIN, 0 };
	if (!finished(b->st))
		p[n++] = (struct pollfd){ b->fd,
		    b->st == TLS_WANT_WRITE ? POLLOUT : POLLIN, 0 };
	return n > 0 && poll(p, (nfds_t)n, 200) > 0;
}

/* Run both handshakes until each succeeds or fails, or both are stuck. */
static void
handshake(struct end *server, struct end *client)
{
	int i;

	server->st = client->st = TLS_WANT_READ;
	for (i = 0; i < 100; i++) {
		if (!finished(client->st))
			client->st = step_handshake(client);
		if (!finished(server->st))
			server->st = step_handshake(server);
		if (finished(server->st) && finished(client->st))
			return;
		if (!wait_either(server, client))
			return;
	}
}

struct link {
	struct tls_ctx *sctx, *cctx;
	struct end server, client;
};

/* A connection between a server made from ${sctx} and a client made from
 * ${cctx} (ours) or ${raw_ctx}; the contexts are the link's to free. */
static void
link_open(struct link *l, struct tls_ctx *sctx, struct tls_ctx *cctx,
    SSL_CTX *raw_ctx)
{
	struct pw_error err = { 0 };
	int fds[2];

	memset(l, 0, sizeof(*l));
	pair(fds);
	l->sctx = sctx;
	l->cctx = cctx;
	l->server.fd = fds[0];
	l->client.fd = fds[1];
	l->server.conn = tls_accept_new(sctx, fds[0], &err);
	ck_assert_msg(l->server.conn != NULL, "%s", err.message);
	if (cctx != NULL) {
		l->client.conn = tls_connect_new(cctx, fds[1], &err);
		ck_assert_msg(l->client.conn != NULL, "%s", err.message);
	} else {
		l->client.raw = SSL_new(raw_ctx);
		ck_assert_ptr_nonnull(l->client.raw);
		SSL_set_fd(l->client.raw, fds[1]);
		SSL_set_connect_state(l->client.raw);
		SSL_CTX_free(raw_ctx);	/* the SSL holds a reference */
	}
}

static void
link_close(struct link *l)
{
	tls_free(l->server.conn);
	tls_free(l->client.conn);
	SSL_free(l->client.raw);
	tls_ctx_free(l->sctx);
	tls_ctx_free(l->cctx);
	close(l->server.fd);
	close(l->client.fd);
}

/* A raw client context, TLS 1.2 at most if ${tls12}, that does not verify
 * the server (the tests using it look at the server side). */
static SSL_CTX *
raw_client_ctx(bool tls12)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	ck_assert_ptr_nonnull(c);
	if (tls12)
		SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	return c;
}

static void
assert_failure(const struct end *e, enum tls_failure failure,
    const char *text)
{
	ck_assert_msg(e->st == TLS_ERROR, "status %d, not TLS_ERROR", e->st);
	ck_assert_msg(tls_failure(e->conn) == failure, "failure %s, not %s (%s)",
	    tls_failure_name(tls_failure(e->conn)), tls_failure_name(failure),
	    e->err.message);
	if (text != NULL)
		ck_assert_msg(strstr(e->err.message, text) != NULL,
		    "\"%s\" lacks \"%s\"", e->err.message, text);
}

/* Read from ${e} until ${want} bytes arrived or it stops (polling up to
 * 200 ms at a time); returns the last status. */
static enum tls_status
read_some(struct end *e, char *buf, size_t want, size_t *got)
{
	enum tls_status st = TLS_WANT_READ;
	struct pollfd p;
	size_t n;

	*got = 0;
	while (*got < want) {
		st = tls_read(e->conn, buf + *got, want - *got, &n, &e->err);
		*got += n;
		if (st == TLS_OK)
			continue;
		if (st != TLS_WANT_READ && st != TLS_WANT_WRITE)
			break;
		p = (struct pollfd){ e->fd, st == TLS_WANT_READ ? POLLIN :
		    POLLOUT, 0 };
		if (poll(&p, 1, 200) <= 0)
			break;
	}
	return st;
}

static void
write_all(struct end *e, const char *buf, size_t len)
{
	size_t off = 0, n;
	enum tls_status st;
	struct pollfd p;

	while (off < len) {
		st = tls_write(e->conn, buf + off, len - off, &n, &e->err);
		off += n;
		if (st == TLS_OK)
			continue;
		ck_assert_msg(st == TLS_WANT_READ || st == TLS_WANT_WRITE,
		    "tls_write: %s", e->err.message);
		p = (struct pollfd){ e->fd, st == TLS_WANT_READ ? POLLIN :
		    POLLOUT, 0 };
		ck_assert_int_eq(poll(&p, 1, 1000), 1);
	}
}

/* ---- configuration: what `picklewall -t` reports ----------------------- */

START_TEST(server_context_from_a_good_chain_and_key_is_built)
{
	struct tls_server_options o = mtls_options();

	tls_ctx_free(server_ctx(&o));
}
END_TEST

START_TEST(unreadable_certificate_file_is_named_with_the_reason)
{
	struct tls_server_options o = server_options();

	o.cert_chain_file = path("missing.pem");
	server_ctx_fails(&o, "certificate chain /tmp/pw-test-tls-",
	    "missing.pem: No such file or directory");
}
END_TEST

START_TEST(unreadable_key_file_is_named_with_the_reason)
{
	struct tls_server_options o = server_options();

	o.key_file = path("missing.key");
	server_ctx_fails(&o, "key file ", "missing.key: No such file");
}
END_TEST

START_TEST(directory_as_certificate_file_is_refused)
{
	struct tls_server_options o = server_options();

	o.cert_chain_file = dir;
	server_ctx_fails(&o, "not a regular file", NULL);
}
END_TEST

START_TEST(file_without_pem_certificate_is_refused)
{
	struct tls_server_options o = server_options();

	o.cert_chain_file = path("garbage.pem");
	server_ctx_fails(&o, "garbage.pem: no PEM certificate in the file",
	    NULL);
}
END_TEST

START_TEST(key_that_does_not_match_the_certificate_is_refused)
{
	struct tls_server_options o = server_options();

	o.key_file = path("other.key");
	server_ctx_fails(&o, "other.key does not match the certificate in ",
	    "server.pem");
}
END_TEST

START_TEST(encrypted_key_is_refused_without_prompting)
{
	struct tls_server_options o = server_options();

	o.key_file = path("encrypted.key");
	server_ctx_fails(&o, "encrypted.key: the key is encrypted", NULL);
}
END_TEST

START_TEST(chain_with_a_ca_that_did_not_issue_the_certificate_is_refused)
{
	struct tls_server_options o = server_options();

	o.cert_chain_file = path("server-wrong-chain.pem");
	server_ctx_fails(&o, "certificate 1 (CN=server.test,O=picklewall "
	    "tests) is not issued by certificate 2 (CN=unrelated root", NULL);
}
END_TEST

START_TEST(expired_server_certificate_is_refused)
{
	struct tls_server_options o = server_options();

	o.cert_chain_file = path("server-expired.pem");
	o.key_file = path("server-expired.key");
	server_ctx_fails(&o, "certificate 1 (CN=server.test,O=picklewall "
	    "tests) expired on ", " UTC");
}
END_TEST

START_TEST(certificate_for_clients_only_is_refused_for_a_server)
{
	struct tls_server_options o = server_options();

	o.cert_chain_file = path("client-only.pem");
	o.key_file = path("client-only.key");
	server_ctx_fails(&o, "not for TLS server use", NULL);
}
END_TEST

START_TEST(unknown_cipher_name_is_refused_even_among_known_ones)
{
	struct tls_server_options o = server_options();

	o.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:NO-SUCH-CIPHER:!aNULL";
	server_ctx_fails(&o, "ciphers: \"NO-SUCH-CIPHER\" matches no TLS 1.2 "
	    "cipher", NULL);
}
END_TEST

START_TEST(unknown_ciphersuite_is_refused)
{
	struct tls_server_options o = server_options();

	o.ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_NOPE";
	server_ctx_fails(&o, "ciphersuites: \"TLS_NOPE\" is not a TLS 1.3 "
	    "suite", NULL);
}
END_TEST

START_TEST(unknown_group_is_refused)
{
	struct tls_server_options o = server_options();

	o.groups = "X25519:P-999";
	server_ctx_fails(&o, "groups \"X25519:P-999\"", NULL);
}
END_TEST

START_TEST(tls13_minimum_without_suites_leaves_no_cipher)
{
	struct tls_server_options o = server_options();

	o.min_version = TLS_VERSION_1_3;
	o.ciphersuites = "";
	server_ctx_fails(&o, "no cipher is left", NULL);
}
END_TEST

START_TEST(unsupported_min_version_is_refused)
{
	struct tls_server_options o = server_options();

	o.min_version = 0x0302;
	server_ctx_fails(&o, "min_version 0x302", NULL);
}
END_TEST

START_TEST(too_many_session_tickets_are_refused)
{
	struct tls_server_options o = server_options();

	o.session_tickets = 1000;
	server_ctx_fails(&o, "session_tickets 1000", NULL);
}
END_TEST

START_TEST(required_client_auth_without_ca_file_is_refused)
{
	struct tls_server_options o = mtls_options();

	o.client_ca_file = NULL;
	o.client_crl_file = NULL;
	server_ctx_fails(&o, "client_auth required needs a client CA file",
	    NULL);
}
END_TEST

START_TEST(client_settings_without_client_auth_are_refused)
{
	struct tls_server_options o = mtls_options();

	o.client_auth = TLS_CLIENT_NONE;
	server_ctx_fails(&o, "needs client_auth optional or required", NULL);
}
END_TEST

START_TEST(allow_list_with_optional_client_auth_is_refused)
{
	static const char *const allow[] = { "CN=client-good" };
	struct tls_server_options o = mtls_options();

	o.client_auth = TLS_CLIENT_OPTIONAL;
	o.client_allow = allow;
	o.n_client_allow = 1;
	server_ctx_fails(&o, "allow-list needs client_auth required", NULL);
}
END_TEST

START_TEST(allow_list_entry_of_unknown_kind_is_refused)
{
	static const char *const allow[] = { "CN=client-good", "O=tests" };
	struct tls_server_options o = mtls_options();

	o.client_allow = allow;
	o.n_client_allow = 2;
	server_ctx_fails(&o, "entry \"O=tests\": expected CN=name, DNS=name "
	    "or URI=uri", NULL);
}
END_TEST

START_TEST(crl_file_without_crl_is_refused)
{
	struct tls_server_options o = mtls_options();

	o.client_crl_file = path("garbage.pem");
	server_ctx_fails(&o, "CRL file ", "garbage.pem: no PEM CRL");
}
END_TEST

START_TEST(expired_crl_is_refused)
{
	struct tls_server_options o = mtls_options();

	o.client_crl_file = path("crl-expired.pem");
	server_ctx_fails(&o, "CRL 1 (from CN=picklewall test intermediate,O="
	    "picklewall tests) expired on ", NULL);
}
END_TEST

START_TEST(crl_not_signed_by_its_named_ca_is_refused)
{
	struct tls_server_options o = mtls_options();

	o.client_crl_file = path("crl-forged.pem");
	server_ctx_fails(&o, "CRL 1 (from CN=picklewall test root,O=picklewall "
	    "tests) is not signed by that CA's key", NULL);
}
END_TEST

START_TEST(crl_file_without_a_crl_from_a_trusted_ca_is_refused)
{
	struct tls_server_options o = mtls_options();

	/* The intermediate's CRL alone: the root's is missing. */
	o.client_crl_file = path("crl-inter-only.pem");
	server_ctx_fails(&o, "no CRL from the CA CN=picklewall test root,O="
	    "picklewall tests; every CA of a client chain needs one", NULL);
}
END_TEST

START_TEST(verifying_backend_needs_an_expected_name)
{
	struct tls_client_options o = { .ca_file = path("root.pem"),
	    .verify = true };
	struct pw_error err = { 0 };

	ck_assert_ptr_null(tls_client_ctx_new(&o, &err));
	ck_assert_int_eq(err.code, PW_CONFIG);
	ck_assert_str_starts(err.message, "verifying a TLS backend needs");
}
END_TEST

START_TEST(backend_client_certificate_needs_its_key)
{
	struct tls_client_options o = { .verify = false,
	    .cert_chain_file = path("client-good.pem") };
	struct pw_error err = { 0 };

	ck_assert_ptr_null(tls_client_ctx_new(&o, &err));
	ck_assert_str_starts(err.message, "a client certificate needs both");
}
END_TEST

/* ---- handshakes -------------------------------------------------------- */

START_TEST(default_handshake_is_tls13)
{
	struct link l;

	link_open(&l, server_ctx(&(struct tls_server_options){
	    .cert_chain_file = path("server.pem"),
	    .key_file = path("server.key") }), client_ctx(NULL), NULL);
	handshake(&l.server, &l.client);
	ck_assert_msg(l.server.st == TLS_OK, "%s", l.server.err.message);
	ck_assert_msg(l.client.st == TLS_OK, "%s", l.client.err.message);
	ck_assert_str_eq(tls_version_name(l.server.conn), "TLSv1.3");
	ck_assert_str_eq(tls_cipher_name(l.server.conn),
	    "TLS_AES_256_GCM_SHA384");
	ck_assert_int_eq(tls_failure(l.server.conn), TLS_FAIL_NONE);
	link_close(&l);
}
END_TEST

START_TEST(tls12_client_is_accepted_by_default)
{
	struct tls_server_options o = server_options();
	struct link l;

	link_open(&l, server_ctx(&o), NULL, raw_client_ctx(true));
	handshake(&l.server, &l.client);
	ck_assert_msg(l.server.st == TLS_OK, "%s", l.server.err.message);
	ck_assert_int_eq(l.client.st, TLS_OK);
	ck_assert_str_eq(tls_version_name(l.server.conn), "TLSv1.2");
	ck_assert_str_eq(tls_cipher_name(l.server.conn),
	    "ECDHE-ECDSA-AES256-GCM-SHA384");
	link_close(&l);
}
END_TEST

START_TEST(tls13_minimum_refuses_a_tls12_client)
{
	struct tls_server_options o = server_options();
	struct link l;

	o.min_version = TLS_VERSION_1_3;
	link_open(&l, server_ctx(&o), NULL, raw_client_ctx(true));
	handshake(&l.server, &l.client);
	assert_failure(&l.server, TLS_FAIL_HANDSHAKE, "unsupported protocol");
	ck_assert_int_eq(l.client.st, TLS_ERROR);
	link_close(&l);
}
END_TEST

START_TEST(configured_cipher_is_negotiated_with_tls12)
{
	struct tls_server_options o = server_options();
	struct link l;

	o.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305";
	link_open(&l, server_ctx(&o), NULL, raw_client_ctx(true));
	handshake(&l.server, &l.client);
	ck_assert_msg(l.server.st == TLS_OK, "%s", l.server.err.message);
	ck_assert_str_eq(tls_cipher_name(l.server.conn),
	    "ECDHE-ECDSA-CHACHA20-POLY1305");
	link_close(&l);
}
END_TEST

START_TEST(required_client_auth_refuses_a_client_without_certificate)
{
	struct tls_server_options o = mtls_options();
	struct link l;

	link_open(&l, server_ctx(&o), client_ctx(NULL), NULL);
	handshake(&l.server, &l.client);
	assert_failure(&l.server, TLS_FAIL_PEER_CERT_MISSING,
	    "the client sent no certificate");
	link_close(&l);
}
END_TEST

START_TEST(required_client_auth_refuses_a_tls12_client_without_certificate)
{
	struct tls_server_options o = mtls_options();
	struct link l;

	link_open(&l, server_ctx(&o), NULL, raw_client_ctx(true));
	handshake(&l.server, &l.client);
	assert_failure(&l.server, TLS_FAIL_PEER_CERT_MISSING, NULL);
	ck_assert_int_eq(l.client.st, TLS_ERROR);
	link_close(&l);
}
END_TEST

START_TEST(optional_client_auth_accepts_a_client_without_certificate)
{
	struct tls_server_options o = mtls_options();
	struct tls_peer peer;
	struct link l;

	o.client_auth = TLS_CLIENT_OPTIONAL;
	link_open(&l, server_ctx(&o), client_ctx(NULL), NULL);
	handshake(&l.server, &l.client);
	ck_assert_msg(l.server.st == TLS_OK, "%s", l.server.err.message);
	ck_assert_int_eq(tls_peer_identity(l.server.conn, &peer), 0);
	ck_assert(!peer.present);
	link_close(&l);
}
END_TEST

START_TEST(optional_client_auth_still_refuses_an_untrusted_certificate)
{
	struct tls_server_options o = mtls_options();
	struct link l;

	o.client_auth = TLS_CLIENT_OPTIONAL;
	link_open(&l, server_ctx(&o), client_ctx("client-foreign"), NULL);
	handshake(&l.server, &l.client);
	assert_failure(&l.server, TLS_FAIL_PEER_CERT_UNTRUSTED, NULL);
	link_close(&l);
}
END_TEST

START_TEST(client_from_another_ca_is_refused)
{
	struct tls_server_options o = mtls_options();
	struct link l;

	link_open(&l, server_ctx(&o), client_ctx("client-foreign"), NULL);
	handshake(&l.server, &l.client);
	assert_failure(&l.server, TLS_FAIL_PEER_CERT_UNTRUSTED,
	    "client certificate refused: unable to get local issuer "
	    "certificate (certificate at depth 0, subject CN=client-good,O="
	    "picklewall tests)");
	link_close(&l);
}
END_TEST

START_TEST(revoked_client_is_refused)
{
	struct tls_server_options o = mtls_options();
	struct link l;

	link_open(&l, server_ctx(&o), client_ctx("client-revoked"), NULL);
	handshake(&l.server, &l.client);
	assert_failure(&l.server, TLS_FAIL_PEER_CERT_REVOKED,
	    "certificate revoked (certificate at depth 0, subject "
	    "CN=client-revoked");
	link_close(&l);
}
END_TEST

START_TEST(client_is_refused_when_its_ca_has_no_crl_in_the_file)
{
	struct tls_server_options o = mtls_options();
	struct link l;

	/* The client sends the intermediate along; only the root is in the
	 * CA file, so a missing intermediate CRL shows only now. */
	o.client_crl_file = path("crl-root-only.pem");
	link_open(&l, server_ctx(&o), client_ctx("client-good"), NULL);
	handshake(&l.server, &l.client);
	assert_failure(&l.server, TLS_FAIL_PEER_CERT_UNTRUSTED,
	    "unable to get certificate CRL (certificate at depth 0, subject "
	    "CN=client-good");
	link_close(&l);
}
END_TEST

START_TEST(client_with_a_good_certificate_and_crl_is_accepted)
{
	struct tls_server_options o = mtls_options();
	struct link l;

	link_open(&l, server_ctx(&o), client_ctx("client-good"), NULL);
	handshake(&l.server, &l.client);
	ck_assert_msg(l.server.st == TLS_OK, "%s", l.server.err.message);
	ck_assert_msg(l.client.st == TLS_OK, "%s", l.client.err.message);
	link_close(&l);
}
END_TEST

/* Connect ${client} to a server requiring certificates with ${allow}. */
static void
allow_list_handshake(struct link *l, const char *const *allow, size_t n,
    const char *client)
{
	struct tls_server_options o = mtls_options();

	o.client_allow = allow;
	o.n_client_allow = n;
	link_open(l, server_ctx(&o), client_ctx(client), NULL);
	handshake(&l->server, &l->client);
}

static const char *const allow_list[] = {
	"CN=client-good", "URI=spiffe://test/worker", "DNS=Other.Test",
};

START_TEST(cn_outside_the_allow_list_is_refused)
{
	struct link l;

	allow_list_handshake(&l, allow_list, 3, "client-outsider");
	assert_failure(&l.server, TLS_FAIL_PEER_NOT_ALLOWED,
	    "client certificate refused: not in the allow-list (certificate "
	    "at depth 0, subject CN=client-outsider,O=picklewall tests)");
	link_close(&l);
}
END_TEST

START_TEST(refused_client_learns_it_from_an_alert)
{
	struct link l;
	char buf[16];
	size_t n;

	allow_list_handshake(&l, allow_list, 3, "client-outsider");
	/* TLS 1.3: the client finished before the server judged it. */
	ck_assert_int_eq(l.client.st, TLS_OK);
	ck_assert_int_eq(read_some(&l.client, buf, sizeof(buf), &n),
	    TLS_ERROR);
	ck_assert_int_eq(tls_failure(l.client.conn), TLS_FAIL_PROTOCOL);
	ck_assert_msg(strstr(l.client.err.message, "alert") != NULL, "%s",
	    l.client.err.message);
	link_close(&l);
}
END_TEST

START_TEST(cn_in_the_allow_list_is_accepted)
{
	struct link l;

	allow_list_handshake(&l, allow_list, 3, "client-good");
	ck_assert_msg(l.server.st == TLS_OK, "%s", l.server.err.message);
	link_close(&l);
}
END_TEST

START_TEST(uri_san_in_the_allow_list_is_accepted)
{
	struct link l;

	allow_list_handshake(&l, allow_list, 3, "client-uri");
	ck_assert_msg(l.server.st == TLS_OK, "%s", l.server.err.message);
	link_close(&l);
}
END_TEST

START_TEST(dns_san_in_the_allow_list_matches_without_case)
{
	static const char *const allow[] = { "DNS=CLIENT-GOOD.test" };
	struct link l;

	allow_list_handshake(&l, allow, 1, "client-good");
	ck_assert_msg(l.server.st == TLS_OK, "%s", l.server.err.message);
	link_close(&l);
}
END_TEST

START_TEST(allow_list_value_must_match_whole)
{
	static const char *const allow[] = { "CN=client", "URI=spiffe://test" };
	struct link l;

	allow_list_handshake(&l, allow, 2, "client-good");
	assert_failure(&l.server, TLS_FAIL_PEER_NOT_ALLOWED, NULL);
	link_close(&l);
}
END_TEST

START_TEST(tls12_client_outside_the_allow_list_is_refused_in_the_handshake)
{
	static const char *const allow[] = { "CN=client-good" };
	struct tls_server_options o = mtls_options();
	SSL_CTX *raw = raw_client_ctx(true);
	struct link l;

	ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(raw,
	    path("client-outsider.pem")), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(raw,
	    path("client-outsider.key"), SSL_FILETYPE_PEM), 1);
	o.client_allow = allow;
	o.n_client_allow = 1;
	link_open(&l, server_ctx(&o), NULL, raw);
	handshake(&l.server, &l.client);
	assert_failure(&l.server, TLS_FAIL_PEER_NOT_ALLOWED, NULL);
	ck_assert_int_eq(l.client.st, TLS_ERROR);
	link_close(&l);
}
END_TEST

/* ---- peer identity ----------------------------------------------------- */

static void
sha256_of_first_cert(const char *file, char hex[65])
{
	unsigned char md[32];
	unsigned int len = 0, i;
	FILE *f = fopen(path(file), "r");
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);

	fclose(f);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(X509_digest(x, EVP_sha256(), md, &len), 1);
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	X509_free(x);
}

START_TEST(client_identity_has_subject_serial_fingerprint_and_sans)
{
	struct link l;
	struct tls_peer peer;
	char sha[65];

	allow_list_handshake(&l, allow_list, 3, "client-good");
	ck_assert_int_eq(l.server.st, TLS_OK);
	ck_assert_int_eq(tls_peer_identity(l.server.conn, &peer), 0);
	ck_assert(peer.present);
	ck_assert(!peer.truncated);
	ck_assert_str_eq(peer.subject, "CN=client-good,O=picklewall tests");
	ck_assert_str_eq(peer.serial_hex, "2A3B4C");
	sha256_of_first_cert("client-good.pem", sha);
	ck_assert_str_eq(peer.sha256_hex, sha);
	ck_assert_uint_eq(peer.n_sans, 2);
	ck_assert_str_eq(peer.sans[0], "DNS:client-good.test");
	ck_assert_str_eq(peer.sans[1], "URI:spiffe://test/client-good");
	link_close(&l);
}
END_TEST

START_TEST(server_identity_seen_by_the_backend_client_includes_ip_sans)
{
	struct link l;
	struct tls_peer peer;

	link_open(&l, server_ctx(&(struct tls_server_options){
	    .cert_chain_file = path("server.pem"),
	    .key_file = path("server.key") }), client_ctx(NULL), NULL);
	handshake(&l.server, &l.client);
	ck_assert_int_eq(l.client.st, TLS_OK);
	ck_assert_int_eq(tls_peer_identity(l.client.conn, &peer), 0);
	ck_assert_str_eq(peer.subject, "CN=server.test,O=picklewall tests");
	ck_assert_str_eq(peer.serial_hex, "1003");
	ck_assert_uint_eq(peer.n_sans, 3);
	ck_assert_str_eq(peer.sans[0], "DNS:server.test");
	ck_assert_str_eq(peer.sans[1], "DNS:localhost");
	ck_assert_str_eq(peer.sans[2], "IP:127.0.0.1");
	link_close(&l);
}
END_TEST

START_TEST(no_identity_before_the_handshake)
{
	struct link l;
	struct tls_peer peer;

	link_open(&l, server_ctx(&(struct tls_server_options){
	    .cert_chain_file = path("server.pem"),
	    .key_file = path("server.key") }), client_ctx(NULL), NULL);
	ck_assert_int_eq(tls_peer_identity(l.server.conn, &peer), 0);
	ck_assert(!peer.present);
	ck_assert_str_eq(peer.subject, "");
	ck_assert_str_eq(tls_cipher_name(l.server.conn), "(none)");
	link_close(&l);
}
END_TEST

/* ---- session tickets --------------------------------------------------- */

static int tickets_seen;

static int
count_ticket(SSL *ssl, SSL_SESSION *session)
{
	(void)ssl;
	(void)session;
	tickets_seen++;
	return 0;	/* we did not keep it */
}

/* How many session tickets a TLS 1.3 client gets from a server with
 * ${o}, once it has read the first byte of data after the handshake. */
static int
tickets_received(const struct tls_server_options *o)
{
	SSL_CTX *raw = raw_client_ctx(false);
	struct link l;
	char c = 0;
	size_t n = 0;
	struct pollfd p;
	int ret, i;

	SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_CLIENT);
	SSL_CTX_sess_set_new_cb(raw, count_ticket);
	tickets_seen = 0;
	link_open(&l, server_ctx(o), NULL, raw);
	handshake(&l.server, &l.client);
	ck_assert_int_eq(l.server.st, TLS_OK);
	write_all(&l.server, "x", 1);
	for (i = 0; i < 20; i++) {
		ret = SSL_read(l.client.raw, &c, 1);
		if (ret == 1)
			break;
		ck_assert_int_eq(SSL_get_error(l.client.raw, ret),
		    SSL_ERROR_WANT_READ);
		p = (struct pollfd){ l.client.fd, POLLIN, 0 };
		poll(&p, 1, 200);
	}
	ck_assert_int_eq(c, 'x');
	(void)n;
	link_close(&l);
	return tickets_seen;
}

START_TEST(no_tls13_session_tickets_by_default)
{
	struct tls_server_options o = server_options();

	ck_assert_int_eq(tickets_received(&o), 0);
}
END_TEST

START_TEST(configured_session_tickets_are_sent)
{
	struct tls_server_options o = server_options();

	o.session_tickets = 2;
	ck_assert_int_eq(tickets_received(&o), 2);
}
END_TEST

/*
 * The logging.handlers.SocketHandler pattern over real TCP: a TLS 1.3
 * client writes more than the server's receive window and closes without
 * ever reading.  With tickets, the unread ticket makes the client's kernel
 * answer close() with a reset that discards what was still unsent; with
 * none (the default), everything arrives.  Returns the bytes the server
 * read of ${total} written; *${clean_end} says if it then saw the end
 * rather than an error.
 */
static size_t
write_then_close(unsigned tickets, size_t total, bool *clean_end)
{
	struct tls_server_options o = server_options();
	struct tls_ctx *sctx, *cctx;
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	struct end server = { 0 }, client = { 0 };
	struct pw_error err;
	int lfd, small = 4096, big = 1 << 20, i;
	size_t off = 0, got = 0, n;
	static char buf[1 << 16];
	enum tls_status st;
	struct pollfd p;

	o.session_tickets = tickets;
	sctx = server_ctx(&o);
	cctx = client_ctx(NULL);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	/* Before listen, so that the accepted socket's window is small. */
	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	getsockname(lfd, (struct sockaddr *)&addr, &alen);
	client.fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(client.fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	ck_assert_int_eq(connect(client.fd, (struct sockaddr *)&addr,
	    sizeof(addr)), 0);
	server.fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(server.fd, 0);
	close(lfd);
	nonblocking(server.fd);
	nonblocking(client.fd);
	server.conn = tls_accept_new(sctx, server.fd, &err);
	client.conn = tls_connect_new(cctx, client.fd, &err);
	handshake(&server, &client);
	ck_assert_int_eq(server.st, TLS_OK);
	ck_assert_int_eq(client.st, TLS_OK);

	/* The client writes what its socket takes, then closes. */
	memset(buf, 'r', sizeof(buf));
	while (off < total) {
		st = tls_write(client.conn, buf, total - off < sizeof(buf) ?
		    total - off : sizeof(buf), &n, &err);
		off += n;
		if (st != TLS_OK)
			break;
	}
	ck_assert_uint_eq(off, total);
	tls_free(client.conn);
	close(client.fd);

	*clean_end = false;
	for (i = 0; i < 1000; i++) {
		st = tls_read(server.conn, buf, sizeof(buf), &n, &err);
		got += n;
		if (st == TLS_CLOSED) {
			*clean_end = true;
			break;
		}
		if (st == TLS_ERROR)
			break;
		if (st != TLS_OK) {
			p = (struct pollfd){ server.fd, POLLIN, 0 };
			if (poll(&p, 1, 500) <= 0)
				break;
		}
	}
	tls_free(server.conn);
	close(server.fd);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
	return got;
}

START_TEST(client_that_writes_and_closes_loses_nothing_without_tickets)
{
	bool clean_end;

	ck_assert_uint_eq(write_then_close(0, 256 * 1024, &clean_end),
	    256 * 1024);
	ck_assert(clean_end);
}
END_TEST

START_TEST(client_that_writes_and_closes_loses_data_with_tickets)
{
	bool clean_end;

	/* Pins why tickets are off by default; see tls.h. */
	ck_assert_uint_lt(write_then_close(2, 256 * 1024, &clean_end),
	    256 * 1024);
	ck_assert(!clean_end);
}
END_TEST

/* ---- backend verification ---------------------------------------------- */

/* Handshake with the test server as a backend client with ${o}. */
static void
backend_handshake(struct link *l, const struct tls_client_options *o)
{
	struct pw_error err = { 0 };
	struct tls_ctx *cctx = tls_client_ctx_new(o, &err);

	ck_assert_msg(cctx != NULL, "%s", err.message);
	link_open(l, server_ctx(&(struct tls_server_options){
	    .cert_chain_file = path("server.pem"),
	    .key_file = path("server.key") }), cctx, NULL);
	handshake(&l->server, &l->client);
}

START_TEST(backend_with_the_expected_name_is_verified)
{
	struct link l;

	backend_handshake(&l, &(struct tls_client_options){
	    .ca_file = path("root.pem"), .expected_name = "server.test",
	    .verify = true });
	ck_assert_msg(l.client.st == TLS_OK, "%s", l.client.err.message);
	link_close(&l);
}
END_TEST

START_TEST(backend_with_another_name_is_refused)
{
	struct link l;

	backend_handshake(&l, &(struct tls_client_options){
	    .ca_file = path("root.pem"), .expected_name = "wrong.test",
	    .verify = true });
	assert_failure(&l.client, TLS_FAIL_PEER_NAME_MISMATCH,
	    "server certificate refused: hostname mismatch (certificate at "
	    "depth 0, subject CN=server.test");
	link_close(&l);
}
END_TEST

START_TEST(backend_expected_by_ip_address_is_verified_against_ip_sans)
{
	struct link l;

	backend_handshake(&l, &(struct tls_client_options){
	    .ca_file = path("root.pem"), .expected_name = "127.0.0.1",
	    .verify = true });
	ck_assert_msg(l.client.st == TLS_OK, "%s", l.client.err.message);
	link_close(&l);
	backend_handshake(&l, &(struct tls_client_options){
	    .ca_file = path("root.pem"), .expected_name = "127.0.0.2",
	    .verify = true });
	assert_failure(&l.client, TLS_FAIL_PEER_NAME_MISMATCH,
	    "IP address mismatch");
	link_close(&l);
}
END_TEST

START_TEST(backend_from_an_untrusted_ca_is_refused)
{
	struct link l;

	backend_handshake(&l, &(struct tls_client_options){
	    .ca_file = path("foreign-root.pem"), .expected_name = "server.test",
	    .verify = true });
	assert_failure(&l.client, TLS_FAIL_PEER_CERT_UNTRUSTED, NULL);
	link_close(&l);
}
END_TEST

START_TEST(backend_is_accepted_unverified_when_verify_is_off)
{
	struct link l;

	backend_handshake(&l, &(struct tls_client_options){
	    .ca_file = path("foreign-root.pem"), .expected_name = "wrong.test",
	    .verify = false });
	ck_assert_msg(l.client.st == TLS_OK, "%s", l.client.err.message);
	link_close(&l);
}
END_TEST

/* ---- data -------------------------------------------------------------- */

/* An established pair with small socket buffers, so writes are partial. */
static void
small_buffer_link(struct link *l)
{
	int small = 4096, i;

	link_open(l, server_ctx(&(struct tls_server_options){
	    .cert_chain_file = path("server.pem"),
	    .key_file = path("server.key") }), client_ctx(NULL), NULL);
	for (i = 0; i < 2; i++) {
		setsockopt(i == 0 ? l->server.fd : l->client.fd, SOL_SOCKET,
		    SO_SNDBUF, &small, sizeof(small));
	}
	handshake(&l->server, &l->client);
	ck_assert_int_eq(l->server.st, TLS_OK);
	ck_assert_int_eq(l->client.st, TLS_OK);
}

struct flow {
	struct end *from, *to;
	const unsigned char *data;
	unsigned char *received;
	size_t len, sent, got;
	enum tls_status wst, rst;
	bool partial, blocked;
};

/* One step of ${f}: write what the sender can, read what arrived. */
static void
flow_step(struct flow *f)
{
	size_t n;

	if (f->sent < f->len) {
		f->wst = tls_write(f->from->conn, f->data + f->sent,
		    f->len - f->sent, &n, &f->from->err);
		ck_assert_msg(f->wst != TLS_ERROR, "%s", f->from->err.message);
		if (f->wst == TLS_OK && n < f->len - f->sent)
			f->partial = true;
		if (f->wst == TLS_WANT_WRITE)
			f->blocked = true;
		f->sent += n;
	}
	do {
		f->rst = tls_read(f->to->conn, f->received + f->got,
		    f->len - f->got < 5000 ? f->len - f->got : 5000, &n,
		    &f->to->err);
		ck_assert_msg(f->rst != TLS_ERROR && f->rst != TLS_CLOSED, "%s",
		    f->to->err.message);
		f->got += n;
	} while (f->rst == TLS_OK && f->got < f->len);
}

START_TEST(data_crosses_both_ways_intact_through_partial_writes)
{
	enum { LEN = 1 << 20 };
	unsigned char *a = malloc(LEN), *b = malloc(LEN);
	unsigned char *ra = malloc(LEN), *rb = malloc(LEN);
	struct flow up, down;
	struct link l;
	size_t i;
	int rounds;

	for (i = 0; i < LEN; i++) {
		a[i] = (unsigned char)(i * 7 + 3);
		b[i] = (unsigned char)(i * 13 + 5);
	}
	small_buffer_link(&l);
	up = (struct flow){ &l.client, &l.server, a, ra, LEN, 0, 0,
	    TLS_OK, TLS_OK, false, false };
	down = (struct flow){ &l.server, &l.client, b, rb, LEN, 0, 0,
	    TLS_OK, TLS_OK, false, false };
	for (rounds = 0; rounds < 100000; rounds++) {
		flow_step(&up);
		flow_step(&down);
		if (up.got == LEN && down.got == LEN)
			break;
	}
	ck_assert_uint_eq(up.got, LEN);
	ck_assert_uint_eq(down.got, LEN);
	ck_assert_int_eq(memcmp(a, ra, LEN), 0);
	ck_assert_int_eq(memcmp(b, rb, LEN), 0);
	ck_assert(up.partial || up.blocked);
	ck_assert(up.blocked && down.blocked);
	link_close(&l);
	free(a);
	free(b);
	free(ra);
	free(rb);
}
END_TEST

START_TEST(write_of_nothing_is_ok_at_once)
{
	struct link l;
	size_t n = 99;

	small_buffer_link(&l);
	ck_assert_int_eq(tls_write(l.client.conn, "", 0, &n, &l.client.err),
	    TLS_OK);
	ck_assert_uint_eq(n, 0);
	link_close(&l);
}
END_TEST

START_TEST(read_with_nothing_sent_wants_read)
{
	struct link l;
	char buf[8];
	size_t n = 99;

	small_buffer_link(&l);
	ck_assert_int_eq(tls_read(l.server.conn, buf, sizeof(buf), &n,
	    &l.server.err), TLS_WANT_READ);
	ck_assert_uint_eq(n, 0);
	ck_assert(!tls_has_pending(l.server.conn));
	link_close(&l);
}
END_TEST

START_TEST(decrypted_data_left_behind_is_pending)
{
	struct link l;
	char buf[8];
	size_t n;

	small_buffer_link(&l);
	write_all(&l.client, "0123456789", 10);
	ck_assert_int_eq(read_some(&l.server, buf, 4, &n), TLS_OK);
	ck_assert(tls_has_pending(l.server.conn));
	ck_assert_int_eq(tls_read(l.server.conn, buf, sizeof(buf), &n,
	    &l.server.err), TLS_OK);
	ck_assert_uint_eq(n, 6);
	ck_assert_int_eq(memcmp(buf, "456789", 6), 0);
	link_close(&l);
}
END_TEST

START_TEST(close_notify_reads_as_closed_and_the_other_way_stays_open)
{
	struct link l;
	char buf[8];
	size_t n;

	small_buffer_link(&l);
	write_all(&l.client, "last", 4);
	ck_assert_int_eq(tls_shutdown(l.client.conn), TLS_OK);
	ck_assert_int_eq(read_some(&l.server, buf, 4, &n), TLS_OK);
	ck_assert_int_eq(memcmp(buf, "last", 4), 0);
	ck_assert_int_eq(read_some(&l.server, buf, 1, &n), TLS_CLOSED);
	ck_assert(tls_closed_cleanly(l.server.conn));
	ck_assert_int_eq(tls_failure(l.server.conn), TLS_FAIL_NONE);
	/* A half-close: the server still answers, then closes too. */
	write_all(&l.server, "bye", 3);
	ck_assert_int_eq(tls_shutdown(l.server.conn), TLS_OK);
	ck_assert_int_eq(read_some(&l.client, buf, 3, &n), TLS_OK);
	ck_assert_int_eq(memcmp(buf, "bye", 3), 0);
	ck_assert_int_eq(read_some(&l.client, buf, 1, &n), TLS_CLOSED);
	ck_assert(tls_closed_cleanly(l.client.conn));
	link_close(&l);
}
END_TEST

START_TEST(transport_end_without_close_notify_reads_as_unclean_close)
{
	struct link l;
	char buf[8];
	size_t n;

	small_buffer_link(&l);
	write_all(&l.client, "cut", 3);
	shutdown(l.client.fd, SHUT_WR);
	ck_assert_int_eq(read_some(&l.server, buf, 3, &n), TLS_OK);
	ck_assert_int_eq(read_some(&l.server, buf, 1, &n), TLS_CLOSED);
	ck_assert(!tls_closed_cleanly(l.server.conn));
	/* Nothing more can be said on that connection. */
	ck_assert_int_eq(tls_shutdown(l.server.conn), TLS_ERROR);
	link_close(&l);
}
END_TEST

START_TEST(peer_vanishing_mid_handshake_is_peer_closed)
{
	struct link l;

	link_open(&l, server_ctx(&(struct tls_server_options){
	    .cert_chain_file = path("server.pem"),
	    .key_file = path("server.key") }), client_ctx(NULL), NULL);
	l.client.st = tls_handshake(l.client.conn, &l.client.err);
	ck_assert_int_eq(l.client.st, TLS_WANT_READ);
	shutdown(l.client.fd, SHUT_RDWR);
	do
		l.server.st = tls_handshake(l.server.conn, &l.server.err);
	while (l.server.st == TLS_WANT_WRITE);
	/* The ClientHello arrived, then the end: the server's reply may
	 * fail first (EPIPE), or its next read (EOF). */
	if (l.server.st == TLS_WANT_READ)
		l.server.st = tls_handshake(l.server.conn, &l.server.err);
	ck_assert_int_eq(l.server.st, TLS_ERROR);
	ck_assert(tls_failure(l.server.conn) == TLS_FAIL_PEER_CLOSED ||
	    tls_failure(l.server.conn) == TLS_FAIL_IO);
	link_close(&l);
}
END_TEST

START_TEST(garbage_instead_of_a_client_hello_fails_the_handshake)
{
	struct link l;

	link_open(&l, server_ctx(&(struct tls_server_options){
	    .cert_chain_file = path("server.pem"),
	    .key_file = path("server.key") }), client_ctx(NULL), NULL);
	ck_assert_int_eq(write(l.client.fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	l.server.st = tls_handshake(l.server.conn, &l.server.err);
	assert_failure(&l.server, TLS_FAIL_HANDSHAKE, "TLS handshake: ");
	/* Asking again repeats the failure. */
	ck_assert_int_eq(tls_handshake(l.server.conn, &l.server.err),
	    TLS_ERROR);
	link_close(&l);
}
END_TEST

/*
 * A TLS 1.2 client asks to renegotiate: the server refuses with a warning
 * alert, its read simply waits for more data, and the client gives up.
 */
START_TEST(tls12_renegotiation_is_refused)
{
	struct tls_server_options o = server_options();
	struct link l;
	char buf[8];
	size_t n;
	int ret;

	link_open(&l, server_ctx(&o), NULL, raw_client_ctx(true));
	handshake(&l.server, &l.client);
	ck_assert_int_eq(l.server.st, TLS_OK);
	ck_assert_int_eq(SSL_renegotiate(l.client.raw), 1);
	ERR_clear_error();
	ck_assert_int_eq(raw_status(l.client.raw,
	    SSL_do_handshake(l.client.raw)), TLS_WANT_READ);
	ck_assert_int_eq(tls_read(l.server.conn, buf, sizeof(buf), &n,
	    &l.server.err), TLS_WANT_READ);
	ERR_clear_error();
	ret = SSL_do_handshake(l.client.raw);
	ck_assert_int_eq(SSL_get_error(l.client.raw, ret), SSL_ERROR_SSL);
	ck_assert_int_eq(ERR_GET_REASON(ERR_peek_error()),
	    SSL_R_NO_RENEGOTIATION);
	ERR_clear_error();
	link_close(&l);
}
END_TEST

START_TEST(connection_outlives_the_context_it_was_made_from)
{
	struct tls_ctx *sctx = server_ctx(&(struct tls_server_options){
	    .cert_chain_file = path("server.pem"),
	    .key_file = path("server.key") });
	struct link l;
	char buf[4];
	size_t n;

	link_open(&l, sctx, client_ctx(NULL), NULL);
	tls_ctx_free(sctx);	/* a reload dropped it */
	l.sctx = NULL;
	handshake(&l.server, &l.client);
	ck_assert_int_eq(l.server.st, TLS_OK);
	write_all(&l.client, "ping", 4);
	ck_assert_int_eq(read_some(&l.server, buf, 4, &n), TLS_OK);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
	link_close(&l);
}
END_TEST

START_TEST(client_context_cannot_accept)
{
	struct tls_ctx *cctx = client_ctx(NULL);
	struct pw_error err = { 0 };

	ck_assert_ptr_null(tls_accept_new(cctx, 0, &err));
	ck_assert_int_eq(err.code, PW_INTERNAL);
	tls_ctx_free(cctx);
}
END_TEST

/* ---- memory ------------------------------------------------------------ */

/* Drive the handshakes of ${conns} over ${fds} until all are done. */
static void
handshake_all(struct tls_conn **conns, const int *fds, size_t n)
{
	enum tls_status st[128];
	struct pollfd p[128];
	struct pw_error err;
	size_t i, left = n;
	nfds_t np;
	int rounds;

	ck_assert_uint_le(n, 128);
	for (i = 0; i < n; i++)
		st[i] = TLS_WANT_READ;
	for (rounds = 0; left > 0 && rounds < 100; rounds++) {
		np = 0;
		for (i = 0; i < n; i++) {
			if (finished(st[i]))
				continue;
			st[i] = tls_handshake(conns[i], &err);
			ck_assert_msg(st[i] != TLS_ERROR, "%s", err.message);
			if (st[i] == TLS_OK)
				left--;
			else
				p[np++] = (struct pollfd){ fds[i],
				    st[i] == TLS_WANT_WRITE ? POLLOUT : POLLIN, 0 };
		}
		if (left > 0)
			poll(p, np, 200);
	}
	ck_assert_uint_eq(left, 0);
}

/* The heap the allocator reports in use, or 0 if it does not report
 * (sanitizers replace malloc). */
static size_t
heap_in_use(void)
{
	return mallinfo2().uordblks;
}

/*
 * Issue 5's target is HAProxy's idle memory per TLS connection (about
 * 18 kB, everything included); the TLS part of ours must leave room for
 * the rest.  The clients run in a child, so only the server side counts.
 */
START_TEST(idle_server_connection_holds_under_16_kib_of_heap)
{
	enum { N = 100 };
	struct tls_ctx *sctx = server_ctx(&(struct tls_server_options){
	    .cert_chain_file = path("server.pem"),
	    .key_file = path("server.key") });
	struct tls_conn *conns[N];
	int sfd[N], cfd[N], fds[2], done[2];
	struct pw_error err;
	size_t before, after, i, n;
	void *probe;
	char c;
	pid_t pid;

	probe = malloc(1 << 20);
	before = heap_in_use();
	free(probe);
	if (before == 0) {
		tls_ctx_free(sctx);
		return;	/* the allocator does not say; nothing to measure */
	}
	for (i = 0; i < N; i++) {
		pair(fds);
		sfd[i] = fds[0];
		cfd[i] = fds[1];
	}
	ck_assert_int_eq(pipe(done), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct tls_ctx *cctx = client_ctx(NULL);

		for (i = 0; i < N; i++) {
			close(sfd[i]);
			conns[i] = tls_connect_new(cctx, cfd[i], &err);
		}
		handshake_all(conns, cfd, N);
		close(done[1]);
		if (read(done[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(done[0]);
	for (i = 0; i < N; i++)
		close(cfd[i]);
	before = heap_in_use();
	for (i = 0; i < N; i++)
		conns[i] = tls_accept_new(sctx, sfd[i], &err);
	handshake_all(conns, sfd, N);
	/* What an event loop does next: read, find nothing, wait. */
	for (i = 0; i < N; i++)
		ck_assert_int_eq(tls_read(conns[i], &c, 1, &n, &err),
		    TLS_WANT_READ);
	after = heap_in_use();
	ck_assert_msg((after - before) / N < 16 * 1024,
	    "%zu bytes of heap per idle connection", (after - before) / N);
	close(done[1]);
	waitpid(pid, NULL, 0);
	for (i = 0; i < N; i++) {
		tls_free(conns[i]);
		close(sfd[i]);
	}
	tls_ctx_free(sctx);
}
END_TEST

/* ---- names ------------------------------------------------------------- */

START_TEST(names_parse_and_print)
{
	enum tls_client_auth auth;
	int v;

	ck_assert_int_eq(tls_version_parse("1.2", &v), 0);
	ck_assert_int_eq(v, TLS_VERSION_1_2);
	ck_assert_int_eq(tls_version_parse("TLSv1.3", &v), 0);
	ck_assert_int_eq(v, TLS_VERSION_1_3);
	ck_assert_int_eq(tls_version_parse("1.1", &v), -1);
	ck_assert_int_eq(tls_client_auth_parse("required", &auth), 0);
	ck_assert_int_eq(auth, TLS_CLIENT_REQUIRED);
	ck_assert_int_eq(tls_client_auth_parse("yes", &auth), -1);
	ck_assert_str_eq(tls_failure_name(TLS_FAIL_PEER_NOT_ALLOWED),
	    "peer_not_allowed");
	ck_assert_str_eq(tls_failure_name(TLS_FAIL_PEER_CERT_REVOKED),
	    "peer_certificate_revoked");
	ck_assert_str_eq(tls_failure_name((enum tls_failure)99),
	    "internal_error");
	ck_assert_str_starts(tls_library_version(), "OpenSSL 3.");
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *config = tcase_create("config");
	TCase *hs = tcase_create("handshake");
	TCase *id = tcase_create("identity");
	TCase *io = tcase_create("io");

	tcase_add_unchecked_fixture(config, pki_setup, pki_teardown);
	tcase_add_test(config, server_context_from_a_good_chain_and_key_is_built);
	tcase_add_test(config, unreadable_certificate_file_is_named_with_the_reason);
	tcase_add_test(config, unreadable_key_file_is_named_with_the_reason);
	tcase_add_test(config, directory_as_certificate_file_is_refused);
	tcase_add_test(config, file_without_pem_certificate_is_refused);
	tcase_add_test(config, key_that_does_not_match_the_certificate_is_refused);
	tcase_add_test(config, encrypted_key_is_refused_without_prompting);
	tcase_add_test(config,
	    chain_with_a_ca_that_did_not_issue_the_certificate_is_refused);
	tcase_add_test(config, expired_server_certificate_is_refused);
	tcase_add_test(config,
	    certificate_for_clients_only_is_refused_for_a_server);
	tcase_add_test(config,
	    unknown_cipher_name_is_refused_even_among_known_ones);
	tcase_add_test(config, unknown_ciphersuite_is_refused);
	tcase_add_test(config, unknown_group_is_refused);
	tcase_add_test(config, tls13_minimum_without_suites_leaves_no_cipher);
	tcase_add_test(config, unsupported_min_version_is_refused);
	tcase_add_test(config, too_many_session_tickets_are_refused);
	tcase_add_test(config, required_client_auth_without_ca_file_is_refused);
	tcase_add_test(config, client_settings_without_client_auth_are_refused);
	tcase_add_test(config, allow_list_with_optional_client_auth_is_refused);
	tcase_add_test(config, allow_list_entry_of_unknown_kind_is_refused);
	tcase_add_test(config, crl_file_without_crl_is_refused);
	tcase_add_test(config, expired_crl_is_refused);
	tcase_add_test(config, crl_not_signed_by_its_named_ca_is_refused);
	tcase_add_test(config,
	    crl_file_without_a_crl_from_a_trusted_ca_is_refused);
	tcase_add_test(config, verifying_backend_needs_an_expected_name);
	tcase_add_test(config, backend_client_certificate_needs_its_key);
	tcase_add_test(config, names_parse_and_print);
	suite_add_tcase(s, config);

	tcase_add_unchecked_fixture(hs, pki_setup, pki_teardown);
	tcase_add_test(hs, default_handshake_is_tls13);
	tcase_add_test(hs, tls12_client_is_accepted_by_default);
	tcase_add_test(hs, tls13_minimum_refuses_a_tls12_client);
	tcase_add_test(hs, configured_cipher_is_negotiated_with_tls12);
	tcase_add_test(hs,
	    required_client_auth_refuses_a_client_without_certificate);
	tcase_add_test(hs,
	    required_client_auth_refuses_a_tls12_client_without_certificate);
	tcase_add_test(hs,
	    optional_client_auth_accepts_a_client_without_certificate);
	tcase_add_test(hs,
	    optional_client_auth_still_refuses_an_untrusted_certificate);
	tcase_add_test(hs, client_from_another_ca_is_refused);
	tcase_add_test(hs, revoked_client_is_refused);
	tcase_add_test(hs, client_is_refused_when_its_ca_has_no_crl_in_the_file);
	tcase_add_test(hs, client_with_a_good_certificate_and_crl_is_accepted);
	tcase_add_test(hs, cn_outside_the_allow_list_is_refused);
	tcase_add_test(hs, refused_client_learns_it_from_an_alert);
	tcase_add_test(hs, cn_in_the_allow_list_is_accepted);
	tcase_add_test(hs, uri_san_in_the_allow_list_is_accepted);
	tcase_add_test(hs, dns_san_in_the_allow_list_matches_without_case);
	tcase_add_test(hs, allow_list_value_must_match_whole);
	tcase_add_test(hs,
	    tls12_client_outside_the_allow_list_is_refused_in_the_handshake);
	tcase_add_test(hs, no_tls13_session_tickets_by_default);
	tcase_add_test(hs, configured_session_tickets_are_sent);
	tcase_add_test(hs,
	    client_that_writes_and_closes_loses_nothing_without_tickets);
	tcase_add_test(hs, client_that_writes_and_closes_loses_data_with_tickets);
	tcase_add_test(hs, backend_with_the_expected_name_is_verified);
	tcase_add_test(hs, backend_with_another_name_is_refused);
	tcase_add_test(hs,
	    backend_expected_by_ip_address_is_verified_against_ip_sans);
	tcase_add_test(hs, backend_from_an_untrusted_ca_is_refused);
	tcase_add_test(hs, backend_is_accepted_unverified_when_verify_is_off);
	tcase_add_test(hs, peer_vanishing_mid_handshake_is_peer_closed);
	tcase_add_test(hs, garbage_instead_of_a_client_hello_fails_the_handshake);
	tcase_add_test(hs, client_context_cannot_accept);
	tcase_set_timeout(hs, 30);
	suite_add_tcase(s, hs);

	tcase_add_unchecked_fixture(id, pki_setup, pki_teardown);
	tcase_add_test(id, client_identity_has_subject_serial_fingerprint_and_sans);
	tcase_add_test(id,
	    server_identity_seen_by_the_backend_client_includes_ip_sans);
	tcase_add_test(id, no_identity_before_the_handshake);
	suite_add_tcase(s, id);

	tcase_add_unchecked_fixture(io, pki_setup, pki_teardown);
	tcase_add_test(io, data_crosses_both_ways_intact_through_partial_writes);
	tcase_add_test(io, write_of_nothing_is_ok_at_once);
	tcase_add_test(io, read_with_nothing_sent_wants_read);
	tcase_add_test(io, decrypted_data_left_behind_is_pending);
	tcase_add_test(io,
	    close_notify_reads_as_closed_and_the_other_way_stays_open);
	tcase_add_test(io,
	    transport_end_without_close_notify_reads_as_unclean_close);
	tcase_add_test(io, tls12_renegotiation_is_refused);
	tcase_add_test(io, connection_outlives_the_context_it_was_made_from);
	tcase_add_test(io, idle_server_connection_holds_under_16_kib_of_heap);
	tcase_set_timeout(io, 30);
	suite_add_tcase(s, io);
	return s;
}

UNIT_SUITE(tls_suite)
