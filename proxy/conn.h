#ifndef CONN_H
#define CONN_H

/*
 * conn: one client connection through the proxy, as a state machine.
 *
 * client --TLS--> [handshake] -> backend connect (TCP, then TLS) -> relay:
 * client bytes are framed and analyzed as they arrive and held until their
 * message has a verdict; an allowed message goes to the backend unchanged,
 * never split across writes when the socket takes it whole, in one write
 * with the other allowed messages of the same client read (a TLS record:
 * what the client itself wrote at once); a denied one never does.  Backend
 * bytes pass straight through to the client.  Every wait has a timeout and
 * every buffer a bound.  What a connection needs from its listener comes
 * in a struct conn_env; a connection holds references to its TLS contexts
 * and its rules, which a reload replaces in the listener's.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "analysis.h"
#include "audit.h"
#include "config.h"
#include "loop.h"
#include "tls.h"

/* Bytes a connection may buffer beyond a message, for each direction. */
#define CONN_RELAY_BYTES (256 * 1024)

/* The rules a listener decides with now.  A reload replaces them and
 * counts a generation; each connection takes the new ones up before its
 * next message, so that a message is decided with the rules it started
 * under. */
struct conn_rules {
	struct policy *policy;
	enum policy_mode mode;		/* effective: the listener's or the
					 * rule file's */
	uint64_t generation;
};

struct conn_env {
	struct loop *loop;
	struct audit *audit;
	const struct config_listener *listener;
	struct tls_ctx *server_tls;	/* NULL: plaintext listener; each */
	struct tls_ctx *backend_tls;	/* NULL: tcp:// backend; connection
					 * holds a reference to both */
	struct analysis_config analysis;	/* limits, framing; its policy
						 * is that of rules */
	const struct conn_rules *rules;	/* the listener's, outliving us */
	struct sockaddr_storage backend_addr;
	socklen_t backend_addr_len;
	char backend_addr_text[64];

	/* Memory held for messages over all connections, and its cap. */
	uint64_t *buffered_bytes;
	uint64_t buffer_cap_bytes;

	/* Called once when a connection has ended and been freed. */
	void (*on_closed)(void *cookie);
	void *cookie;
};

struct conn;

/**
 * conn_addr_text(sa, text, port):
 * Write the numeric address of the IPv4 or IPv6 ${sa} into ${text}
 * (INET6_ADDRSTRLEN bytes) and its port into *${port} (if not NULL), as the
 * audit log shows them; an empty text and port 0 for any other family.
 */
void conn_addr_text(const struct sockaddr *sa, char *text, uint16_t *port);

/**
 * conn_start(env, fd, peer, peer_len, conn_id):
 * Take over the accepted, non-blocking socket ${fd} from ${peer} and start
 * its handshake.  The connection runs from the loop and frees itself when
 * it ends (env->on_closed is then called).  Returns 0, or -1 if it could
 * not start (${fd} is then closed and an error event logged).
 */
int conn_start(const struct conn_env *env, int fd,
    const struct sockaddr *peer, socklen_t peer_len, uint64_t conn_id);

/**
 * conn_close_all(reason):
 * End every live connection now (shutdown), logging ${reason}.
 */
void conn_close_all(const char *reason);

#endif /* !CONN_H */
