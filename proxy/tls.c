/*
 * tls: OpenSSL contexts, handshakes, peer identity and non-blocking I/O.
 *
 * Files are read here with our own open and PEM loops rather than
 * OpenSSL's *_file() helpers, so that every error names the file and says
 * what is wrong with it in words (`picklewall -t` prints these verbatim).
 *
 * The allow-list is checked in the certificate verification callback, on
 * the leaf once OpenSSL has verified the chain and CRLs: a refused client
 * then gets a handshake alert instead of a connection that succeeds and is
 * closed under it.  A resumed session has no verification, so the same
 * check runs again after such a handshake.
 *
 * Idle memory per connection matters (thousands of idle logging clients):
 * OpenSSL's buffers are released between records (SSL_MODE_RELEASE_BUFFERS),
 * there is no session cache, and struct tls_conn stays small: details of a
 * refusal are allocated only when there is one.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"

_Static_assert(TLS_VERSION_1_2 == TLS1_2_VERSION, "TLS 1.2 wire value");
_Static_assert(TLS_VERSION_1_3 == TLS1_3_VERSION, "TLS 1.3 wire value");

/* More tickets than this per handshake only costs the server CPU. */
#define MAX_SESSION_TICKETS 16

/* RFC 6066: a HostName in server_name is at most 2^8 - 1 bytes. */
#define MAX_SNI_BYTES 255

/* Tickets and sessions from one listener are useless to another. */
static const unsigned char session_id_context[] = "picklewall";

enum allow_kind {
	ALLOW_CN,
	ALLOW_DNS,
	ALLOW_URI,
};

struct allow_entry {
	enum allow_kind kind;
	char *value;
	size_t len;
};

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	unsigned refs;		/* the creator's, plus one per connection */
	bool server;
	struct allow_entry *allow;
	size_t n_allow;
	char *sni;		/* client contexts: NULL for none */
};

struct tls_conn {
	SSL *ssl;
	struct tls_ctx *ctx;
	enum tls_failure failure;
	bool established;	/* the handshake and allow-list passed */
	bool dead;		/* OpenSSL forbids any further I/O */
	bool closed_cleanly;
	bool not_allowed;	/* set by the verify callback */
	char *refusal;		/* why the peer's certificate was refused */
};

static const char *const failure_names[] = {
	[TLS_FAIL_NONE] = "none",
	[TLS_FAIL_HANDSHAKE] = "handshake_failed",
	[TLS_FAIL_PEER_CERT_MISSING] = "peer_certificate_missing",
	[TLS_FAIL_PEER_CERT_UNTRUSTED] = "peer_certificate_untrusted",
	[TLS_FAIL_PEER_CERT_REVOKED] = "peer_certificate_revoked",
	[TLS_FAIL_PEER_NAME_MISMATCH] = "peer_name_mismatch",
	[TLS_FAIL_PEER_NOT_ALLOWED] = "peer_not_allowed",
	[TLS_FAIL_PEER_CLOSED] = "peer_closed",
	[TLS_FAIL_PROTOCOL] = "protocol_error",
	[TLS_FAIL_IO] = "io_error",
	[TLS_FAIL_INTERNAL] = "internal_error",
};

/* ---- errors ----------------------------------------------------------- */

/*
 * The reason of the oldest error OpenSSL queued (the root cause; later
 * entries only say which caller gave up), then an empty queue, so that the
 * next SSL_get_error() is not misled by stale entries.  Static storage:
 * each process is single-threaded, and every caller copies it at once.
 */
static const char *
ossl_reason(void)
{
	static char buf[128];
	unsigned long e = ERR_get_error();
	const char *r;

	if (e == 0)
		snprintf(buf, sizeof(buf), "unknown error");
	else if (ERR_GET_LIB(e) == ERR_LIB_SYS)
		snprintf(buf, sizeof(buf), "%s", strerror(ERR_GET_REASON(e)));
	else if ((r = ERR_reason_error_string(e)) != NULL)
		snprintf(buf, sizeof(buf), "%s", r);
	else
		snprintf(buf, sizeof(buf), "OpenSSL error %lx", e);
	ERR_clear_error();
	return buf;
}

/* ---- small helpers ---------------------------------------------------- */

/* Copy ${src} (${len} bytes) into ${dst}, cutting it to fit; true if cut. */
static bool
copy_cut(char *dst, size_t size, const char *src, size_t len)
{
	bool cut = len >= size;

	if (cut)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return cut;
}

/*
 * ${name} in RFC 2253 form, control and non-ASCII bytes escaped, so that a
 * subject is one unambiguous line in a log.  Returns true if cut to fit.
 */
static bool
name_line(const X509_NAME *name, char *buf, size_t size)
{
	BIO *bio;
	char *data;
	long len;
	bool cut;

	buf[0] = '\0';
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return true;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) {
		BIO_free(bio);
		ERR_clear_error();
		return true;
	}
	len = BIO_get_mem_data(bio, &data);
	cut = copy_cut(buf, size, data, len > 0 ? (size_t)len : 0);
	BIO_free(bio);
	return cut;
}

/* "2026-01-27 10:00:00 UTC", for messages about validity dates. */
static void
time_line(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "(unreadable date)");
}

static bool
is_ip_literal(const char *s)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, s, addr) == 1 ||
	    inet_pton(AF_INET6, s, addr) == 1;
}

/* Keys must never make OpenSSL prompt on a terminal for a passphrase. */
static int
no_password(char *buf, int size, int rwflag, void *cookie)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)cookie;
	return -1;
}

/* ---- files ------------------------------------------------------------ */

/*
 * open_file(what, path, err):
 * A read BIO on the regular file ${path}, or NULL with *${err} naming the
 * ${what} and the system's reason.
 */
static BIO *
open_file(const char *what, const char *path, struct pw_error *err)
{
	struct stat st;
	FILE *f;
	BIO *bio;

	if ((f = fopen(path, "r")) == NULL) {
		pw_error_set(err, PW_CONFIG, 0, "%s %s: %s", what, path,
		    strerror(errno));
		goto err0;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		pw_error_set(err, PW_CONFIG, 0, "%s %s: not a regular file",
		    what, path);
		goto err1;
	}
	if ((bio = BIO_new_fp(f, BIO_CLOSE)) == NULL) {
		pw_error_set(err, PW_INTERNAL, 0, "%s %s: out of memory",
		    what, path);
		goto err1;
	}
	return bio;

err1:
	fclose(f);
err0:
	return NULL;
}

/*
 * After a PEM read loop stopped: true if it stopped because the file has
 * no further block of the kind (the normal end), false on a parse error.
 */
static bool
pem_ended_cleanly(void)
{
	unsigned long e = ERR_peek_last_error();

	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		return true;
	}
	return false;
}

/*
 * load_certs(what, path, err):
 * Every certificate of the PEM file ${path}, in file order (at least one),
 * or NULL with *${err} set.
 */
static STACK_OF(X509) *
load_certs(const char *what, const char *path, struct pw_error *err)
{
	STACK_OF(X509) *certs;
	X509 *x;
	BIO *bio;

	ERR_clear_error();
	if ((bio = open_file(what, path, err)) == NULL)
		goto err0;
	if ((certs = sk_X509_new_null()) == NULL)
		goto oom;
	while ((x = PEM_read_bio_X509(bio, NULL, no_password, NULL)) != NULL) {
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			goto oom;
		}
	}
	if (!pem_ended_cleanly()) {
		pw_error_set(err, PW_CONFIG, 0,
		    "%s %s: certificate %d does not parse: %s", what, path,
		    sk_X509_num(certs) + 1, ossl_reason());
		goto err2;
	}
	if (sk_X509_num(certs) == 0) {
		pw_error_set(err, PW_CONFIG, 0,
		    "%s %s: no PEM certificate in the file", what, path);
		goto err2;
	}
	BIO_free(bio);
	return certs;

oom:
	pw_error_set(err, PW_INTERNAL, 0, "%s %s: out of memory", what, path);
err2:
	sk_X509_pop_free(certs, X509_free);
	BIO_free(bio);
err0:
	return NULL;
}

/*
 * load_key(path, err):
 * The first private key of the unencrypted PEM file ${path}, or NULL with
 * *${err} set.
 */
static EVP_PKEY *
load_key(const char *path, struct pw_error *err)
{
	EVP_PKEY *key;
	BIO *bio;
	unsigned long e;

	ERR_clear_error();
	if ((bio = open_file("key file", path, err)) == NULL)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	BIO_free(bio);
	if (key != NULL) {
		ERR_clear_error();
		return key;
	}
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		pw_error_set(err, PW_CONFIG, 0,
		    "key file %s: no PEM private key in the file", path);
	} else if (ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ ||
	    ERR_GET_REASON(e) == PEM_R_PROBLEMS_GETTING_PASSWORD) {
		ERR_clear_error();
		pw_error_set(err, PW_CONFIG, 0,
		    "key file %s: the key is encrypted; picklewall needs it "
		    "unencrypted (protect it with file permissions)", path);
	} else {
		pw_error_set(err, PW_CONFIG, 0,
		    "key file %s: the private key does not parse: %s", path,
		    ossl_reason());
	}
	return NULL;
}

/*
 * check_dates(what, path, i, x, err):
 * 0 if ${x}, certificate ${i} (from 1) of ${path}, is valid now; else -1
 * with *${err} saying since or until when.
 */
static int
check_dates(const char *what, const char *path, int i, X509 *x,
    struct pw_error *err)
{
	char subject[96], when[40];

	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
		name_line(X509_get_subject_name(x), subject, sizeof(subject));
		time_line(X509_get0_notAfter(x), when, sizeof(when));
		return pw_error_set(err, PW_CONFIG, 0,
		    "%s %s: certificate %d (%s) expired on %s", what, path, i,
		    subject, when);
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		name_line(X509_get_subject_name(x), subject, sizeof(subject));
		time_line(X509_get0_notBefore(x), when, sizeof(when));
		return pw_error_set(err, PW_CONFIG, 0,
		    "%s %s: certificate %d (%s) is not valid before %s", what,
		    path, i, subject, when);
	}
	return 0;
}

/*
 * check_chain(path, certs, purpose, err):
 * 0 if ${certs} (read from ${path}) is a chain a peer can verify: each
 * certificate issued and signed by the next, all within their dates, the
 * first fit for ${purpose} (X509_PURPOSE_SSL_SERVER / _CLIENT).  Else -1
 * with *${err} set.  Whether the last one is issued by a CA the peers
 * trust cannot be known here.
 */
static int
check_chain(const char *path, STACK_OF(X509) *certs, int purpose,
    struct pw_error *err)
{
	static const char what[] = "certificate chain";
	char s1[80], s2[80];
	X509 *x, *issuer;
	int i, n = sk_X509_num(certs);

	for (i = 0; i < n; i++) {
		x = sk_X509_value(certs, i);
		if (check_dates(what, path, i + 1, x, err) != 0)
			return -1;
		if (i + 1 == n)
			break;
		issuer = sk_X509_value(certs, i + 1);
		if (X509_check_issued(issuer, x) != X509_V_OK ||
		    X509_verify(x, X509_get0_pubkey(issuer)) != 1) {
			ERR_clear_error();
			name_line(X509_get_subject_name(x), s1, sizeof(s1));
			name_line(X509_get_subject_name(issuer), s2, sizeof(s2));
			return pw_error_set(err, PW_CONFIG, 0,
			    "%s %s: certificate %d (%s) is not issued by "
			    "certificate %d (%s); give the chain in order, the "
			    "end-entity first, with every intermediate", what,
			    path, i + 1, s1, i + 2, s2);
		}
	}
	if (X509_check_purpose(sk_X509_value(certs, 0), purpose, 0) != 1) {
		ERR_clear_error();
		return pw_error_set(err, PW_CONFIG, 0,
		    "%s %s: the certificate is not for TLS %s use (its key "
		    "usage or extended key usage says otherwise)", what, path,
		    purpose == X509_PURPOSE_SSL_SERVER ? "server" : "client");
	}
	return 0;
}

/*
 * use_chain_and_key(ssl_ctx, chain_file, key_file, purpose, err):
 * Load, check and install the certificate chain and key of ${ssl_ctx}.
 */
static int
use_chain_and_key(SSL_CTX *ssl_ctx, const char *chain_file,
    const char *key_file, int purpose, struct pw_error *err)
{
	STACK_OF(X509) *certs;
	EVP_PKEY *key;
	X509 *leaf;
	int i;

	if ((certs = load_certs("certificate chain", chain_file, err)) == NULL)
		goto err0;
	if (check_chain(chain_file, certs, purpose, err) != 0)
		goto err1;
	if ((key = load_key(key_file, err)) == NULL)
		goto err1;
	leaf = sk_X509_value(certs, 0);
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		pw_error_set(err, PW_CONFIG, 0,
		    "key file %s does not match the certificate in %s",
		    key_file, chain_file);
		goto err2;
	}
	ERR_clear_error();
	if (SSL_CTX_use_certificate(ssl_ctx, leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ssl_ctx, key) != 1) {
		pw_error_set(err, PW_CONFIG, 0, "certificate chain %s: %s",
		    chain_file, ossl_reason());
		goto err2;
	}
	for (i = 1; i < sk_X509_num(certs); i++) {
		if (SSL_CTX_add1_chain_cert(ssl_ctx,
		    sk_X509_value(certs, i)) != 1) {
			pw_error_set(err, PW_CONFIG, 0,
			    "certificate chain %s: certificate %d: %s",
			    chain_file, i + 1, ossl_reason());
			goto err2;
		}
	}
	/* Belt and braces: what OpenSSL will actually use, checked by it. */
	if (SSL_CTX_check_private_key(ssl_ctx) != 1) {
		pw_error_set(err, PW_CONFIG, 0,
		    "key file %s does not match the certificate in %s: %s",
		    key_file, chain_file, ossl_reason());
		goto err2;
	}
	EVP_PKEY_free(key);
	sk_X509_pop_free(certs, X509_free);
	return 0;

err2:
	EVP_PKEY_free(key);
err1:
	sk_X509_pop_free(certs, X509_free);
err0:
	return -1;
}

/*
 * load_trust(ssl_ctx, path, advertise, cas, err):
 * Trust the certificates of ${path} for verifying peers of ${ssl_ctx};
 * with ${advertise}, also name them in CertificateRequest so that clients
 * pick a certificate these CAs issued.  If ${cas} is not NULL it receives
 * the certificates (the caller frees them).
 */
static int
load_trust(SSL_CTX *ssl_ctx, const char *path, bool advertise,
    STACK_OF(X509) **cas, struct pw_error *err)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);
	STACK_OF(X509) *certs;
	X509 *x;
	int i;

	if ((certs = load_certs("CA file", path, err)) == NULL)
		return -1;
	for (i = 0; i < sk_X509_num(certs); i++) {
		x = sk_X509_value(certs, i);
		if (X509_STORE_add_cert(store, x) != 1 ||
		    (advertise && SSL_CTX_add_client_CA(ssl_ctx, x) != 1)) {
			pw_error_set(err, PW_CONFIG, 0,
			    "CA file %s: certificate %d: %s", path, i + 1,
			    ossl_reason());
			sk_X509_pop_free(certs, X509_free);
			return -1;
		}
	}
	if (cas != NULL)
		*cas = certs;
	else
		sk_X509_pop_free(certs, X509_free);
	return 0;
}

/*
 * check_crl(path, i, crl, cas, err):
 * 0 if CRL ${i} of ${path} is in date and, if its issuer is among ${cas}
 * by name, signed by it (an intermediate's CRL may come from a CA the
 * clients send and the CA file does not hold); else -1 with *${err} set.
 */
static int
check_crl(const char *path, int i, X509_CRL *crl, STACK_OF(X509) *cas,
    struct pw_error *err)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	char issuer[96], when[40];
	X509 *ca;
	int j;

	name_line(X509_CRL_get_issuer(crl), issuer, sizeof(issuer));
	if (next != NULL && X509_cmp_current_time(next) < 0) {
		time_line(next, when, sizeof(when));
		return pw_error_set(err, PW_CONFIG, 0,
		    "CRL file %s: CRL %d (from %s) expired on %s; every client "
		    "of that CA would be refused", path, i, issuer, when);
	}
	for (j = 0; j < sk_X509_num(cas); j++) {
		ca = sk_X509_value(cas, j);
		if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
		    X509_get_subject_name(ca)) != 0)
			continue;
		if (X509_CRL_verify(crl, X509_get0_pubkey(ca)) != 1) {
			ERR_clear_error();
			return pw_error_set(err, PW_CONFIG, 0,
			    "CRL file %s: CRL %d (from %s) is not signed by "
			    "that CA's key in the CA file", path, i, issuer);
		}
	}
	return 0;
}

/*
 * crl_from(crls, ca):
 * True if one of ${crls} is issued by the name of ${ca}.
 */
static bool
crl_from(STACK_OF(X509_CRL) *crls, X509 *ca)
{
	int i;

	for (i = 0; i < sk_X509_CRL_num(crls); i++)
		if (X509_NAME_cmp(X509_CRL_get_issuer(sk_X509_CRL_value(crls, i)),
		    X509_get_subject_name(ca)) == 0)
			return true;
	return false;
}

/*
 * load_crls(ssl_ctx, path, cas, err):
 * Check the CRLs of ${path} and make verification of ${ssl_ctx} refuse the
 * certificates they revoke, at every depth of a chain (as nginx and
 * HAProxy do: a revoked intermediate must not let its leaves through).
 * Every CA of ${cas} needs a CRL then, or all it issued would be refused.
 */
static int
load_crls(SSL_CTX *ssl_ctx, const char *path, STACK_OF(X509) *cas,
    struct pw_error *err)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);
	STACK_OF(X509_CRL) *crls;
	X509_CRL *crl;
	char subject[96];
	BIO *bio;
	int n = 0, i;

	ERR_clear_error();
	if ((bio = open_file("CRL file", path, err)) == NULL)
		goto err0;
	if ((crls = sk_X509_CRL_new_null()) == NULL) {
		pw_error_set(err, PW_INTERNAL, 0, "CRL file %s: out of memory",
		    path);
		goto err1;
	}
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, no_password,
	    NULL)) != NULL) {
		n++;
		if (!sk_X509_CRL_push(crls, crl)) {
			X509_CRL_free(crl);
			pw_error_set(err, PW_INTERNAL, 0,
			    "CRL file %s: out of memory", path);
			goto err2;
		}
		if (check_crl(path, n, crl, cas, err) != 0)
			goto err2;
		if (X509_STORE_add_crl(store, crl) != 1) {
			pw_error_set(err, PW_CONFIG, 0, "CRL file %s: CRL %d: %s",
			    path, n, ossl_reason());
			goto err2;
		}
	}
	if (!pem_ended_cleanly()) {
		pw_error_set(err, PW_CONFIG, 0,
		    "CRL file %s: CRL %d does not parse: %s", path, n + 1,
		    ossl_reason());
		goto err2;
	}
	if (n == 0) {
		pw_error_set(err, PW_CONFIG, 0,
		    "CRL file %s: no PEM CRL in the file", path);
		goto err2;
	}
	for (i = 0; i < sk_X509_num(cas); i++) {
		if (crl_from(crls, sk_X509_value(cas, i)))
			continue;
		name_line(X509_get_subject_name(sk_X509_value(cas, i)), subject,
		    sizeof(subject));
		pw_error_set(err, PW_CONFIG, 0,
		    "CRL file %s: no CRL from the CA %s; every CA of a client "
		    "chain needs one, or its clients are all refused", path,
		    subject);
		goto err2;
	}
	X509_STORE_set_flags(store,
	    X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	BIO_free(bio);
	return 0;

err2:
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
err1:
	BIO_free(bio);
err0:
	return -1;
}

/* ---- contexts --------------------------------------------------------- */

static int
version_to_openssl(int version, int *out, struct pw_error *err)
{
	if (version == 0 || version == TLS_VERSION_1_2)
		*out = TLS1_2_VERSION;
	else if (version == TLS_VERSION_1_3)
		*out = TLS1_3_VERSION;
	else
		return pw_error_set(err, PW_CONFIG, 0,
		    "min_version 0x%x: only TLS 1.2 and 1.3 are supported",
		    (unsigned)version);
	return 0;
}

static int verify_callback(int ok, X509_STORE_CTX *store_ctx);

/*
 * ctx_new(server, min_version, err):
 * A context with the settings both sides share.
 */
static struct tls_ctx *
ctx_new(bool server, int min_version, struct pw_error *err)
{
	struct tls_ctx *ctx;
	int min;

	if (version_to_openssl(min_version, &min, err) != 0)
		goto err0;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		goto oom;
	ctx->refs = 1;
	ctx->server = server;
	ERR_clear_error();
	ctx->ssl_ctx = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method());
	if (ctx->ssl_ctx == NULL) {
		free(ctx);
		goto oom;
	}
	if (SSL_CTX_set_min_proto_version(ctx->ssl_ctx, min) != 1)
		goto internal;
	/*
	 * No renegotiation (a CPU and state-machine attack surface we do not
	 * need), no compression (CRIME).  Partial writes and moving buffers
	 * let the connection layer write from a buffer it compacts.
	 */
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Stateless tickets (if any) need no cache; a cache costs memory per
	 * client for as long as it lasts. */
	SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_default_passwd_cb(ctx->ssl_ctx, no_password);
	return ctx;

internal:
	pw_error_set(err, PW_INTERNAL, 0, "TLS context: %s", ossl_reason());
	tls_ctx_free(ctx);
	goto err0;
oom:
	pw_error_set(err, PW_INTERNAL, 0, "TLS context: out of memory");
err0:
	return NULL;
}

/* Cipher strings ignore names they do not know; we do not. */
static int
check_cipher_words(const char *ciphers, struct pw_error *err)
{
	char word[128];
	const char *p = ciphers, *end;
	SSL_CTX *scratch;
	size_t len;
	int rc = 0;

	if ((scratch = SSL_CTX_new(TLS_server_method())) == NULL)
		return pw_error_set(err, PW_INTERNAL, 0, "ciphers: %s",
		    ossl_reason());
	while (*p != '\0' && rc == 0) {
		len = strcspn(p, ":, ");
		end = p + len;
		/* Exclusions, reorderings and @ directives select nothing
		 * by design. */
		if (len > 0 && strchr("!-+@", p[0]) == NULL) {
			if (len >= sizeof(word)) {
				rc = pw_error_set(err, PW_CONFIG, 0,
				    "ciphers: \"%.40s...\" is too long", p);
				break;
			}
			memcpy(word, p, len);
			word[len] = '\0';
			if (SSL_CTX_set_cipher_list(scratch, word) != 1) {
				ERR_clear_error();
				rc = pw_error_set(err, PW_CONFIG, 0,
				    "ciphers: \"%s\" matches no TLS 1.2 cipher",
				    word);
			}
		}
		p = *end != '\0' ? end + 1 : end;
	}
	SSL_CTX_free(scratch);
	return rc;
}

/* OpenSSL 3.0 skips TLS 1.3 suite names it does not know; we do not. */
static int
check_suite_words(const char *suites, struct pw_error *err)
{
	STACK_OF(SSL_CIPHER) *known;
	char word[64];
	const char *p = suites, *end;
	SSL_CTX *scratch;
	bool found;
	size_t len;
	int rc = 0, i;

	if ((scratch = SSL_CTX_new(TLS_server_method())) == NULL)
		return pw_error_set(err, PW_INTERNAL, 0, "ciphersuites: %s",
		    ossl_reason());
	while (*p != '\0' && rc == 0) {
		len = strcspn(p, ":");
		end = p + len;
		if (len > 0) {
			found = false;
			if (len < sizeof(word)) {
				memcpy(word, p, len);
				word[len] = '\0';
				if (SSL_CTX_set_ciphersuites(scratch, word) == 1) {
					known = SSL_CTX_get_ciphers(scratch);
					for (i = 0; i < sk_SSL_CIPHER_num(known) &&
					    !found; i++)
						found = strcmp(SSL_CIPHER_get_name(
						    sk_SSL_CIPHER_value(known, i)),
						    word) == 0;
				}
			}
			ERR_clear_error();
			if (!found)
				rc = pw_error_set(err, PW_CONFIG, 0,
				    "ciphersuites: \"%.*s\" is not a TLS 1.3 "
				    "suite", (int)(len < 64 ? len : 64), p);
		}
		p = *end != '\0' ? end + 1 : end;
	}
	SSL_CTX_free(scratch);
	return rc;
}

/*
 * set_algorithms(ssl_ctx, ciphers, ciphersuites, groups, err):
 * Apply the algorithm options, refusing any name OpenSSL does not know.
 */
static int
set_algorithms(SSL_CTX *ssl_ctx, const char *ciphers,
    const char *ciphersuites, const char *groups, struct pw_error *err)
{
	ERR_clear_error();
	if (ciphers != NULL) {
		if (check_cipher_words(ciphers, err) != 0)
			return -1;
		if (SSL_CTX_set_cipher_list(ssl_ctx, ciphers) != 1)
			return pw_error_set(err, PW_CONFIG, 0,
			    "ciphers \"%s\": %s", ciphers, ossl_reason());
	}
	if (ciphersuites != NULL) {
		if (check_suite_words(ciphersuites, err) != 0)
			return -1;
		if (SSL_CTX_set_ciphersuites(ssl_ctx, ciphersuites) != 1)
			return pw_error_set(err, PW_CONFIG, 0,
			    "ciphersuites \"%s\": %s", ciphersuites,
			    ossl_reason());
	}
	if (groups != NULL && SSL_CTX_set1_groups_list(ssl_ctx, groups) != 1)
		return pw_error_set(err, PW_CONFIG, 0,
		    "groups \"%s\": unknown group in the list (%s)", groups,
		    ossl_reason());
	return 0;
}

/*
 * check_some_cipher(ssl_ctx, err):
 * 0 if the versions, ciphers and suites of ${ssl_ctx} leave at least one
 * cipher to negotiate (min_version 1.3 with empty ciphersuites does not).
 */
static int
check_some_cipher(SSL_CTX *ssl_ctx, struct pw_error *err)
{
	STACK_OF(SSL_CIPHER) *ciphers;
	SSL *ssl;
	int n;

	ERR_clear_error();
	if ((ssl = SSL_new(ssl_ctx)) == NULL)
		return pw_error_set(err, PW_INTERNAL, 0, "TLS: %s",
		    ossl_reason());
	ciphers = SSL_get1_supported_ciphers(ssl);
	n = ciphers != NULL ? sk_SSL_CIPHER_num(ciphers) : 0;
	sk_SSL_CIPHER_free(ciphers);
	SSL_free(ssl);
	ERR_clear_error();
	if (n == 0)
		return pw_error_set(err, PW_CONFIG, 0,
		    "no cipher is left for the configured TLS versions "
		    "(check ciphers, ciphersuites and min_version)");
	return 0;
}

/*
 * parse_allow(ctx, entries, n, err):
 * Copy the allow-list ${entries} into ${ctx}, checking their form.
 */
static int
parse_allow(struct tls_ctx *ctx, const char *const *entries, size_t n,
    struct pw_error *err)
{
	static const struct {
		const char *prefix;
		enum allow_kind kind;
	} prefixes[] = {
		{ "CN=", ALLOW_CN }, { "DNS=", ALLOW_DNS }, { "URI=", ALLOW_URI },
	};
	struct allow_entry *e;
	const char *value;
	size_t i, k;

	if (n == 0)
		return 0;
	if ((ctx->allow = calloc(n, sizeof(*ctx->allow))) == NULL)
		return pw_error_set(err, PW_INTERNAL, 0,
		    "client allow-list: out of memory");
	for (i = 0; i < n; i++) {
		value = NULL;
		for (k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
			if (strncmp(entries[i], prefixes[k].prefix,
			    strlen(prefixes[k].prefix)) == 0) {
				value = entries[i] + strlen(prefixes[k].prefix);
				break;
			}
		}
		if (value == NULL || *value == '\0')
			return pw_error_set(err, PW_CONFIG, 0,
			    "client allow-list entry \"%s\": expected CN=name, "
			    "DNS=name or URI=uri", entries[i]);
		e = &ctx->allow[ctx->n_allow];
		e->kind = prefixes[k].kind;
		e->len = strlen(value);
		if ((e->value = strdup(value)) == NULL)
			return pw_error_set(err, PW_INTERNAL, 0,
			    "client allow-list: out of memory");
		ctx->n_allow++;
	}
	return 0;
}

/*
 * setup_client_auth(ctx, options, err):
 * Apply the client certificate options of a server context.
 */
static int
setup_client_auth(struct tls_ctx *ctx, const struct tls_server_options *o,
    struct pw_error *err)
{
	STACK_OF(X509) *cas = NULL;
	int mode;

	if (o->client_auth == TLS_CLIENT_NONE) {
		if (o->client_ca_file != NULL || o->client_crl_file != NULL ||
		    o->n_client_allow > 0)
			return pw_error_set(err, PW_CONFIG, 0,
			    "a client CA file, CRL file or allow-list needs "
			    "client_auth optional or required");
		return 0;
	}
	if (o->client_auth != TLS_CLIENT_OPTIONAL &&
	    o->client_auth != TLS_CLIENT_REQUIRED)
		return pw_error_set(err, PW_CONFIG, 0,
		    "client_auth %d: unknown", (int)o->client_auth);
	if (o->client_ca_file == NULL)
		return pw_error_set(err, PW_CONFIG, 0,
		    "client_auth %s needs a client CA file",
		    o->client_auth == TLS_CLIENT_REQUIRED ? "required" :
		    "optional");
	if (o->n_client_allow > 0 && o->client_auth != TLS_CLIENT_REQUIRED)
		return pw_error_set(err, PW_CONFIG, 0,
		    "a client allow-list needs client_auth required (with "
		    "optional, clients without a certificate would pass)");
	if (load_trust(ctx->ssl_ctx, o->client_ca_file, true, &cas, err) != 0)
		return -1;
	if (o->client_crl_file != NULL &&
	    load_crls(ctx->ssl_ctx, o->client_crl_file, cas, err) != 0) {
		sk_X509_pop_free(cas, X509_free);
		return -1;
	}
	sk_X509_pop_free(cas, X509_free);
	if (parse_allow(ctx, o->client_allow, o->n_client_allow, err) != 0)
		return -1;
	mode = SSL_VERIFY_PEER;
	if (o->client_auth == TLS_CLIENT_REQUIRED)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx->ssl_ctx, mode, verify_callback);
	return 0;
}

/**
 * tls_server_ctx_new(options, err):
 * Build a server context from ${options}, reading every file they name
 * and checking it: files readable, the chain in order and in date, the
 * server certificate fit for TLS servers and matching the key, ciphers,
 * suites and groups known, the CA and CRL files parseable (each CRL in
 * date and signed by its CA if that is in the CA file; a CRL from every CA
 * of the file), the allow-list well formed and consistent with
 * client_auth.  Returns the context, or NULL
 * with *${err} (PW_CONFIG naming the file or option, PW_INTERNAL) set.
 * The caller holds one reference; see tls_ctx_free().
 */
struct tls_ctx *
tls_server_ctx_new(const struct tls_server_options *options,
    struct pw_error *err)
{
	const struct tls_server_options *o = options;
	struct tls_ctx *ctx;

	if (o->cert_chain_file == NULL || o->key_file == NULL) {
		pw_error_set(err, PW_CONFIG, 0,
		    "a TLS listener needs a certificate chain and a key file");
		goto err0;
	}
	if (o->session_tickets > MAX_SESSION_TICKETS) {
		pw_error_set(err, PW_CONFIG, 0,
		    "session_tickets %u: at most %d", o->session_tickets,
		    MAX_SESSION_TICKETS);
		goto err0;
	}
	if ((ctx = ctx_new(true, o->min_version, err)) == NULL)
		goto err0;
	if (use_chain_and_key(ctx->ssl_ctx, o->cert_chain_file, o->key_file,
	    X509_PURPOSE_SSL_SERVER, err) != 0)
		goto err1;
	if (set_algorithms(ctx->ssl_ctx, o->ciphers, o->ciphersuites,
	    o->groups, err) != 0)
		goto err1;
	if (check_some_cipher(ctx->ssl_ctx, err) != 0)
		goto err1;
	if (setup_client_auth(ctx, o, err) != 0)
		goto err1;
	/* See the top of tls.h for why no tickets is the default. */
	if (SSL_CTX_set_num_tickets(ctx->ssl_ctx, o->session_tickets) != 1 ||
	    SSL_CTX_set_session_id_context(ctx->ssl_ctx, session_id_context,
	    sizeof(session_id_context) - 1) != 1) {
		pw_error_set(err, PW_INTERNAL, 0, "TLS context: %s",
		    ossl_reason());
		goto err1;
	}
	if (o->session_tickets == 0)
		SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_TICKET);
	return ctx;

err1:
	tls_ctx_free(ctx);
err0:
	return NULL;
}

/**
 * tls_client_ctx_new(options, err):
 * Build a context for connections to a TLS backend from ${options}, with
 * the same checks of the files as tls_server_ctx_new().  Returns the
 * context, or NULL with *${err} set.
 */
struct tls_ctx *
tls_client_ctx_new(const struct tls_client_options *options,
    struct pw_error *err)
{
	const struct tls_client_options *o = options;
	const char *sni;
	X509_VERIFY_PARAM *param;
	struct tls_ctx *ctx;
	int ok;

	if (o->verify && (o->expected_name == NULL ||
	    o->expected_name[0] == '\0')) {
		pw_error_set(err, PW_CONFIG, 0, "verifying a TLS backend needs "
		    "the name its certificate must carry");
		goto err0;
	}
	if ((o->cert_chain_file == NULL) != (o->key_file == NULL)) {
		pw_error_set(err, PW_CONFIG, 0, "a client certificate needs "
		    "both a certificate chain and a key file");
		goto err0;
	}
	if ((ctx = ctx_new(false, o->min_version, err)) == NULL)
		goto err0;
	sni = o->sni;
	if (sni == NULL && o->expected_name != NULL &&
	    o->expected_name[0] != '\0' && !is_ip_literal(o->expected_name))
		sni = o->expected_name;
	if (sni != NULL && sni[0] != '\0') {
		if (strlen(sni) > MAX_SNI_BYTES || is_ip_literal(sni)) {
			pw_error_set(err, PW_CONFIG, 0,
			    "sni \"%.64s\": must be a host name of at most %d "
			    "bytes", sni, MAX_SNI_BYTES);
			goto err1;
		}
		if ((ctx->sni = strdup(sni)) == NULL) {
			pw_error_set(err, PW_INTERNAL, 0, "TLS: out of memory");
			goto err1;
		}
	}
	if (o->cert_chain_file != NULL &&
	    use_chain_and_key(ctx->ssl_ctx, o->cert_chain_file, o->key_file,
	    X509_PURPOSE_SSL_CLIENT, err) != 0)
		goto err1;
	if (!o->verify) {
		SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	if (o->ca_file != NULL) {
		if (load_trust(ctx->ssl_ctx, o->ca_file, false, NULL, err) != 0)
			goto err1;
	} else if (SSL_CTX_set_default_verify_paths(ctx->ssl_ctx) != 1) {
		pw_error_set(err, PW_CONFIG, 0,
		    "the system CA store cannot be loaded: %s", ossl_reason());
		goto err1;
	}
	/* The context's parameters are copied into every connection. */
	param = SSL_CTX_get0_param(ctx->ssl_ctx);
	if (is_ip_literal(o->expected_name)) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, o->expected_name);
	} else {
		X509_VERIFY_PARAM_set_hostflags(param,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = X509_VERIFY_PARAM_set1_host(param, o->expected_name, 0);
	}
	if (ok != 1) {
		pw_error_set(err, PW_CONFIG, 0, "expected name \"%.64s\": %s",
		    o->expected_name, ossl_reason());
		goto err1;
	}
	SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, verify_callback);
	return ctx;

err1:
	tls_ctx_free(ctx);
err0:
	return NULL;
}

/**
 * tls_ctx_ref(ctx):
 * Take one more reference to ${ctx}, which a tls_ctx_free() drops: for a
 * holder that makes connections from it later.  Returns ${ctx}; NULL is a
 * no-op.  One thread only.
 */
struct tls_ctx *
tls_ctx_ref(struct tls_ctx *ctx)
{
	if (ctx != NULL)
		ctx->refs++;
	return ctx;
}

/**
 * tls_ctx_free(ctx):
 * Drop the caller's reference to ${ctx}; it is freed once the connections
 * made from it are freed too, so a configuration reload can free the old
 * context while old connections live on.  NULL is a no-op.
 */
void
tls_ctx_free(struct tls_ctx *ctx)
{
	size_t i;

	if (ctx == NULL || --ctx->refs > 0)
		return;
	for (i = 0; i < ctx->n_allow; i++)
		free(ctx->allow[i].value);
	free(ctx->allow);
	free(ctx->sni);
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

/* ---- the allow-list --------------------------------------------------- */

static bool
ascii_equal_nocase(const unsigned char *a, size_t alen, const char *b,
    size_t blen)
{
	return alen == blen && strncasecmp((const char *)a, b, blen) == 0 &&
	    memchr(a, '\0', alen) == NULL;
}

/*
 * allowed(ctx, cert):
 * True if ${cert} carries a subject CN, DNS SAN or URI SAN that ${ctx}'s
 * allow-list names (or the list is empty).  Lengths are compared, so an
 * embedded NUL cannot make "good\0.evil" pass as "good".
 */
static bool
allowed(const struct tls_ctx *ctx, X509 *cert)
{
	const X509_NAME *subject = X509_get_subject_name(cert);
	GENERAL_NAMES *sans;
	const GENERAL_NAME *gn;
	const ASN1_STRING *s;
	const struct allow_entry *e;
	unsigned char *utf8;
	bool ok = false;
	size_t i;
	int pos, len, k;

	if (ctx->n_allow == 0)
		return true;
	pos = -1;
	while (!ok && (pos = X509_NAME_get_index_by_NID(subject,
	    NID_commonName, pos)) >= 0) {
		s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, pos));
		if ((len = ASN1_STRING_to_UTF8(&utf8, s)) < 0)
			continue;
		for (i = 0; i < ctx->n_allow && !ok; i++) {
			e = &ctx->allow[i];
			ok = e->kind == ALLOW_CN && e->len == (size_t)len &&
			    memcmp(utf8, e->value, e->len) == 0;
		}
		OPENSSL_free(utf8);
	}
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (k = 0; !ok && k < sk_GENERAL_NAME_num(sans); k++) {
		gn = sk_GENERAL_NAME_value(sans, k);
		if (gn->type != GEN_DNS && gn->type != GEN_URI)
			continue;
		s = gn->d.ia5;
		for (i = 0; i < ctx->n_allow && !ok; i++) {
			e = &ctx->allow[i];
			if (gn->type == GEN_DNS && e->kind == ALLOW_DNS)
				ok = ascii_equal_nocase(ASN1_STRING_get0_data(s),
				    (size_t)ASN1_STRING_length(s), e->value,
				    e->len);
			else if (gn->type == GEN_URI && e->kind == ALLOW_URI)
				ok = (size_t)ASN1_STRING_length(s) == e->len &&
				    memcmp(ASN1_STRING_get0_data(s), e->value,
				    e->len) == 0;
		}
	}
	GENERAL_NAMES_free(sans);
	ERR_clear_error();
	return ok;
}

/* ---- connections ------------------------------------------------------ */

/* Remember the first reason a peer's certificate was refused, for the
 * error message; best effort (a refusal without details still refuses). */
static void
note_refusal(struct tls_conn *conn, const char *why, int depth, X509 *cert)
{
	char subject[96] = "";

	if (conn->refusal != NULL)
		return;
	if ((conn->refusal = malloc(PW_ERROR_MESSAGE_MAX)) == NULL)
		return;
	if (cert != NULL)
		name_line(X509_get_subject_name(cert), subject,
		    sizeof(subject));
	snprintf(conn->refusal, PW_ERROR_MESSAGE_MAX,
	    "%s (certificate at depth %d, subject %s)", why, depth,
	    subject[0] != '\0' ? subject : "unknown");
}

/*
 * OpenSSL's verification decides; this only records why it refused, and
 * adds the allow-list to what a leaf must pass.
 */
static int
verify_callback(int ok, X509_STORE_CTX *store_ctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store_ctx,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *conn = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(store_ctx);
	int depth = X509_STORE_CTX_get_error_depth(store_ctx);

	if (conn == NULL)
		return ok;
	if (!ok) {
		note_refusal(conn, X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(store_ctx)), depth, cert);
		return 0;
	}
	if (depth == 0 && cert != NULL && !allowed(conn->ctx, cert)) {
		conn->not_allowed = true;
		note_refusal(conn, "not in the allow-list", depth, cert);
		X509_STORE_CTX_set_error(store_ctx,
		    X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}

static struct tls_conn *
conn_new(struct tls_ctx *ctx, int fd, bool server, struct pw_error *err)
{
	struct tls_conn *conn;

	if (ctx->server != server) {
		pw_error_set(err, PW_INTERNAL, 0, "TLS: a %s context used for "
		    "the %s side", ctx->server ? "server" : "client",
		    server ? "server" : "client");
		goto err0;
	}
	if ((conn = calloc(1, sizeof(*conn))) == NULL)
		goto oom;
	ERR_clear_error();
	if ((conn->ssl = SSL_new(ctx->ssl_ctx)) == NULL) {
		free(conn);
		goto oom;
	}
	conn->ctx = ctx;
	ctx->refs++;
	SSL_set_app_data(conn->ssl, conn);
	if (SSL_set_fd(conn->ssl, fd) != 1 ||
	    (!server && ctx->sni != NULL &&
	    SSL_set_tlsext_host_name(conn->ssl, ctx->sni) != 1)) {
		pw_error_set(err, PW_INTERNAL, 0, "TLS connection: %s",
		    ossl_reason());
		tls_free(conn);
		goto err0;
	}
	if (server)
		SSL_set_accept_state(conn->ssl);
	else
		SSL_set_connect_state(conn->ssl);
	return conn;

oom:
	ERR_clear_error();
	pw_error_set(err, PW_INTERNAL, 0, "TLS connection: out of memory");
err0:
	return NULL;
}

/**
 * tls_accept_new(ctx, fd, err):
 * Start the server side of a connection over the connected, non-blocking
 * socket ${fd}, with the server context ${ctx}.  Nothing is read or
 * written yet: call tls_handshake().  ${fd} stays the caller's to close
 * (after tls_free()).  Returns NULL with *${err} set on failure.
 */
struct tls_conn *
tls_accept_new(struct tls_ctx *ctx, int fd, struct pw_error *err)
{
	return conn_new(ctx, fd, true, err);
}

/**
 * tls_connect_new(ctx, fd, err):
 * Start the client side of a connection over the connected, non-blocking
 * socket ${fd}, with the client context ${ctx} (its expected name and
 * SNI).  As tls_accept_new() otherwise.
 */
struct tls_conn *
tls_connect_new(struct tls_ctx *ctx, int fd, struct pw_error *err)
{
	return conn_new(ctx, fd, false, err);
}

/**
 * tls_free(conn):
 * Release ${conn} without any I/O (see tls_shutdown()); the socket is not
 * closed.  NULL is a no-op.
 */
void
tls_free(struct tls_conn *conn)
{
	if (conn == NULL)
		return;
	SSL_free(conn->ssl);
	tls_ctx_free(conn->ctx);
	free(conn->refusal);
	free(conn);
}

/* Fail ${conn} for good with ${failure} and "${what}: ${detail}". */
static enum tls_status
fail(struct tls_conn *conn, struct pw_error *err, enum tls_failure failure,
    const char *what, const char *detail)
{
	conn->failure = failure;
	conn->dead = true;
	pw_error_set(err, failure == TLS_FAIL_INTERNAL ? PW_INTERNAL : PW_IO,
	    0, "%s: %s", what, detail);
	return TLS_ERROR;
}

/*
 * handshake_failure(conn, reason, err):
 * Classify a failed handshake of ${conn}, OpenSSL's first error reason
 * being ${reason}.
 */
static enum tls_status
handshake_failure(struct tls_conn *conn, int reason, struct pw_error *err)
{
	long verify = SSL_get_verify_result(conn->ssl);
	bool server = conn->ctx->server;
	enum tls_failure f;

	if (conn->not_allowed || verify != X509_V_OK) {
		if (conn->not_allowed)
			f = TLS_FAIL_PEER_NOT_ALLOWED;
		else if (verify == X509_V_ERR_CERT_REVOKED)
			f = TLS_FAIL_PEER_CERT_REVOKED;
		else if (verify == X509_V_ERR_HOSTNAME_MISMATCH ||
		    verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
			f = TLS_FAIL_PEER_NAME_MISMATCH;
		else
			f = TLS_FAIL_PEER_CERT_UNTRUSTED;
		ERR_clear_error();
		return fail(conn, err, f, server ? "client certificate refused" :
		    "server certificate refused", conn->refusal != NULL ?
		    conn->refusal : X509_verify_cert_error_string(verify));
	}
	if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		ERR_clear_error();
		return fail(conn, err, TLS_FAIL_PEER_CERT_MISSING,
		    "TLS handshake", server ? "the client sent no certificate" :
		    "the server sent no certificate");
	}
	return fail(conn, err, TLS_FAIL_HANDSHAKE, "TLS handshake",
	    ossl_reason());
}

enum io_op {
	OP_HANDSHAKE,
	OP_READ,
	OP_WRITE,
};

/* The transport ended without close_notify. */
static enum tls_status
end_of_stream(struct tls_conn *conn, enum io_op op, struct pw_error *err)
{
	/* OpenSSL refuses any further I/O after an unexpected EOF. */
	conn->dead = true;
	if (op == OP_READ)
		return TLS_CLOSED;
	return fail(conn, err, TLS_FAIL_PEER_CLOSED, op == OP_WRITE ?
	    "TLS write" : "TLS handshake", "the peer closed the connection");
}

/*
 * io_status(conn, op, ret, sys_errno, err):
 * Map the failed return ${ret} of an SSL call for ${op} (with errno
 * ${sys_errno} right after it) to a status.
 */
static enum tls_status
io_status(struct tls_conn *conn, enum io_op op, int ret, int sys_errno,
    struct pw_error *err)
{
	static const char *const op_names[] = {
		[OP_HANDSHAKE] = "TLS handshake", [OP_READ] = "TLS read",
		[OP_WRITE] = "TLS write",
	};
	const char *what = op_names[op];
	unsigned long e;

	switch (SSL_get_error(conn->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		if (op == OP_READ) {
			conn->closed_cleanly = true;
			return TLS_CLOSED;
		}
		return fail(conn, err, TLS_FAIL_PEER_CLOSED, what,
		    "the peer closed the connection");
	case SSL_ERROR_SYSCALL:
		e = ERR_peek_error();
		if (sys_errno == 0 && ERR_GET_LIB(e) == ERR_LIB_SYS)
			sys_errno = ERR_GET_REASON(e);
		ERR_clear_error();
		if (sys_errno == 0)
			return end_of_stream(conn, op, err);
		return fail(conn, err, TLS_FAIL_IO, what, strerror(sys_errno));
	case SSL_ERROR_SSL:
		e = ERR_peek_error();
		if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			return end_of_stream(conn, op, err);
		}
		if (op == OP_HANDSHAKE)
			return handshake_failure(conn, ERR_GET_REASON(e), err);
		return fail(conn, err, TLS_FAIL_PROTOCOL, what, ossl_reason());
	default:
		return fail(conn, err, TLS_FAIL_INTERNAL, what, ossl_reason());
	}
}

/**
 * tls_handshake(conn, err):
 * Advance the handshake of ${conn}.  TLS_OK once it is complete and, on
 * the server side, the client certificate has passed the allow-list;
 * TLS_WANT_READ / TLS_WANT_WRITE to be called again; TLS_ERROR with
 * *${err} (PW_IO, a message with the reason and the refused certificate's
 * subject) and tls_failure() set.  A TLS 1.3 client reports TLS_OK before
 * the server has judged its certificate; a refusal then shows as an error
 * from tls_read().  Calling it again after TLS_OK returns TLS_OK.
 */
enum tls_status
tls_handshake(struct tls_conn *conn, struct pw_error *err)
{
	X509 *peer;
	int ret, sys_errno;

	if (conn->established)
		return TLS_OK;
	if (conn->dead)
		return fail(conn, err, conn->failure != TLS_FAIL_NONE ?
		    conn->failure : TLS_FAIL_PEER_CLOSED, "TLS handshake",
		    "the connection has already failed");
	ERR_clear_error();
	errno = 0;
	ret = SSL_do_handshake(conn->ssl);
	sys_errno = errno;
	if (ret != 1)
		return io_status(conn, OP_HANDSHAKE, ret, sys_errno, err);
	/* A resumed session was not verified in this handshake. */
	if (conn->ctx->server && SSL_session_reused(conn->ssl) &&
	    (peer = SSL_get0_peer_certificate(conn->ssl)) != NULL &&
	    !allowed(conn->ctx, peer)) {
		conn->not_allowed = true;
		note_refusal(conn, "not in the allow-list", 0, peer);
		return handshake_failure(conn, 0, err);
	}
	conn->established = true;
	return TLS_OK;
}

/**
 * tls_read(conn, buf, len, n, err):
 * Read up to ${len} (> 0) bytes of application data into ${buf}; *${n} is
 * set to the count (0 unless TLS_OK).  TLS_CLOSED: the peer ended its
 * sending side, with close_notify or (see tls_closed_cleanly()) without.
 * TLS_WANT_WRITE means OpenSSL must send before it can read on (as in a
 * handshake): call tls_read again when the socket is writable, whatever
 * the readability.  OpenSSL may hold decrypted
 * data the socket no longer shows: with edge-triggered polling read until
 * TLS_WANT_*, and after pausing, check tls_has_pending() before waiting.
 */
enum tls_status
tls_read(struct tls_conn *conn, void *buf, size_t len, size_t *n,
    struct pw_error *err)
{
	int ret, sys_errno;

	*n = 0;
	if (conn->dead)
		return conn->failure == TLS_FAIL_NONE ? TLS_CLOSED :
		    fail(conn, err, conn->failure, "TLS read",
		    "the connection has already failed");
	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(conn->ssl, buf, len, n);
	sys_errno = errno;
	if (ret == 1)
		return TLS_OK;
	*n = 0;
	return io_status(conn, OP_READ, ret, sys_errno, err);
}

/**
 * tls_write(conn, buf, len, n, err):
 * Write up to ${len} bytes of application data from ${buf}; *${n} is set
 * to the count accepted, which on TLS_OK may be less than ${len} (one
 * record at a time; call again for the rest).  After TLS_WANT_*, the next
 * tls_write must offer the same bytes again (the buffer may have moved;
 * ${len} may not shrink).  A ${len} of 0 returns TLS_OK at once.
 */
enum tls_status
tls_write(struct tls_conn *conn, const void *buf, size_t len, size_t *n,
    struct pw_error *err)
{
	int ret, sys_errno;

	*n = 0;
	if (conn->dead)
		return fail(conn, err, conn->failure != TLS_FAIL_NONE ?
		    conn->failure : TLS_FAIL_PEER_CLOSED, "TLS write",
		    "the connection has ended");
	if (len == 0)
		return TLS_OK;
	ERR_clear_error();
	errno = 0;
	ret = SSL_write_ex(conn->ssl, buf, len, n);
	sys_errno = errno;
	if (ret == 1)
		return TLS_OK;
	*n = 0;
	return io_status(conn, OP_WRITE, ret, sys_errno, err);
}

/**
 * tls_has_pending(conn):
 * True if ${conn} holds received bytes that tls_read() would process
 * without the socket becoming readable.
 */
bool
tls_has_pending(const struct tls_conn *conn)
{
	return !conn->dead && SSL_has_pending(conn->ssl) == 1;
}

/**
 * tls_shutdown(conn):
 * Send close_notify without waiting for the peer's: TLS_OK once sent,
 * TLS_WANT_WRITE to be retried when writable (or given up on: closing the
 * socket then is only impolite), TLS_ERROR if nothing can be sent (the
 * handshake did not complete, the connection failed or its transport
 * ended).
 */
enum tls_status
tls_shutdown(struct tls_conn *conn)
{
	int ret;

	if (conn->dead || !conn->established)
		return TLS_ERROR;
	ERR_clear_error();
	ret = SSL_shutdown(conn->ssl);
	if (ret >= 0)
		return TLS_OK;
	switch (SSL_get_error(conn->ssl, ret)) {
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_WRITE;
	case SSL_ERROR_WANT_READ:
		/* Never waiting for the peer's close_notify, nothing to read
		 * for; only a pending write can have stopped us. */
		return TLS_WANT_WRITE;
	default:
		ERR_clear_error();
		conn->dead = true;
		return TLS_ERROR;
	}
}

/**
 * tls_failure(conn):
 * Why ${conn} failed, TLS_FAIL_NONE while it has not.
 */
enum tls_failure
tls_failure(const struct tls_conn *conn)
{
	return conn->failure;
}

/**
 * tls_failure_name(failure):
 * The stable snake_case name of ${failure} ("peer_not_allowed", ...).
 */
const char *
tls_failure_name(enum tls_failure failure)
{
	if ((unsigned)failure >= sizeof(failure_names) / sizeof(failure_names[0]))
		return "internal_error";
	return failure_names[failure];
}

/**
 * tls_closed_cleanly(conn):
 * After tls_read() returned TLS_CLOSED: true if the peer sent
 * close_notify, false if the transport simply ended (a truncation the
 * framing above must judge).
 */
bool
tls_closed_cleanly(const struct tls_conn *conn)
{
	return conn->closed_cleanly;
}

/* ---- peer identity ---------------------------------------------------- */

static void
hex_lower(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/*
 * san_line(prefix, data, len, out):
 * "${prefix}:" and ${data} into ${out} (TLS_PEER_SAN_MAX bytes), bytes
 * outside printable ASCII and the backslash as \xNN so that no NUL or
 * control byte from a certificate reaches a log.  True if cut.
 */
static bool
san_line(const char *prefix, const unsigned char *data, size_t len, char *out)
{
	size_t o, i;
	int w;

	w = snprintf(out, TLS_PEER_SAN_MAX, "%s:", prefix);
	o = (size_t)w;
	for (i = 0; i < len; i++) {
		if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '\\') {
			if (o + 1 >= TLS_PEER_SAN_MAX)
				return true;
			out[o++] = (char)data[i];
		} else {
			if (o + 4 >= TLS_PEER_SAN_MAX)
				return true;
			snprintf(out + o, 5, "\\x%02x", data[i]);
			o += 4;
		}
		out[o] = '\0';
	}
	return false;
}

/* The SANs of ${cert} that identify peers, into ${peer}. */
static void
peer_sans(X509 *cert, struct tls_peer *peer)
{
	GENERAL_NAMES *sans;
	const GENERAL_NAME *gn;
	const unsigned char *data;
	char *out, ip[INET6_ADDRSTRLEN];
	size_t len;
	int k, family;

	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (k = 0; k < sk_GENERAL_NAME_num(sans); k++) {
		gn = sk_GENERAL_NAME_value(sans, k);
		if (gn->type != GEN_DNS && gn->type != GEN_URI &&
		    gn->type != GEN_EMAIL && gn->type != GEN_IPADD)
			continue;
		if (peer->n_sans == TLS_PEER_SANS_MAX) {
			peer->truncated = true;
			break;
		}
		out = peer->sans[peer->n_sans++];
		data = ASN1_STRING_get0_data(gn->d.ia5);
		len = (size_t)ASN1_STRING_length(gn->d.ia5);
		if (gn->type == GEN_IPADD) {
			family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
			if (family != 0 &&
			    inet_ntop(family, data, ip, sizeof(ip)) != NULL)
				snprintf(out, TLS_PEER_SAN_MAX, "IP:%s", ip);
			else if (san_line("IP", data, len, out))
				peer->truncated = true;
			continue;
		}
		if (san_line(gn->type == GEN_DNS ? "DNS" : gn->type == GEN_URI ?
		    "URI" : "email", data, len, out))
			peer->truncated = true;
	}
	GENERAL_NAMES_free(sans);
}

/**
 * tls_peer_identity(conn, peer):
 * Fill *${peer} from the certificate the peer of ${conn} presented in the
 * handshake (peer->present false if none, or before the handshake).
 * Returns 0, or -1 only if memory runs out (*peer then says not present).
 */
int
tls_peer_identity(const struct tls_conn *conn, struct tls_peer *peer)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len;
	BIGNUM *serial;
	char *hex;
	X509 *cert;

	memset(peer, 0, sizeof(*peer));
	if ((cert = SSL_get0_peer_certificate(conn->ssl)) == NULL)
		return 0;
	if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1 ||
	    md_len != 32)
		goto fail;
	hex_lower(md, md_len, peer->sha256_hex);
	if ((serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert),
	    NULL)) == NULL)
		goto fail;
	hex = BN_bn2hex(serial);
	BN_free(serial);
	if (hex == NULL)
		goto fail;
	peer->truncated |= copy_cut(peer->serial_hex, sizeof(peer->serial_hex),
	    hex, strlen(hex));
	OPENSSL_free(hex);
	peer->truncated |= name_line(X509_get_subject_name(cert),
	    peer->subject, sizeof(peer->subject));
	peer_sans(cert, peer);
	peer->present = true;
	ERR_clear_error();
	return 0;

fail:
	ERR_clear_error();
	memset(peer, 0, sizeof(*peer));
	return -1;
}

/**
 * tls_version_name(conn):
 * The negotiated protocol of ${conn} ("TLSv1.3"), static storage.
 */
const char *
tls_version_name(const struct tls_conn *conn)
{
	return SSL_get_version(conn->ssl);
}

/**
 * tls_cipher_name(conn):
 * The negotiated cipher of ${conn} in OpenSSL's spelling, as the ciphers
 * and ciphersuites options take it ("TLS_AES_256_GCM_SHA384"); "(none)"
 * before the handshake.  Static storage.
 */
const char *
tls_cipher_name(const struct tls_conn *conn)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(conn->ssl);

	return c != NULL ? SSL_CIPHER_get_name(c) : "(none)";
}

/* ---- names ------------------------------------------------------------ */

/**
 * tls_version_parse(name, version):
 * Set *${version} from "1.2" / "TLSv1.2" or "1.3" / "TLSv1.3"; return 0,
 * or -1 if ${name} is none of them.
 */
int
tls_version_parse(const char *name, int *version)
{
	if (strcmp(name, "1.2") == 0 || strcmp(name, "TLSv1.2") == 0)
		*version = TLS_VERSION_1_2;
	else if (strcmp(name, "1.3") == 0 || strcmp(name, "TLSv1.3") == 0)
		*version = TLS_VERSION_1_3;
	else
		return -1;
	return 0;
}

/**
 * tls_client_auth_parse(name, auth):
 * Set *${auth} from "none", "optional" or "required"; return 0, or -1.
 */
int
tls_client_auth_parse(const char *name, enum tls_client_auth *auth)
{
	if (strcmp(name, "none") == 0)
		*auth = TLS_CLIENT_NONE;
	else if (strcmp(name, "optional") == 0)
		*auth = TLS_CLIENT_OPTIONAL;
	else if (strcmp(name, "required") == 0)
		*auth = TLS_CLIENT_REQUIRED;
	else
		return -1;
	return 0;
}

/**
 * tls_library_version():
 * The OpenSSL library in use ("OpenSSL 3.0.19 27 Jan 2026"), as
 * --version prints it.
 */
const char *
tls_library_version(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}
