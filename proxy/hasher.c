#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hasher.h"

struct job {
	struct job *next;
	uint64_t id;
	bool done;
	char hex[SHA256_HEX_SIZE];
	size_t len;
	uint8_t bytes[];
};

struct hasher {
	pthread_t worker;
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* the worker: a job, or stop */
	pthread_cond_t done;		/* the owner: a job is done */
	int event_fd;

	/* Under lock.  Jobs in submission order: the worker hashes the
	 * first not done, the owner takes from the head. */
	struct job *head, *tail, *next_undone;
	size_t held_bytes, max_bytes, n_jobs;
	bool stop;

	uint64_t last_id;		/* the owner's alone */
};

static void *
work(void *cookie)
{
	struct hasher *h = cookie;
	struct job *j;
	uint64_t one = 1;
	ssize_t n;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (h->next_undone == NULL && !h->stop)
			pthread_cond_wait(&h->wake, &h->lock);
		if ((j = h->next_undone) == NULL)
			break;
		h->next_undone = j->next;
		/* The bytes are the job's own, and the owner leaves a job
		 * alone until it is done: hash without the lock. */
		pthread_mutex_unlock(&h->lock);
		if (sha256_hex(j->bytes, j->len, j->hex) < 0)
			j->hex[0] = '\0';
		pthread_mutex_lock(&h->lock);
		j->done = true;
		pthread_cond_signal(&h->done);
		do
			n = write(h->event_fd, &one, sizeof(one));
		while (n < 0 && errno == EINTR);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/**
 * hasher_new(max_bytes, err):
 * Start a worker that holds at most ${max_bytes} bytes of jobs at a time.
 * Returns the hasher, or NULL with ${err} set (out of memory, or no
 * thread could be started).
 */
struct hasher *
hasher_new(size_t max_bytes, struct pw_error *err)
{
	struct hasher *h;
	sigset_t all, old;
	int rc;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		pw_error_set(err, PW_INTERNAL, 0, "hasher: out of memory");
		goto err0;
	}
	h->max_bytes = max_bytes;
	if ((h->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		pw_error_set(err, PW_INTERNAL, 0, "hasher: eventfd: %s",
		    strerror(errno));
		goto err1;
	}
	if (pthread_mutex_init(&h->lock, NULL) != 0 ||
	    pthread_cond_init(&h->wake, NULL) != 0 ||
	    pthread_cond_init(&h->done, NULL) != 0) {
		pw_error_set(err, PW_INTERNAL, 0, "hasher: out of memory");
		goto err2;
	}
	/* The worker takes no signal: the process reads its signals from
	 * a signalfd, which sees only those blocked in every thread, and
	 * a thread that left one unblocked would die of it instead. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&h->worker, NULL, work, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pw_error_set(err, PW_INTERNAL, 0, "hasher: thread: %s",
		    strerror(rc));
		goto err2;
	}
	return h;

err2:
	close(h->event_fd);
err1:
	free(h);
err0:
	return NULL;
}

/**
 * hasher_free(h):
 * Stop the worker (after the jobs it has) and release ${h} with every job
 * not taken back; NULL is a no-op.
 */
void
hasher_free(struct hasher *h)
{
	struct job *j, *next;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->worker, NULL);
	for (j = h->head; j != NULL; j = next) {
		next = j->next;
		free(j);
	}
	pthread_cond_destroy(&h->done);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	close(h->event_fd);
	free(h);
}

/**
 * hasher_fd(h):
 * A descriptor that polls readable when a job is done; hasher_take()
 * clears it.
 */
int
hasher_fd(const struct hasher *h)
{
	return h->event_fd;
}

/**
 * hasher_submit(h, bytes, len, id):
 * Queue a copy of the ${len} bytes at ${bytes}; *${id} is set to the job's
 * number (1, 2, ... in submission order).  Returns 0, or -1 if the job
 * would take the bytes held past the bound, or out of memory (nothing is
 * queued then).
 */
int
hasher_submit(struct hasher *h, const uint8_t *bytes, size_t len,
    uint64_t *id)
{
	struct job *j;
	bool fits;

	pthread_mutex_lock(&h->lock);
	fits = len <= h->max_bytes - h->held_bytes;
	pthread_mutex_unlock(&h->lock);
	/* Only this thread adds to held_bytes: if it fits now, it still
	 * does when the job is queued. */
	if (!fits || len > SIZE_MAX - sizeof(*j) ||
	    (j = malloc(sizeof(*j) + len)) == NULL)
		return -1;
	memcpy(j->bytes, bytes, len);
	j->len = len;
	j->done = false;
	j->next = NULL;
	j->id = *id = ++h->last_id;
	pthread_mutex_lock(&h->lock);
	if (h->tail != NULL)
		h->tail->next = j;
	else
		h->head = j;
	h->tail = j;
	if (h->next_undone == NULL)
		h->next_undone = j;
	h->held_bytes += len;
	h->n_jobs++;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/**
 * hasher_take(h, wait, id, hex):
 * Take back the oldest job if it is done: its number in *${id} and its
 * hash in ${hex} ("" if it could not be computed).  With ${wait}, wait
 * for it to be done.  Returns 1 if a job was taken, 0 if none is done
 * (or, with ${wait}, none is queued).
 */
int
hasher_take(struct hasher *h, bool wait, uint64_t *id,
    char hex[SHA256_HEX_SIZE])
{
	struct job *j;
	uint64_t count;
	ssize_t n;

	/* Cleared before looking, so that a job done after the look sets
	 * it again. */
	do
		n = read(h->event_fd, &count, sizeof(count));
	while (n < 0 && errno == EINTR);
	pthread_mutex_lock(&h->lock);
	while (wait && h->head != NULL && !h->head->done)
		pthread_cond_wait(&h->done, &h->lock);
	if ((j = h->head) == NULL || !j->done) {
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	if ((h->head = j->next) == NULL)
		h->tail = NULL;
	h->n_jobs--;
	h->held_bytes -= j->len;
	pthread_mutex_unlock(&h->lock);
	*id = j->id;
	memcpy(hex, j->hex, SHA256_HEX_SIZE);
	free(j);
	return 1;
}

/**
 * hasher_pending(h):
 * The number of jobs submitted and not yet taken back.
 */
size_t
hasher_pending(const struct hasher *h)
{
	/* n_jobs changes only on this thread. */
	return h->n_jobs;
}
