#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>


#include "audit.h"
#include "hasher.h"
#include "render.h"
#include "json.h"

/* How bytes reach the file (see "Blocking" in audit.h). */
enum audit_writer {
	WRITE_PLAIN,	/* write(2): our own non-blocking description, or a
			 * file that never waits for a reader */
	WRITE_SEND,	/* a shared socket: send() with MSG_DONTWAIT */
	WRITE_POLLED,	/* a shared blocking pipe or terminal: poll(…, 0)
			 * first, at most PIPE_BUF bytes per write */
};

/*
 * The members every event of a connection repeats ("conn_id" ...
 * "backend_port"), rendered once and spliced into the next events while
 * the connection they were rendered for is the one logged: a busy
 * connection logs one event per message.  The values are copies, so that
 * a match never depends on where the caller keeps them.
 */
struct conn_fields {
	bool valid;
	uint64_t conn_id;
	uint16_t client_port, backend_port;
	char *listener, *client_addr, *backend_addr;	/* NULL: absent */
	struct json *text;	/* {members}, braces included */
};

/* A buffered line whose SHA-256 is being computed by the worker. */
struct held_line {
	uint64_t job;		/* hasher job number */
	size_t line_at;		/* offsets in buf */
	size_t hash_at;		/* the opening quote of the placeholder */
};

struct audit {
	char *path;		/* NULL: standard output */
	int fd;
	bool owns_fd;
	enum audit_writer writer;
	bool pollable;		/* epoll can watch fd */
	bool blocked;		/* the file refused bytes since the last
				 * audit_flush(): do not retry before it */
	char *buf;
	size_t cap;
	size_t start, end;	/* buf[start, end) waits to be written */
	bool mid_line;		/* buf[start] continues a line of which the
				 * first bytes are already in the file */
	uint64_t unreported;	/* dropped since the last notice */
	uint64_t dropped_total;
	struct json *event;	/* the event being built */
	struct json *notice;	/* the "audit_dropped" line */
	char stamp[AUDIT_TIMESTAMP_SIZE]; /* the time of the event */
	/* The stamp of the last second seen, whose first 20 characters
	 * ("YYYY-MM-DDTHH:MM:SS.") serve every event in that second. */
	time_t stamp_second;
	char second_stamp[AUDIT_TIMESTAMP_SIZE];
	/* CLOCK_REALTIME - CLOCK_MONOTONIC in nanoseconds, as read together
	 * at the monotonic instant synced_ns (clock_synced: at all). */
	int64_t realtime_offset_ns;
	uint64_t synced_ns;
	bool clock_synced;
	struct conn_fields fields;	/* of the last connection logged */

	/* Large messages are hashed by a worker: their line waits in the
	 * buffer, with every line after it, until its hash is written in.
	 * held[] is a ring of those lines, oldest first. */
	struct hasher *hasher;		/* NULL: every hash here, at once */
	size_t hash_min_bytes;
	struct held_line *held;
	size_t held_head, held_count, held_cap;
};

/* ---- the file ------------------------------------------------------------ */

static const char *
sink_name(const struct audit *a)
{
	return a->path != NULL ? a->path : "(standard output)";
}

static int
open_path(const char *path, struct pw_error *err)
{
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY, 0640);
	if (fd < 0)
		return pw_error_set(err, PW_IO, 0, "audit log %s: %s", path,
		    strerror(errno));
	return fd;
}

/* Regular files and most character devices are always writable, and
 * epoll refuses them (EPERM). */
static bool
fd_is_pollable(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return false;
	return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
	    (S_ISCHR(st.st_mode) && isatty(fd));
}

/*
 * Standard output belongs to whoever started us: O_NONBLOCK on it would
 * be set on the open file description that a shell or terminal shares,
 * and break their reads and writes.  So a pipe or terminal gets a
 * description of its own through /proc, and a socket is made
 * non-blocking per call instead.
 */
static int
use_stdout(struct audit *a, struct pw_error *err)
{
	struct stat st, own;
	int fd;

	if (fstat(STDOUT_FILENO, &st) < 0)
		return pw_error_set(err, PW_IO, 0, "audit log %s: %s",
		    sink_name(a), strerror(errno));
	a->fd = STDOUT_FILENO;
	a->owns_fd = false;
	a->writer = WRITE_PLAIN;
	a->pollable = false;
	if (S_ISSOCK(st.st_mode)) {
		a->writer = WRITE_SEND;
		a->pollable = true;
		return 0;
	}
	if (!S_ISFIFO(st.st_mode) && !isatty(STDOUT_FILENO))
		return 0;
	a->pollable = true;
	fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	if (fd >= 0 && fstat(fd, &own) == 0 && own.st_dev == st.st_dev &&
	    own.st_ino == st.st_ino) {
		a->fd = fd;
		a->owns_fd = true;
		return 0;
	}
	if (fd >= 0)
		close(fd);
	a->writer = WRITE_POLLED;
	return 0;
}

static ssize_t
sink_write(struct audit *a, const char *p, size_t n)
{
	struct pollfd pfd;

	switch (a->writer) {
	case WRITE_SEND:
		return send(a->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	case WRITE_POLLED:
		/* A pipe that polls writable has a free slot, and a write of
		 * at most PIPE_BUF bytes needs no more than one. */
		pfd.fd = a->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) < 0)
			return -1;
		if (pfd.revents == 0) {
			errno = EAGAIN;
			return -1;
		}
		if (n > PIPE_BUF)
			n = PIPE_BUF;
		break;
	case WRITE_PLAIN:
		break;
	}
	return write(a->fd, p, n);
}

/* The end of what may be written now: the start of the oldest line
 * still waiting for its hash, or the end of the buffer. */
static size_t
writable_end(const struct audit *a)
{
	return a->held_count > 0 ? a->held[a->held_head].line_at : a->end;
}

/*
 * Write buf[start, writable_end()) until that is done (0), the file would
 * block (1), or a write fails (-1, errno set).
 */
static int
write_out(struct audit *a)
{
	size_t limit = writable_end(a);
	ssize_t n;

	while (a->start < limit) {
		n = sink_write(a, a->buf + a->start, limit - a->start);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (n < 0)
			return -1;
		if (n == 0)
			return 1;
		a->mid_line = a->buf[a->start + (size_t)n - 1] != '\n';
		a->start += (size_t)n;
	}
	if (a->start == a->end)
		a->start = a->end = 0;
	return 0;
}

/*
 * The line whose head is already in the file is finished there before the
 * file changes, if that can be done without waiting; otherwise its tail is
 * dropped, so that the new file starts with a whole line.
 */
static void
finish_line(struct audit *a)
{
	const char *nl;
	size_t line_end;
	ssize_t n;

	if (!a->mid_line)
		return;
	/* Lines are appended whole, so the newline is there; without it the
	 * whole rest counts as the line. */
	nl = memchr(a->buf + a->start, '\n', a->end - a->start);
	line_end = nl != NULL ? (size_t)(nl - a->buf) + 1 : a->end;
	while (a->start < line_end) {
		n = sink_write(a, a->buf + a->start, line_end - a->start);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		a->start += (size_t)n;
	}
	if (a->start < line_end) {
		a->start = line_end;
		a->unreported++;
		a->dropped_total++;
	}
	a->mid_line = false;
	if (a->start == a->end)
		a->start = a->end = 0;
}

/* ---- the buffer ---------------------------------------------------------- */

static bool take_hash(struct audit *a, bool wait);

/* Make buf[end, end + n) free within the bound, writing out what the file
 * takes without waiting if the buffer is too full.  False: no room. */
static bool
room_for(struct audit *a, size_t n)
{
	if (n > a->cap - (a->end - a->start) && !a->blocked &&
	    write_out(a) != 0)
		a->blocked = true;
	/* Lines held for their hash are no fault of the file: wait for the
	 * worker (at most the hashing of what it holds) rather than drop
	 * events while a large message is hashed. */
	while (n > a->cap - (a->end - a->start) && !a->blocked &&
	    take_hash(a, true)) {
		if (write_out(a) != 0)
			a->blocked = true;
	}
	if (n > a->cap - (a->end - a->start))
		return false;
	if (n > a->cap - a->end) {
		size_t i;

		memmove(a->buf, a->buf + a->start, a->end - a->start);
		for (i = 0; i < a->held_count; i++) {
			struct held_line *h =
			    &a->held[(a->held_head + i) % a->held_cap];

			h->line_at -= a->start;
			h->hash_at -= a->start;
		}
		a->end -= a->start;
		a->start = 0;
	}
	return true;
}

/* Append the ${len} bytes at ${line} and a newline; false if they do not
 * fit. */
static bool
append_text(struct audit *a, const char *line, size_t len)
{
	if (!room_for(a, len + 1))
		return false;
	memcpy(a->buf + a->end, line, len);
	a->buf[a->end + len] = '\n';
	a->end += len + 1;
	return true;
}

/* Append the complete value of ${j} as one line; false if it does not
 * fit (or ${j} failed). */
static bool
append_line(struct audit *a, const struct json *j)
{
	const char *line;
	size_t len;

	if ((line = json_data(j, &len)) == NULL)
		return false;
	return append_text(a, line, len);
}

/* ---- events -------------------------------------------------------------- */

/**
 * audit_timestamp(ts, out):
 * Write the instant ${ts} into ${out} as RFC 3339 in UTC with microseconds
 * ("2026-11-24T21:50:03.123456Z"), as on every event.  Returns 0, or -1
 * if the year is outside 0000..9999.
 */
int
audit_timestamp(const struct timespec *ts, char out[AUDIT_TIMESTAMP_SIZE])
{
	/* Sized for any int fields, so that the compiler can see no
	 * truncation; the range checks make the text 27 characters. */
	char text[96];
	struct tm tm;

	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L ||
	    gmtime_r(&ts->tv_sec, &tm) == NULL ||
	    tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		return -1;
	if (snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(ts->tv_nsec / 1000)) !=
	    AUDIT_TIMESTAMP_SIZE - 1)
		return -1;
	memcpy(out, text, AUDIT_TIMESTAMP_SIZE);
	return 0;
}

/*
 * The field writers below ignore the results of the json_* calls: a
 * failure of the writer is sticky (json.h), and commit() checks it once
 * for the whole event through json_data().
 */

static void
put_str_quoted(struct json *j, const char *key, size_t key_len,
    const char *value)
{
	if (value == NULL)
		return;
	(void)json_key_quoted(j, key, key_len);
	(void)json_cstring(j, value);
}

static void
put_uint_quoted(struct json *j, const char *key, size_t key_len,
    uint64_t value)
{
	(void)json_key_quoted(j, key, key_len);
	(void)json_uint(j, value);
}

/* The keys are literals, quoted at compile time (JSON_KEY()). */
#define put_str(j, key, value) \
	put_str_quoted((j), "\"" key "\":", sizeof(key) + 2, (value))
#define put_uint(j, key, value) \
	put_uint_quoted((j), "\"" key "\":", sizeof(key) + 2, (value))

/* How long an offset between the two clocks serves: a step of the wall
 * clock shows in the timestamps this much later at most. */
#define CLOCK_RESYNC_NS 1000000

static uint64_t
timespec_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000U + (uint64_t)ts->tv_nsec;
}

/* The wall-clock time at the monotonic instant ${mono_ns}; false if the
 * clocks could not be read.  A caller that has just read the monotonic
 * clock spares a read of the wall clock per event this way. */
static bool
realtime_at(struct audit *a, uint64_t mono_ns, struct timespec *out)
{
	struct timespec real, mono;
	int64_t since = (int64_t)(mono_ns - a->synced_ns), ns;

	if (!a->clock_synced || since > CLOCK_RESYNC_NS ||
	    since < -CLOCK_RESYNC_NS) {
		if (clock_gettime(CLOCK_REALTIME, &real) < 0 ||
		    clock_gettime(CLOCK_MONOTONIC, &mono) < 0 ||
		    real.tv_sec < 0 || mono.tv_sec < 0)
			return false;
		a->realtime_offset_ns = (int64_t)timespec_ns(&real) -
		    (int64_t)timespec_ns(&mono);
		a->synced_ns = timespec_ns(&mono);
		a->clock_synced = true;
	}
	ns = (int64_t)mono_ns + a->realtime_offset_ns;
	if (ns < 0)
		return false;
	out->tv_sec = (time_t)(ns / 1000000000);
	out->tv_nsec = (long)(ns % 1000000000);
	return true;
}

/* The time as audit_timestamp() writes it, or "" if the clock failed:
 * now, or the wall-clock time at the monotonic instant ${mono_ns} if it is
 * not 0.  Only the microseconds are formatted here when the second is the
 * one of the previous event. */
static void
time_text(struct audit *a, uint64_t mono_ns, char text[AUDIT_TIMESTAMP_SIZE])
{
	struct timespec now;
	long us;
	int i;

	if ((mono_ns == 0 || !realtime_at(a, mono_ns, &now)) &&
	    clock_gettime(CLOCK_REALTIME, &now) < 0) {
		text[0] = '\0';
		return;
	}
	if (now.tv_sec != a->stamp_second || a->second_stamp[0] == '\0') {
		if (audit_timestamp(&now, a->second_stamp) < 0) {
			a->second_stamp[0] = text[0] = '\0';
			return;
		}
		a->stamp_second = now.tv_sec;
	}
	memcpy(text, a->second_stamp, AUDIT_TIMESTAMP_SIZE);
	/* "....SS.uuuuuuZ": the digits sit just before the final Z. */
	us = now.tv_nsec / 1000;
	for (i = AUDIT_TIMESTAMP_SIZE - 3; i >= AUDIT_TIMESTAMP_SIZE - 8; i--) {
		text[i] = (char)('0' + us % 10);
		us /= 10;
	}
}

/* The current time as audit_timestamp() writes it, or "" if the clock
 * failed. */
static void
now_text(struct audit *a, char text[AUDIT_TIMESTAMP_SIZE])
{
	time_text(a, 0, text);
}

static void
put_timestamp(struct json *j, const char *text)
{
	(void)JSON_KEY(j, "timestamp");
	if (text[0] != '\0')
		(void)json_string(j, text, AUDIT_TIMESTAMP_SIZE - 1);
	else
		(void)json_null(j);
}

/*
 * Room permitting, say how many events were dropped since the last time,
 * with the time ${stamp} (NULL: now).  An event passes its own time, so
 * that timestamps never go backwards from one line to the next.
 */
static void
report_drops(struct audit *a, const char *stamp)
{
	struct json *j = a->notice;
	char text[AUDIT_TIMESTAMP_SIZE];

	if (a->unreported == 0)
		return;
	if (stamp == NULL) {
		now_text(a, text);
		stamp = text;
	}
	json_reset(j);
	(void)json_object_begin(j);
	put_timestamp(j, stamp);
	put_str(j, "event", "audit_dropped");
	put_uint(j, "count", a->unreported);
	put_uint(j, "dropped_total", a->dropped_total);
	(void)json_object_end(j);
	if (append_line(a, j))
		a->unreported = 0;
}

static void
put_conn_fields(struct json *j, const struct audit_conn *c)
{
	if (c->conn_id != 0)
		put_uint(j, "conn_id", c->conn_id);
	put_str(j, "listener", c->listener);
	put_str(j, "client_addr", c->client_addr);
	if (c->client_port != 0)
		put_uint(j, "client_port", c->client_port);
	put_str(j, "backend_addr", c->backend_addr);
	if (c->backend_port != 0)
		put_uint(j, "backend_port", c->backend_port);
}

static bool
same_text(const char *cached, const char *value)
{
	if (cached == NULL || value == NULL)
		return cached == value;
	return strcmp(cached, value) == 0;
}

static void
conn_fields_clear(struct conn_fields *f)
{
	f->valid = false;
	free(f->listener);
	free(f->client_addr);
	free(f->backend_addr);
	f->listener = f->client_addr = f->backend_addr = NULL;
}

/* Copy ${value} into *${slot} (NULL stays NULL); false if out of memory. */
static bool
copy_text(char **slot, const char *value)
{
	return value == NULL || (*slot = strdup(value)) != NULL;
}

/* put_conn_fields() of ${c} as text between braces, of *${len} bytes;
 * NULL if it could not be rendered or copied. */
static const char *
conn_members(struct audit *a, const struct audit_conn *c, size_t *len)
{
	struct conn_fields *f = &a->fields;
	struct json *j = f->text;

	if (f->valid && f->conn_id == c->conn_id &&
	    f->client_port == c->client_port &&
	    f->backend_port == c->backend_port &&
	    same_text(f->listener, c->listener) &&
	    same_text(f->client_addr, c->client_addr) &&
	    same_text(f->backend_addr, c->backend_addr))
		return json_data(j, len);
	conn_fields_clear(f);
	json_reset(j);
	(void)json_object_begin(j);
	put_conn_fields(j, c);
	(void)json_object_end(j);
	if (json_data(j, len) == NULL || !copy_text(&f->listener, c->listener) ||
	    !copy_text(&f->client_addr, c->client_addr) ||
	    !copy_text(&f->backend_addr, c->backend_addr)) {
		conn_fields_clear(f);
		return NULL;
	}
	f->conn_id = c->conn_id;
	f->client_port = c->client_port;
	f->backend_port = c->backend_port;
	f->valid = true;
	return json_data(j, len);
}

/* begin() at the time already in a->stamp. */
static struct json *
begin_stamped(struct audit *a, const char *event, const struct audit_conn *c)
{
	struct json *j = a->event;
	const char *members;
	size_t len;

	json_reset(j);
	(void)json_object_begin(j);
	put_timestamp(j, a->stamp);
	put_str(j, "event", event);
	if (c == NULL)
		return j;
	if ((members = conn_members(a, c, &len)) != NULL)
		(void)json_raw_members(j, members + 1, len - 2);
	else
		put_conn_fields(j, c);
	return j;
}

/* Start the event ${event} with the fields every line has. */
static struct json *
begin(struct audit *a, const char *event, const struct audit_conn *c)
{
	now_text(a, a->stamp);
	return begin_stamped(a, event, c);
}

static void
put_tls(struct json *j, const struct audit_conn *c)
{
	size_t i;

	put_str(j, "tls_version", c->tls_version);
	put_str(j, "tls_cipher", c->tls_cipher);
	put_str(j, "peer_subject", c->peer_subject);
	if (c->peer_sans != NULL) {
		(void)JSON_KEY(j, "peer_sans");
		(void)json_array_begin(j);
		for (i = 0; i < c->n_peer_sans; i++)
			(void)json_cstring(j, c->peer_sans[i]);
		(void)json_array_end(j);
	}
	put_str(j, "peer_serial", c->peer_serial);
	put_str(j, "peer_sha256", c->peer_sha256);
}

static int
drop(struct audit *a)
{
	a->unreported++;
	a->dropped_total++;
	return -1;
}

/* Close the event begun by begin() and buffer it, after the notice of
 * earlier drops if there are any.  An event that cannot be written at all
 * (too long) does not bring the notice forward. */
static int
commit(struct audit *a)
{
	size_t len;

	if (json_object_end(a->event) < 0 ||
	    json_data(a->event, &len) == NULL)
		return drop(a);
	report_drops(a, a->stamp);
	if (!append_line(a, a->event))
		return drop(a);
	return 0;
}

/* ---- hashes computed by the worker --------------------------------------- */

/* Write the hash ${hex} over the placeholder at buf[${at}]; an empty
 * ${hex} (the hash failed) becomes null, padded with blanks to the same
 * length, which JSON allows. */
static void
write_hash(struct audit *a, size_t at, const char *hex)
{
	char *p = a->buf + at;

	if (hex[0] != '\0') {
		p[0] = '"';
		memcpy(p + 1, hex, SHA256_HEX_SIZE - 1);
		p[RENDER_HASH_FIELD_BYTES - 1] = '"';
		return;
	}
	memset(p, ' ', RENDER_HASH_FIELD_BYTES);
	memcpy(p, "null", 4);
}

/* The line at buf[${line_at}] has a placeholder for the hash of the ${len}
 * bytes at ${bytes} at buf[${hash_at}]: hand them to the worker and hold
 * the line back, or hash them here when the worker has too many bytes
 * already (or memory runs out). */
static void
hash_later(struct audit *a, size_t line_at, size_t hash_at,
    const uint8_t *bytes, size_t len)
{
	char hex[SHA256_HEX_SIZE];
	struct held_line *h, *nh;
	size_t ncap, i;
	uint64_t job;

	hash_at += line_at;
	if (a->held_count == a->held_cap) {
		ncap = a->held_cap ? a->held_cap * 2 : 16;
		if ((nh = malloc(ncap * sizeof(*nh))) == NULL)
			goto here;
		for (i = 0; i < a->held_count; i++)
			nh[i] = a->held[(a->held_head + i) % a->held_cap];
		free(a->held);
		a->held = nh;
		a->held_cap = ncap;
		a->held_head = 0;
	}
	if (hasher_submit(a->hasher, bytes, len, &job) < 0)
		goto here;
	h = &a->held[(a->held_head + a->held_count) % a->held_cap];
	h->job = job;
	h->line_at = line_at;
	h->hash_at = hash_at;
	a->held_count++;
	return;

here:
	if (sha256_hex(bytes, len, hex) < 0)
		hex[0] = '\0';
	write_hash(a, hash_at, hex);
}

/* Write in the hash of the oldest held line if the worker has it (with
 * ${wait}: once it has), releasing the line.  False: no line is held, or
 * its hash is not done and ${wait} is false. */
static bool
take_hash(struct audit *a, bool wait)
{
	char hex[SHA256_HEX_SIZE];
	struct held_line *h;
	uint64_t job;

	if (a->held_count == 0 ||
	    hasher_take(a->hasher, wait, &job, hex) != 1)
		return false;
	h = &a->held[a->held_head];
	/* Jobs come back in the order they went: job is h->job. */
	write_hash(a, h->hash_at, hex);
	a->held_head = (a->held_head + 1) % a->held_cap;
	a->held_count--;
	return true;
}

/* Write in the hashes the worker has finished, oldest first (with
 * ${wait}: all of them, waiting for the worker), releasing their lines. */
static void
collect_hashes(struct audit *a, bool wait)
{
	while (take_hash(a, wait))
		continue;
}

/* ---- message events, the many ----------------------------------------- */

/* Append the string literal ${lit} at ${p}, moving ${p} past it. */
#define PUT_LITERAL(p, lit) \
	(memcpy((p), (lit), sizeof(lit) - 1), (p) += sizeof(lit) - 1)

/* Room for all of a message line but the connection's members: the
 * literals (68 bytes), the time, three numbers and
 * render_message_fields_text(). */
#define MESSAGE_LINE_FIXED_MAX \
	(96 + AUDIT_TIMESTAMP_SIZE + 3 * JSON_NUMBER_MAX + \
	RENDER_FIELDS_TEXT_MAX)
#define MESSAGE_LINE_MAX 1024

/*
 * The message event audit_message() makes, at the time in a->stamp, put
 * together as text rather than through the JSON writer when that gives
 * the same bytes: the message has no findings and the line is short.
 * Returns 1 if the line was buffered, -1 if the event was dropped
 * (counted), 0 if the caller is to write it with the JSON writer.
 */
static int
message_line(struct audit *a, const struct audit_conn *c, uint64_t msg_seq,
    const struct analysis_message *m, const uint8_t *bytes, size_t len,
    bool later, uint64_t scan_us)
{
	char line[MESSAGE_LINE_MAX], hex[SHA256_HEX_SIZE], *start, *p;
	const char *members;
	size_t members_len, fields_len, hash_at = 0, n;
	bool direct;

	/* The writer's bound is the buffer's, which is never below this. */
	_Static_assert(MESSAGE_LINE_MAX <= AUDIT_BUFFER_MIN_BYTES,
	    "a message line always fits an audit buffer");
	if (m->n_reasons != 0 || m->n_imports != 0 || m->n_calls != 0 ||
	    m->n_hits != 0 ||
	    (members = conn_members(a, c, &members_len)) == NULL ||
	    members_len - 2 > sizeof(line) - MESSAGE_LINE_FIXED_MAX)
		return 0;
	if (later) {
		memset(hex, '0', SHA256_HEX_SIZE - 1);
		hex[SHA256_HEX_SIZE - 1] = '\0';
	} else if (bytes != NULL && sha256_hex(bytes, len, hex) < 0) {
		return drop(a);
	}
	/* Straight into the buffer when the longest line fits there as it
	 * is and no drop notice is due: what append_text() would do, less
	 * a copy. */
	direct = a->unreported == 0 && a->cap - a->end > MESSAGE_LINE_MAX;
	start = p = direct ? a->buf + a->end : line;
	PUT_LITERAL(p, "{\"timestamp\":");
	if (a->stamp[0] != '\0') {
		/* Digits and "-:.TZ" need no escape. */
		*p++ = '"';
		memcpy(p, a->stamp, AUDIT_TIMESTAMP_SIZE - 1);
		p += AUDIT_TIMESTAMP_SIZE - 1;
		*p++ = '"';
	} else {
		PUT_LITERAL(p, "null");
	}
	PUT_LITERAL(p, ",\"event\":\"message\"");
	/* The members between their braces, already JSON. */
	if (members_len > 2) {
		*p++ = ',';
		memcpy(p, members + 1, members_len - 2);
		p += members_len - 2;
	}
	PUT_LITERAL(p, ",\"msg_seq\":");
	p += json_format_uint(p, msg_seq);
	PUT_LITERAL(p, ",\"offset\":");
	p += json_format_uint(p, m->offset);
	*p++ = ',';
	fields_len = render_message_fields_text(p, m,
	    later || bytes != NULL ? hex : NULL, &hash_at);
	hash_at += (size_t)(p - start);
	p += fields_len;
	PUT_LITERAL(p, ",\"scan_us\":");
	p += json_format_uint(p, scan_us);
	*p++ = '}';
	n = (size_t)(p - start);
	if (direct) {
		a->buf[a->end + n] = '\n';
		a->end += n + 1;
	} else {
		report_drops(a, a->stamp);
		if (!append_text(a, line, n))
			return drop(a);
	}
	if (later)
		hash_later(a, a->end - n - 1, hash_at, bytes, len);
	return 1;
}

/* ---- the interface ------------------------------------------------------- */

/**
 * audit_open(path, buffer_bytes, err):
 * Open the audit log at ${path} for appending, creating it with mode 0640
 * (less the umask) if absent, or use standard output if ${path} is "-".
 * Events are buffered in at most ${buffer_bytes} bytes (at least
 * AUDIT_BUFFER_MIN_BYTES); one event line longer than that is always
 * dropped.  Returns the log, or NULL with ${err} filled (PW_IO: the file
 * cannot be opened; PW_USAGE: the buffer is too small; PW_INTERNAL: out of
 * memory).  The caller closes it with audit_close().
 */
struct audit *
audit_open(const char *path, size_t buffer_bytes, struct pw_error *err)
{
	struct audit *a;

	if (buffer_bytes < AUDIT_BUFFER_MIN_BYTES) {
		pw_error_set(err, PW_USAGE, 0, "audit buffer of %zu bytes is "
		    "below the minimum of %d", buffer_bytes,
		    AUDIT_BUFFER_MIN_BYTES);
		goto err0;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		pw_error_set(err, PW_INTERNAL, 0, "audit log: out of memory");
		goto err0;
	}
	a->fd = -1;
	a->cap = buffer_bytes;
	/* A line and its newline fit the buffer. */
	if ((a->buf = malloc(buffer_bytes)) == NULL ||
	    (a->event = json_new(buffer_bytes - 1)) == NULL ||
	    (a->notice = json_new(buffer_bytes - 1)) == NULL ||
	    (a->fields.text = json_new(buffer_bytes - 1)) == NULL ||
	    (strcmp(path, "-") != 0 && (a->path = strdup(path)) == NULL)) {
		pw_error_set(err, PW_INTERNAL, 0, "audit log: out of memory");
		goto err1;
	}
	if (a->path == NULL) {
		if (use_stdout(a, err) < 0)
			goto err1;
	} else {
		if ((a->fd = open_path(path, err)) < 0)
			goto err1;
		a->owns_fd = true;
		a->writer = WRITE_PLAIN;
		a->pollable = fd_is_pollable(a->fd);
	}
	return a;

err1:
	json_free(a->fields.text);
	json_free(a->notice);
	json_free(a->event);
	free(a->buf);
	free(a->path);
	free(a);
err0:
	return NULL;
}

/**
 * audit_close(a):
 * Write what the file takes of the buffered events without waiting (see
 * audit_drain() to wait first), then close the file (never standard
 * output itself) and free ${a}.  NULL is a no-op.
 */
void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	a->blocked = false;
	collect_hashes(a, true);
	report_drops(a, NULL);
	(void)write_out(a);
	hasher_free(a->hasher);
	free(a->held);
	if (a->owns_fd)
		close(a->fd);
	conn_fields_clear(&a->fields);
	json_free(a->fields.text);
	json_free(a->notice);
	json_free(a->event);
	free(a->buf);
	free(a->path);
	free(a);
}

/**
 * audit_reopen(a, err):
 * Open the path of ${a} again and write to the new file from now on, for
 * log rotation: after the old file was renamed, the log continues in a
 * new file at the path.  Buffered events are kept and go to the new file;
 * a line whose first bytes already went to the old file is finished there
 * if it can be without waiting, and otherwise dropped and counted.  For
 * standard output it does nothing.  Returns 0, or -1 with ${err} filled
 * (PW_IO) if the path cannot be opened; the old file is then kept.
 */
int
audit_reopen(struct audit *a, struct pw_error *err)
{
	int fd;

	if (a->path == NULL)
		return 0;
	if ((fd = open_path(a->path, err)) < 0)
		return -1;
	finish_line(a);
	close(a->fd);
	a->fd = fd;
	a->pollable = fd_is_pollable(fd);
	a->blocked = false;
	return 0;
}

/**
 * audit_flush(a, err):
 * Write in the hashes the worker has finished (audit_hash_offload()), then
 * write buffered events to the file until the buffer is empty, or holds
 * only a line still waiting for its hash and the lines after it, or the
 * file would block.  Returns 0 if the file took all it could be given, 1
 * if bytes remain because the file is full (wait for
 * audit_fd_wants_write()), or -1 with ${err} filled (PW_IO) on a write
 * error (EPIPE, ENOSPC, EIO, ...); the unwritten bytes are kept and
 * retried by the next call, and events that no longer fit meanwhile are
 * dropped and counted.
 */
int
audit_flush(struct audit *a, struct pw_error *err)
{
	int r, saved_errno;

	collect_hashes(a, false);
	r = write_out(a);
	saved_errno = errno;
	a->blocked = r != 0;
	/* Room was made: the notice of drops need not wait for an event. */
	if (a->unreported > 0) {
		report_drops(a, NULL);
		if (r == 0) {
			r = write_out(a);
			saved_errno = errno;
			a->blocked = r != 0;
		}
	}
	if (r < 0)
		return pw_error_set(err, PW_IO, 0, "audit log %s: %s",
		    sink_name(a), strerror(saved_errno));
	return r;
}

static int64_t
monotonic_ms(void)
{
	struct timespec now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/**
 * audit_drain(a, timeout_ms, err):
 * audit_flush() repeatedly, waiting up to ${timeout_ms} milliseconds in
 * all for the file to take the buffered events, after waiting for the
 * hashes being computed: for shutdown, when the loop no longer runs.
 * Returns as audit_flush() does (1: the time ran out).
 */
int
audit_drain(struct audit *a, int timeout_ms, struct pw_error *err)
{
	int64_t deadline = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int64_t left;
	struct pollfd pfd;
	int r;

	/* Hashing is work already begun and bounded: its lines are
	 * finished before the file is waited for. */
	collect_hashes(a, true);
	for (;;) {
		if ((r = audit_flush(a, err)) != 1)
			return r;
		left = deadline - monotonic_ms();
		if (left <= 0 || !a->pollable)
			return 1;
		pfd.fd = a->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left) < 0 &&
		    errno != EINTR)
			return pw_error_set(err, PW_IO, 0, "audit log %s: %s",
			    sink_name(a), strerror(errno));
	}
}

/**
 * audit_fd_wants_write(a):
 * The descriptor the event loop should wait on for writability, or -1 if
 * there is nothing to wait for: the buffer is empty, or the file is one
 * that epoll cannot watch and that is always writable (a regular file,
 * /dev/null).
 */
int
audit_fd_wants_write(const struct audit *a)
{
	return a->pollable && a->start < writable_end(a) ? a->fd : -1;
}

/**
 * audit_dropped_total(a):
 * How many events ${a} has dropped since it was opened.
 */
uint64_t
audit_dropped_total(const struct audit *a)
{
	return a->dropped_total;
}

/**
 * audit_hash_offload(a, min_bytes, max_bytes, err):
 * From now on, hash the messages of at least ${min_bytes} on a worker
 * thread holding copies of at most ${max_bytes} bytes at a time (beyond
 * that, a message is hashed at once, as before).  A message event then
 * waits in the buffer, and the events after it with it, until its hash is
 * in; audit_hash_fd() says when some are.  When the buffer fills behind
 * such a line, the next event waits for the worker rather than being
 * dropped (the file being full still drops events).  Returns 0, or -1
 * with ${err}
 * set if the worker could not be started (nothing changes then).
 */
int
audit_hash_offload(struct audit *a, size_t min_bytes, size_t max_bytes,
    struct pw_error *err)
{
	if (a->hasher != NULL)
		return 0;
	if ((a->hasher = hasher_new(max_bytes, err)) == NULL)
		return -1;
	a->hash_min_bytes = min_bytes;
	return 0;
}

/**
 * audit_hash_fd(a):
 * The descriptor that polls readable when the worker has finished hashes,
 * for the event loop to call audit_flush(); -1 without a worker.
 */
int
audit_hash_fd(const struct audit *a)
{
	return a->hasher != NULL ? hasher_fd(a->hasher) : -1;
}

/**
 * audit_conn_open(a, c):
 * Log that the connection ${c} was accepted ("conn_open").
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int
audit_conn_open(struct audit *a, const struct audit_conn *c)
{
	(void)begin(a, "conn_open", c);
	return commit(a);
}

/**
 * audit_tls(a, c):
 * Log the completed TLS handshake of ${c} ("tls"): version, cipher and
 * the peer's certificate identity as far as ${c} has them.
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int
audit_tls(struct audit *a, const struct audit_conn *c)
{
	put_tls(begin(a, "tls", c), c);
	return commit(a);
}

/**
 * audit_message(a, c, msg_seq, m, bytes, len, scan_us):
 * Log the verdict on message ${m}, number ${msg_seq} (from 1) of
 * connection ${c} ("message"): "msg_seq", "offset", then the fields that
 * `picklewall scan` writes under the same names ("length", "sha256",
 * "protocol", "kind", "verdict", "reasons", "imports", "calls", "rules";
 * see render.h), then "scan_us", the time the analysis took.  ${bytes}
 * holds the ${len} bytes of the whole message (header included) for its
 * SHA-256, or is NULL if they were not kept ("sha256": null).
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int
audit_message(struct audit *a, const struct audit_conn *c, uint64_t msg_seq,
    const struct analysis_message *m, const uint8_t *bytes, size_t len,
    uint64_t scan_us)
{
	return audit_message_at(a, c, msg_seq, m, bytes, len, scan_us, 0);
}

/**
 * audit_message_at(a, c, msg_seq, m, bytes, len, scan_us, mono_ns):
 * audit_message() of an event that happened at ${mono_ns}, a reading of
 * CLOCK_MONOTONIC in nanoseconds (0: now), such as the end of the
 * analysis that the caller has just timed.  Its timestamp is the wall
 * clock at that instant, from an offset between the two clocks read at
 * most a millisecond before: one clock read less per message.
 */
int
audit_message_at(struct audit *a, const struct audit_conn *c,
    uint64_t msg_seq, const struct analysis_message *m, const uint8_t *bytes,
    size_t len, uint64_t scan_us, uint64_t mono_ns)
{
	struct json *j;
	bool later = bytes != NULL && a->hasher != NULL &&
	    len >= a->hash_min_bytes;
	size_t hash_at = 0, line_len;
	int r;

	time_text(a, mono_ns, a->stamp);
	if ((r = message_line(a, c, msg_seq, m, bytes, len, later,
	    scan_us)) != 0)
		return r > 0 ? 0 : -1;
	j = begin_stamped(a, "message", c);
	put_uint(j, "msg_seq", msg_seq);
	put_uint(j, "offset", m->offset);
	if (later ? render_message_fields_hash_later(j, m, &hash_at) < 0 :
	    render_message_fields(j, m, bytes, len) < 0)
		return drop(a);
	put_uint(j, "scan_us", scan_us);
	if (commit(a) < 0)
		return -1;
	if (later) {
		/* commit() appended the line last, with its newline. */
		(void)json_data(j, &line_len);
		hash_later(a, a->end - line_len - 1, hash_at, bytes, len);
	}
	return 0;
}

/**
 * audit_conn_close(a, c, totals):
 * Log the end of connection ${c} with its ${totals} ("conn_close").
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int
audit_conn_close(struct audit *a, const struct audit_conn *c,
    const struct audit_close *totals)
{
	struct json *j = begin(a, "conn_close", c);

	put_tls(j, c);
	put_uint(j, "bytes_from_client", totals->bytes_from_client);
	put_uint(j, "bytes_to_backend", totals->bytes_to_backend);
	put_uint(j, "bytes_from_backend", totals->bytes_from_backend);
	put_uint(j, "bytes_to_client", totals->bytes_to_client);
	put_uint(j, "messages_from_client", totals->messages_from_client);
	put_uint(j, "messages_to_backend", totals->messages_to_backend);
	put_uint(j, "duration_us", totals->duration_us);
	put_str(j, "reason", totals->reason);
	return commit(a);
}

/**
 * audit_reload(a, listener, rules, generation):
 * Log that ${listener} has read its files anew ("reload"): its rule file
 * ${rules} (NULL: none), certificates, keys, CA and CRL files.  The
 * connections it accepts from now use them all; its live connections
 * decide their next message with the new rules.  ${generation} counts the
 * listener's loads (1: the one at startup).
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int
audit_reload(struct audit *a, const char *listener, const char *rules,
    uint64_t generation)
{
	struct json *j = begin(a, "reload", NULL);

	put_str(j, "listener", listener);
	put_str(j, "rules", rules);
	put_uint(j, "generation", generation);
	return commit(a);
}

/**
 * audit_error(a, c, code, detail):
 * Log a failure ("error"): "code" is pw_code_name(${code}), "detail" the
 * text ${detail} (NULL: left out).  ${c} is the connection concerned, or
 * NULL for a failure outside any connection.
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int
audit_error(struct audit *a, const struct audit_conn *c, enum pw_code code,
    const char *detail)
{
	struct json *j = begin(a, "error", c);

	put_str(j, "code", pw_code_name(code));
	put_str(j, "detail", detail);
	return commit(a);
}
