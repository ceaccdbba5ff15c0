/*
 * bench_pvm: analyzer throughput over the message sets that
 * bench/gen_messages.py wrote.
 *
 * usage: bench_pvm [-t min_seconds] [-r repeats] [-s class-size] manifest.tsv
 *
 * For every set in the manifest (or only the one named by -s: bench.mk
 * times one set in C, then the same set in Python, so that both see the
 * same machine load) it first checks, untimed, that each message
 * is analyzed to PVM_DONE with every byte consumed, no reason recorded and,
 * for a pure-data set, no import and no call; anything else aborts the run,
 * since a throughput over failing input means nothing.  It then times, as
 * the best of ${repeats} samples of at least ${min_seconds} each:
 *   - pvm_begin + one pvm_feed of each whole message (the proxy's path);
 *   - for sets marked memcpy, memcpy of the same bytes (memory speed);
 *   - for sets marked stream1, the same messages fed one byte per call;
 *   - the UTF-8 check of the str payloads alone (pvm_text_is_utf8, as the
 *     analyzer calls it, on the same bytes in place; where they lie is in
 *     the set's .strs file): a bound on the analyzer's speed, since it
 *     cannot do less than that.
 * Results go to stdout, one JSON object per line and set, and a summary
 * line per set to stderr.  Clock: CLOCK_MONOTONIC.  MB = 10^6 bytes.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pvm.h"
#include "pvm_text.h"

#define SET_MAGIC "PWBENCH1"
#define SET_MAGIC_BYTES 8
#define STRS_MAGIC "PWSTRS01"
#define STRS_MAGIC_BYTES 8
#define MANIFEST_LINE_MAX 4096
#define NAME_MAX_BYTES 32

struct message {
	const uint8_t *bytes;
	size_t len;
};

/* The UTF-8 payload of one str opcode, inside a message. */
struct str_span {
	const uint8_t *bytes;
	size_t len;
};

/* One line of the manifest and the messages of its file. */
struct msgset {
	char class_name[NAME_MAX_BYTES];
	char size_label[NAME_MAX_BYTES];
	uint64_t target_bytes;
	bool pure;		/* no import or call may be found */
	bool memcpy_baseline;	/* also time memcpy over the bytes */
	bool stream1;		/* also time one byte per pvm_feed */
	uint8_t *file;		/* the whole file; messages point into it */
	struct message *messages;
	size_t n_messages;
	uint64_t total_bytes;
	size_t max_len;
	struct str_span *strs;	/* of every message, in order */
	size_t n_strs;
	uint64_t str_bytes;
};

/* What the untimed check pass found over a whole set. */
struct findings {
	uint64_t opcodes, imports, calls;
	int protocol;		/* of the last message */
};

/*
 * A timed loop: one pass over ${set}; returns 0, or -1 on a bad status with
 * the message's index in *failed_at.
 */
struct timed {
	const char *what;
	struct pvm *vm;
	const struct msgset *set;
	uint8_t *scratch;	/* memcpy destination, set->max_len bytes */
	int (*pass)(const struct timed *, size_t *failed_at);
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
    noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_pvm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	exit(EXIT_FAILURE);
}

static double
now_seconds(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime: %s", strerror(errno));
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t
read_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* Class and size names go into JSON unescaped, so they must be plain. */
static int
copy_name(char *dst, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0'; i++) {
		if (i + 1 >= NAME_MAX_BYTES)
			return -1;
		if (!((src[i] >= 'a' && src[i] <= 'z') ||
		    (src[i] >= 'A' && src[i] <= 'Z') ||
		    (src[i] >= '0' && src[i] <= '9') || src[i] == '_' ||
		    src[i] == '-'))
			return -1;
		dst[i] = src[i];
	}
	dst[i] = '\0';
	return i == 0 ? -1 : 0;
}

/*
 * load_set(set, path):
 * Read the message file ${path} into ${set}: "PWBENCH1", u32 LE count, then
 * per message u32 LE length and bytes, nothing after.  Dies on any error.
 */
static void
load_set(struct msgset *set, const char *path)
{
	FILE *f;
	long size;
	size_t file_len, pos, i;
	uint32_t count;

	if ((f = fopen(path, "rb")) == NULL)
		die("%s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		die("%s: cannot size: %s", path, strerror(errno));
	file_len = (size_t)size;
	if (file_len < SET_MAGIC_BYTES + 4)
		die("%s: too short for a message set", path);
	if ((set->file = malloc(file_len)) == NULL)
		die("out of memory for %s", path);
	if (fread(set->file, 1, file_len, f) != file_len)
		die("%s: short read", path);
	fclose(f);
	if (memcmp(set->file, SET_MAGIC, SET_MAGIC_BYTES) != 0)
		die("%s: not a " SET_MAGIC " file", path);
	count = read_u32le(set->file + SET_MAGIC_BYTES);
	if (count == 0 || count > (file_len - SET_MAGIC_BYTES - 4) / 4)
		die("%s: bad message count %u", path, (unsigned)count);
	if ((set->messages = calloc(count, sizeof(*set->messages))) == NULL)
		die("out of memory for %s", path);
	pos = SET_MAGIC_BYTES + 4;
	for (i = 0; i < count; i++) {
		uint32_t len;

		if (file_len - pos < 4)
			die("%s: message %zu: truncated length", path, i);
		len = read_u32le(set->file + pos);
		pos += 4;
		if (len == 0 || file_len - pos < len)
			die("%s: message %zu: bad length %u", path, i,
			    (unsigned)len);
		set->messages[i].bytes = set->file + pos;
		set->messages[i].len = len;
		pos += len;
		set->total_bytes += len;
		if (len > set->max_len)
			set->max_len = len;
	}
	if (pos != file_len)
		die("%s: %zu bytes after the last message", path,
		    file_len - pos);
	set->n_messages = count;
}

/*
 * load_strs(set, msgs_path):
 * Read where the str payloads of ${set}'s messages lie, from the file next
 * to ${msgs_path} named *.strs: "PWSTRS01", u32 LE count (as many as
 * messages), then per message u32 LE n and n pairs of u32 LE offset and
 * length inside it.  Dies on any error.
 */
static void
load_strs(struct msgset *set, const char *msgs_path)
{
	char path[MANIFEST_LINE_MAX];
	uint8_t head[STRS_MAGIC_BYTES + 4], word[8];
	size_t n = strlen(msgs_path), i, k;
	uint32_t count, spans, off, len;
	FILE *f;

	if (n < 5 || strcmp(msgs_path + n - 5, ".msgs") != 0 ||
	    n >= sizeof(path))
		die("%s: not a .msgs path", msgs_path);
	memcpy(path, msgs_path, n - 5);
	memcpy(path + n - 5, ".strs", 6);
	if ((f = fopen(path, "rb")) == NULL)
		die("%s: %s", path, strerror(errno));
	if (fread(head, 1, sizeof(head), f) != sizeof(head) ||
	    memcmp(head, STRS_MAGIC, STRS_MAGIC_BYTES) != 0)
		die("%s: not a " STRS_MAGIC " file", path);
	count = read_u32le(head + STRS_MAGIC_BYTES);
	if (count != set->n_messages)
		die("%s: %u messages, the set has %zu", path, (unsigned)count,
		    set->n_messages);
	for (i = 0; i < set->n_messages; i++) {
		const struct message *m = &set->messages[i];
		struct str_span *grown;

		if (fread(word, 1, 4, f) != 4)
			die("%s: message %zu: truncated", path, i);
		spans = read_u32le(word);
		if (spans > m->len)
			die("%s: message %zu: %u strs", path, i,
			    (unsigned)spans);
		grown = realloc(set->strs, (set->n_strs + spans) *
		    sizeof(*set->strs));
		if (grown == NULL && set->n_strs + spans != 0)
			die("out of memory for %s", path);
		set->strs = grown;
		for (k = 0; k < spans; k++) {
			if (fread(word, 1, 8, f) != 8)
				die("%s: message %zu: truncated", path, i);
			off = read_u32le(word);
			len = read_u32le(word + 4);
			if (off > m->len || len > m->len - off)
				die("%s: message %zu: str %zu out of bounds",
				    path, i, k);
			set->strs[set->n_strs].bytes = m->bytes + off;
			set->strs[set->n_strs].len = len;
			set->n_strs++;
			set->str_bytes += len;
		}
	}
	if (fread(word, 1, 1, f) != 0)
		die("%s: bytes after the last message", path);
	fclose(f);
}

/*
 * parse_manifest_line(set, line, lineno, only):
 * Fill ${set} from one manifest line "class size target pure memcpy
 * stream1 path" (tab-separated) and load its messages.  Returns false,
 * loading nothing, if ${only} is not NULL and names another set.
 */
static bool
parse_manifest_line(struct msgset *set, char *line, unsigned lineno,
    const char *only)
{
	char name[2 * NAME_MAX_BYTES];
	char *field[7];
	char *save = NULL, *end;
	size_t n;

	memset(set, 0, sizeof(*set));
	for (n = 0; n < 7; n++) {
		field[n] = strtok_r(n == 0 ? line : NULL, "\t\n", &save);
		if (field[n] == NULL)
			die("manifest line %u: %zu fields, want 7", lineno, n);
	}
	if (strtok_r(NULL, "\t\n", &save) != NULL)
		die("manifest line %u: more than 7 fields", lineno);
	if (copy_name(set->class_name, field[0]) != 0 ||
	    copy_name(set->size_label, field[1]) != 0)
		die("manifest line %u: bad class or size name", lineno);
	errno = 0;
	set->target_bytes = strtoull(field[2], &end, 10);
	if (errno != 0 || *end != '\0' || set->target_bytes == 0)
		die("manifest line %u: bad target_bytes", lineno);
	for (n = 3; n < 6; n++)
		if (strcmp(field[n], "0") != 0 && strcmp(field[n], "1") != 0)
			die("manifest line %u: field %zu is not 0 or 1",
			    lineno, n + 1);
	set->pure = field[3][0] == '1';
	set->memcpy_baseline = field[4][0] == '1';
	set->stream1 = field[5][0] == '1';
	snprintf(name, sizeof(name), "%s-%s", set->class_name,
	    set->size_label);
	if (only != NULL && strcmp(only, name) != 0)
		return false;
	load_set(set, field[6]);
	load_strs(set, field[6]);
	return true;
}

static void
describe_reasons(const struct msgset *set, size_t i,
    const struct pvm_report *r)
{
	size_t k;

	for (k = 0; k < r->n_reasons; k++)
		fprintf(stderr, "bench_pvm: %s %s message %zu: reason %s at "
		    "%llu: %s\n", set->class_name, set->size_label, i,
		    pw_code_name(r->reasons[k].code),
		    (unsigned long long)r->reasons[k].pos,
		    r->reasons[k].detail != NULL ? r->reasons[k].detail : "");
	for (k = 0; k < r->n_imports && k < 5; k++)
		fprintf(stderr, "bench_pvm: %s %s message %zu: import %.*s "
		    "%.*s at %llu\n", set->class_name, set->size_label, i,
		    (int)r->imports[k].module.len, r->imports[k].module.ptr,
		    (int)r->imports[k].name.len, r->imports[k].name.ptr,
		    (unsigned long long)r->imports[k].pos);
	for (k = 0; k < r->n_calls && k < 5; k++)
		fprintf(stderr, "bench_pvm: %s %s message %zu: call op 0x%02x "
		    "%.*s at %llu\n", set->class_name, set->size_label, i,
		    r->calls[k].op,
		    r->calls[k].callable.ptr != NULL ?
		    (int)r->calls[k].callable.len : 1,
		    r->calls[k].callable.ptr != NULL ?
		    r->calls[k].callable.ptr : "?",
		    (unsigned long long)r->calls[k].pos);
}

/*
 * check_message(vm, set, i, one_byte, f):
 * Analyze message ${i} of ${set} whole (or ${one_byte} per call) and die
 * unless it ends in PVM_DONE on its last byte with a clean report; add its
 * counts to ${f}.
 */
static void
check_message(struct pvm *vm, const struct msgset *set, size_t i,
    bool one_byte, struct findings *f)
{
	const struct message *m = &set->messages[i];
	const struct pvm_report *r;
	enum pvm_status st = PVM_NEED_MORE;
	size_t pos = 0, step, used;

	pvm_begin(vm);
	while (pos < m->len) {
		step = one_byte ? 1 : m->len - pos;
		used = 0;
		st = pvm_feed(vm, m->bytes + pos, step, &used);
		if (used > step)
			die("%s %s message %zu: pvm_feed consumed %zu of %zu",
			    set->class_name, set->size_label, i, used, step);
		pos += used;
		if (st != PVM_NEED_MORE)
			break;
		if (used != step)
			die("%s %s message %zu: NEED_MORE after %zu of %zu "
			    "bytes", set->class_name, set->size_label, i, used,
			    step);
	}
	r = pvm_report(vm);
	if (st != PVM_DONE || pos != m->len || !r->complete || r->failed ||
	    r->length != m->len || r->n_reasons != 0 ||
	    (set->pure && (r->n_imports != 0 || r->n_calls != 0))) {
		describe_reasons(set, i, r);
		die("%s %s message %zu (%zu bytes%s): status %s, consumed "
		    "%zu, report length %llu complete %d failed %d, %zu "
		    "reasons, %zu imports, %zu calls%s", set->class_name,
		    set->size_label, i, m->len, one_byte ? ", 1-byte feeds" :
		    "", st == PVM_DONE ? "DONE" : st == PVM_FAILED ? "FAILED" :
		    "NEED_MORE", pos, (unsigned long long)r->length,
		    r->complete, r->failed, r->n_reasons, r->n_imports,
		    r->n_calls, set->pure ? " (a pure-data set must have "
		    "none)" : "");
	}
	f->opcodes += r->opcodes;
	f->imports += r->n_imports;
	f->calls += r->n_calls;
	f->protocol = r->protocol;
	if (pvm_finish(vm) != PVM_DONE)
		die("%s %s message %zu: pvm_finish after DONE is not DONE",
		    set->class_name, set->size_label, i);
}

static int
pass_whole(const struct timed *t, size_t *failed_at)
{
	const struct msgset *set = t->set;
	size_t i, used;

	for (i = 0; i < set->n_messages; i++) {
		pvm_begin(t->vm);
		if (pvm_feed(t->vm, set->messages[i].bytes,
		    set->messages[i].len, &used) != PVM_DONE) {
			*failed_at = i;
			return -1;
		}
	}
	return 0;
}

static int
pass_one_byte(const struct timed *t, size_t *failed_at)
{
	const struct msgset *set = t->set;
	const uint8_t *p;
	size_t i, k, len, used;

	for (i = 0; i < set->n_messages; i++) {
		p = set->messages[i].bytes;
		len = set->messages[i].len;
		pvm_begin(t->vm);
		for (k = 0; k + 1 < len; k++)
			if (pvm_feed(t->vm, p + k, 1, &used) != PVM_NEED_MORE)
				goto fail;
		if (pvm_feed(t->vm, p + k, 1, &used) != PVM_DONE)
			goto fail;
	}
	return 0;

fail:
	*failed_at = i;
	return -1;
}

static int
pass_memcpy(const struct timed *t, size_t *failed_at)
{
	const struct msgset *set = t->set;
	size_t i;

	for (i = 0; i < set->n_messages; i++) {
		memcpy(t->scratch, set->messages[i].bytes,
		    set->messages[i].len);
		/* The copy is never read: make the compiler keep it. */
		__asm__ __volatile__("" : : "r"(t->scratch) : "memory");
	}
	(void)failed_at;
	return 0;
}

static int
pass_strcheck(const struct timed *t, size_t *failed_at)
{
	const struct msgset *set = t->set;
	size_t i;

	for (i = 0; i < set->n_strs; i++)
		if (!pvm_text_is_utf8((const char *)set->strs[i].bytes,
		    set->strs[i].len, true))
			goto fail;
	return 0;

fail:
	*failed_at = i;
	return -1;
}

/* A timed pass saw a status that the check pass did not: say all we know. */
static void
die_timed(const struct timed *t, size_t i)
{
	const struct pvm_report *r = pvm_report(t->vm);

	if (t->pass == pass_strcheck)
		die("%s %s: str %zu of %zu bytes is not UTF-8",
		    t->set->class_name, t->set->size_label, i,
		    t->set->strs[i].len);
	describe_reasons(t->set, i, r);
	die("%s %s: %s: message %zu (%zu bytes) did not end in DONE while "
	    "timing, though it did when checked: report length %llu, %llu "
	    "opcodes, complete %d, failed %d, %zu reasons", t->set->class_name,
	    t->set->size_label, t->what, i, t->set->messages[i].len,
	    (unsigned long long)r->length, (unsigned long long)r->opcodes,
	    r->complete, r->failed, r->n_reasons);
}

/*
 * best_pass_seconds(t, min_seconds, repeats, passes_out):
 * Time ${t}'s pass: each of ${repeats} samples runs whole passes until
 * ${min_seconds} have elapsed.  Returns the best (smallest) seconds per
 * pass; *${passes_out} is the number of passes of that sample.
 */
static double
best_pass_seconds(const struct timed *t, double min_seconds, int repeats,
    uint64_t *passes_out)
{
	double best = -1, start, elapsed, per_pass;
	uint64_t passes;
	size_t failed_at = 0;
	int s;

	/* One untimed pass brings the bytes and the code into cache. */
	if (t->pass(t, &failed_at) != 0)
		die_timed(t, failed_at);
	for (s = 0; s < repeats; s++) {
		passes = 0;
		start = now_seconds();
		do {
			if (t->pass(t, &failed_at) != 0)
				die_timed(t, failed_at);
			passes++;
			elapsed = now_seconds() - start;
		} while (elapsed < min_seconds);
		per_pass = elapsed / (double)passes;
		if (best < 0 || per_pass < best) {
			best = per_pass;
			*passes_out = passes;
		}
	}
	return best;
}

static void
print_rate(FILE *out, const char *key, double seconds, double units)
{
	fprintf(out, ", \"%s\": %.6g", key, units / seconds);
}

/*
 * bench_set(vm, set, min_seconds, repeats, out):
 * Check and time ${set}; write its JSON object, one line, to ${out}.
 */
static void
bench_set(struct pvm *vm, const struct msgset *set, double min_seconds,
    int repeats, FILE *out)
{
	double load[1] = {-1};
	struct findings whole = {0, 0, 0, 0}, bytewise = {0, 0, 0, 0};
	struct timed t = {"whole", vm, set, NULL, pass_whole};
	double whole_s, memcpy_s = 0, stream1_s = 0, strcheck_s = 0;
	double mb = (double)set->total_bytes / 1e6;
	uint64_t passes, memcpy_passes = 0, stream1_passes = 0;
	uint64_t strcheck_passes = 0;
	size_t i;

	/* Before timing: our own run would count in a later reading. */
	if (getloadavg(load, 1) != 1)
		load[0] = -1;
	for (i = 0; i < set->n_messages; i++)
		check_message(vm, set, i, false, &whole);
	if (set->stream1) {
		for (i = 0; i < set->n_messages; i++)
			check_message(vm, set, i, true, &bytewise);
		if (bytewise.opcodes != whole.opcodes ||
		    bytewise.imports != whole.imports ||
		    bytewise.calls != whole.calls)
			die("%s %s: 1-byte feeds report %llu opcodes, %llu "
			    "imports, %llu calls; whole messages %llu, %llu, "
			    "%llu", set->class_name, set->size_label,
			    (unsigned long long)bytewise.opcodes,
			    (unsigned long long)bytewise.imports,
			    (unsigned long long)bytewise.calls,
			    (unsigned long long)whole.opcodes,
			    (unsigned long long)whole.imports,
			    (unsigned long long)whole.calls);
	}

	whole_s = best_pass_seconds(&t, min_seconds, repeats, &passes);
	if (set->memcpy_baseline) {
		if ((t.scratch = malloc(set->max_len)) == NULL)
			die("out of memory for the memcpy baseline");
		t.what = "memcpy";
		t.pass = pass_memcpy;
		memcpy_s = best_pass_seconds(&t, min_seconds, repeats,
		    &memcpy_passes);
		free(t.scratch);
		t.scratch = NULL;
	}
	if (set->stream1) {
		t.what = "1-byte feeds";
		t.pass = pass_one_byte;
		stream1_s = best_pass_seconds(&t, min_seconds, repeats,
		    &stream1_passes);
	}

	if (set->n_strs != 0) {
		t.what = "str check";
		t.pass = pass_strcheck;
		strcheck_s = best_pass_seconds(&t, min_seconds, repeats,
		    &strcheck_passes);
	}

	fprintf(stderr, "bench_pvm: %-10s %-5s %5zu msgs %9.1f MB/s "
	    "%10.0f msgs/s  %llu opcodes, %llu imports, %llu calls",
	    set->class_name, set->size_label, set->n_messages, mb / whole_s,
	    (double)set->n_messages / whole_s,
	    (unsigned long long)whole.opcodes,
	    (unsigned long long)whole.imports,
	    (unsigned long long)whole.calls);
	if (set->memcpy_baseline)
		fprintf(stderr, "; memcpy %.0f MB/s", mb / memcpy_s);
	if (set->stream1)
		fprintf(stderr, "; 1-byte feeds %.1f MB/s", mb / stream1_s);
	if (set->n_strs != 0)
		fprintf(stderr, "; str check alone %.1f MB/s", mb / strcheck_s);
	fputs("\n", stderr);

	fprintf(out, "{\"class\": \"%s\", \"size\": \"%s\", "
	    "\"target_bytes\": %llu, \"messages\": %zu, \"total_bytes\": %llu, "
	    "\"opcodes\": %llu, \"imports\": %llu, \"calls\": %llu, "
	    "\"reasons\": 0, \"protocol\": %d, \"min_seconds\": %g, "
	    "\"repeats\": %d, \"load_average\": %.2f, \"passes\": %llu, "
	    "\"pvm_seconds_per_pass\": %.9g",
	    set->class_name, set->size_label,
	    (unsigned long long)set->target_bytes, set->n_messages,
	    (unsigned long long)set->total_bytes,
	    (unsigned long long)whole.opcodes,
	    (unsigned long long)whole.imports,
	    (unsigned long long)whole.calls, whole.protocol, min_seconds,
	    repeats, load[0], (unsigned long long)passes, whole_s);
	print_rate(out, "pvm_mb_s", whole_s, mb);
	print_rate(out, "pvm_msgs_s", whole_s, (double)set->n_messages);
	print_rate(out, "pvm_opcodes_s", whole_s, (double)whole.opcodes);
	if (set->memcpy_baseline) {
		fprintf(out, ", \"memcpy_passes\": %llu",
		    (unsigned long long)memcpy_passes);
		print_rate(out, "memcpy_mb_s", memcpy_s, mb);
	}
	if (set->stream1) {
		fprintf(out, ", \"stream1_passes\": %llu",
		    (unsigned long long)stream1_passes);
		print_rate(out, "stream1_mb_s", stream1_s, mb);
		fprintf(out, ", \"whole_ns_per_byte\": %.6g, "
		    "\"stream1_ns_per_byte\": %.6g",
		    whole_s * 1e9 / (double)set->total_bytes,
		    stream1_s * 1e9 / (double)set->total_bytes);
	}
	fprintf(out, ", \"strs\": %zu, \"str_bytes\": %llu", set->n_strs,
	    (unsigned long long)set->str_bytes);
	if (set->n_strs != 0) {
		fprintf(out, ", \"strcheck_passes\": %llu",
		    (unsigned long long)strcheck_passes);
		/* Message bytes, not str bytes: comparable with pvm_mb_s. */
		print_rate(out, "strcheck_mb_s", strcheck_s, mb);
	}
	fputs("}\n", out);
	if (fflush(out) != 0)
		die("write error on the results");
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_pvm [-t min_seconds] [-r repeats] "
	    "[-s class-size] manifest.tsv\n");
	exit(EXIT_FAILURE);
}

int
main(int argc, char *argv[])
{
	double min_seconds = 0.3;
	int repeats = 5, ch;
	const char *only = NULL;
	char line[MANIFEST_LINE_MAX], *end;
	unsigned lineno = 0, n_sets = 0;
	FILE *manifest;
	struct pvm *vm;
	struct msgset set;

	while ((ch = getopt(argc, argv, "t:r:s:")) != -1) {
		switch (ch) {
		case 't':
			min_seconds = strtod(optarg, &end);
			if (*end != '\0' || !(min_seconds > 0 &&
			    min_seconds < 60))
				usage();
			break;
		case 'r':
			repeats = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || repeats < 1 || repeats > 100)
				usage();
			break;
		case 's':
			only = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();

	if ((manifest = fopen(argv[optind], "r")) == NULL)
		die("%s: %s", argv[optind], strerror(errno));
	if ((vm = pvm_new(NULL, PVM_MEMO_PER_MESSAGE)) == NULL)
		die("pvm_new failed");
	while (fgets(line, sizeof(line), manifest) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL)
			die("manifest line %u: too long", lineno);
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (!parse_manifest_line(&set, line, lineno, only))
			continue;
		bench_set(vm, &set, min_seconds, repeats, stdout);
		n_sets++;
		free(set.messages);
		free(set.strs);
		free(set.file);
	}
	if (ferror(manifest))
		die("%s: read error", argv[optind]);
	if (n_sets == 0)
		die("%s: no message set%s%s", argv[optind],
		    only != NULL ? " named " : "", only != NULL ? only : "");
	fclose(manifest);
	pvm_free(vm);
	return EXIT_SUCCESS;
}
