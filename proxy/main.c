/*
 * picklewall: the command line.
 *
 *   picklewall scan [options] FILE|- ...   analyze captured streams offline
 *   picklewall opcodes                      print the opcode table
 *
 * `scan` runs the same frame -> pvm -> policy path as the proxy, so the
 * verdict it prints is the one the proxy would give.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "analysis.h"
#include "config.h"
#include "json.h"
#include "policy.h"
#include "proxy.h"
#include "tls.h"
#include "pvm.h"
#include "render.h"
#include "workers.h"

#define PICKLEWALL_VERSION "0.1.0"

/* Exit codes, from sysexits(3) where one fits. */
#define EXIT_ALLOWED	0	/* every message allowed */
#define EXIT_DENIED	1	/* some message denied */
#define EXIT_USAGE	64	/* EX_USAGE */
#define EXIT_NOINPUT	66	/* EX_NOINPUT: an input could not be read */
#define EXIT_SOFTWARE	70	/* EX_SOFTWARE: out of memory, internal */
#define EXIT_IOERR	74	/* EX_IOERR: the output could not be written */
#define EXIT_CONFIG	78	/* EX_CONFIG: a rule file is wrong */

#define READ_CHUNK_BYTES (64 * 1024)

enum output_format {
	FORMAT_JSON,
	FORMAT_TEXT,
};

struct scan_options {
	struct analysis_config config;
	enum output_format format;
	bool memo_given;
	bool handshake_given;
	bool resume_given;
	const char *rules_path;	/* NULL: the built-in policy */
	bool strict;
	char **files;
	size_t n_files;
};

/* The bytes of the message being read, for its hash and disassembly. */
struct message_bytes {
	uint8_t *buf;
	size_t len, cap;
	size_t max_bytes;
	bool dropped;		/* the message outgrew max_bytes */
};

static const char usage_text[] =
    "usage: picklewall --config FILE | --embedded-config | --print-config\n"
    "       picklewall -t --config FILE | --embedded-config\n"
    "       picklewall scan [--rules FILE [--strict]] [--framing raw|len32|mp]\n"
    "                       [--mp-handshake 0|3]\n"
    "                       [--memo per-message|persistent|both]\n"
    "                       [--resume-after-error yes|no]\n"
    "                       [--format json|text] [--max-message-bytes SIZE]\n"
    "                       FILE|- ...\n"
    "       picklewall -t --rules FILE [--strict]\n"
    "       picklewall opcodes\n"
    "       picklewall --help | --version\n";

static const char help_text[] =
    "picklewall: an inline firewall for Python pickle streams.\n"
    "\n"
    "usage: picklewall --config FILE | --embedded-config\n"
    "       picklewall -t --config FILE | --embedded-config\n"
    "       picklewall --print-config\n"
    "       picklewall scan [OPTION]... FILE|- ...\n"
    "       picklewall -t --rules FILE [--strict]\n"
    "       picklewall opcodes\n"
    "       picklewall --help | --version\n"
    "\n"
    "--config runs the proxy in the foreground (diagnostics on stderr,\n"
    "the audit log where the config says; SIGTERM/SIGINT stop it, SIGHUP\n"
    "reopens the audit log, SIGUSR2 reads the rule, certificate, key, CA\n"
    "and CRL files again: all or none; live connections take the new\n"
    "rules at their next message);\n"
    "picklewall.conf.example documents the file.\n"
    "--embedded-config runs the built-in demo config (make run), which\n"
    "--print-config shows.  -t --config checks the config, its rule files,\n"
    "certificates and keys without binding: 0, or 78 with the errors.\n"
    "\n"
    "scan reads each FILE (\"-\" is standard input) as one client byte\n"
    "stream, splits it into messages, analyzes every pickle without\n"
    "executing it and prints one verdict per message: the same analysis\n"
    "and policy as the proxy.  Without --rules a pickle is allowed only\n"
    "if it imports nothing, calls nothing and is well formed.\n"
    "\n"
    "-t loads and checks a rule file (and what it includes) and exits:\n"
    "0 with a summary line, or 78 with every error as FILE:LINE:COL.\n"
    "\n"
    "options (\"--opt VALUE\" or \"--opt=VALUE\"; \"--\" ends the options):\n"
    "  --rules FILE             decide with this rule file (the language is\n"
    "                           in rules/REFERENCE.md); the built-in\n"
    "                           denylist (gadgets.rules) always comes first\n"
    "  --strict                 rule-file warnings (rules that can never\n"
    "                           match, duplicate ids) are errors\n"
    "  --framing raw|len32|mp   how messages are delimited (default raw)\n"
    "      raw    consecutive pickles, each ending at its STOP opcode\n"
    "      len32  4-byte big-endian length + pickle (logging SocketHandler)\n"
    "      mp     multiprocessing.connection: signed 4-byte big-endian\n"
    "             length, or -1 then an 8-byte length\n"
    "  --mp-handshake 0|3       mp only: messages of the authkey handshake\n"
    "                           that precede the pickles (default 0)\n"
    "  --memo per-message|persistent|both\n"
    "                           how the server keeps the pickle memo:\n"
    "                           per-message (pickle.loads per message),\n"
    "                           persistent (one Unpickler reads the stream),\n"
    "                           both (analyze both ways, report the union);\n"
    "                           default both for raw, per-message otherwise\n"
    "  --resume-after-error yes|no\n"
    "                           raw only: may the server call load() again\n"
    "                           on the stream after an unpickling error?\n"
    "                           It then reads on from the failing opcode\n"
    "                           with an empty stack and protocol 0, and a\n"
    "                           memo that may differ from the analyzer's;\n"
    "                           yes (the default) analyzes for that\n"
    "  --format json|text       output format (default json)\n"
    "  --max-message-bytes SIZE largest message (payload) accepted; a bigger\n"
    "                           one is denied and ends the stream.  SIZE is\n"
    "                           bytes, or with a K, M or G suffix (KiB, MiB,\n"
    "                           GiB); default 64M.  A rule file's\n"
    "                           `limit message_bytes` takes precedence\n"
    "  --help                   this text\n"
    "\n"
    "output, one record per message:\n"
    "  json  one object per line: file, offset, length (stream bytes of the\n"
    "        whole message, header included), sha256 (of those bytes),\n"
    "        protocol, kind (pickle|handshake), verdict (allow|deny|\n"
    "        would_deny), reasons [{code, detail, pos}], imports [{module,\n"
    "        name, op, pos, raw_module and raw_name if remapped, ext_code\n"
    "        for EXT ops}], calls [{op, callable or null, why if null,\n"
    "        args, pid, pos}], rules [{id, rev, msg, severity, tags,\n"
    "        action, matched}]; pos is an offset in the pickle.  See\n"
    "        README.md for every field.\n"
    "  text  a header line per message (file, offset, length, protocol,\n"
    "        ALLOW or DENY), then every reason, import and call with the\n"
    "        opcodes around it.\n"
    "A pickle that cannot be analyzed to its end under raw framing, or\n"
    "invalid framing, ends the stream: the rest of that input is not\n"
    "analyzed (a note says so on standard error).\n"
    "\n"
    "opcodes prints the opcode table, one row per line: name, code (\\xNN),\n"
    "argument kind, protocol that introduced it.\n"
    "\n"
    "exit status:\n"
    "   0  every message of every input was allowed (-t: the rules load)\n"
    "   1  some message was denied (or would be, in mode detect)\n"
    "  64  usage error\n"
    "  66  an input could not be opened or read (the other inputs are\n"
    "      still scanned; 66 wins over 1)\n"
    "  70  internal error (out of memory)\n"
    "  74  the output could not be written\n"
    "  78  the rule file or the configuration has errors\n";

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static struct policy *load_rules(const char *path, bool strict);

/* Report a usage error and return EXIT_USAGE. */
static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("picklewall: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* ---- option values --------------------------------------------------- */

/* SIZE: decimal bytes, optionally K, M, G (or KiB, MiB, GiB); 0 and
 * values that overflow are rejected. */
static int
parse_size(const char *s, uint64_t *bytes)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} suffixes[] = {
		{ "", 0 }, { "K", 10 }, { "k", 10 }, { "KiB", 10 },
		{ "M", 20 }, { "m", 20 }, { "MiB", 20 },
		{ "G", 30 }, { "g", 30 }, { "GiB", 30 },
	};
	uint64_t v = 0;
	size_t i;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strcmp(s, suffixes[i].suffix) != 0)
			continue;
		if (v == 0 || v > UINT64_MAX >> suffixes[i].shift)
			return -1;
		v <<= suffixes[i].shift;
		/* The message is held in memory. */
		if (v > SIZE_MAX - FRAME_HEADER_MAX_BYTES)
			return -1;
		*bytes = v;
		return 0;
	}
	return -1;
}

static int
set_option(struct scan_options *opt, const char *name, const char *value)
{
	struct analysis_config *c = &opt->config;
	uint64_t bytes;

	if (strcmp(name, "framing") == 0) {
		if (frame_kind_parse(value, &c->frame.kind) < 0)
			return usage_error("unknown framing '%s' (raw, len32, mp)",
			    value);
	} else if (strcmp(name, "mp-handshake") == 0) {
		if (strcmp(value, "0") == 0)
			c->frame.mp_handshake_messages = 0;
		else if (strcmp(value, "3") == 0)
			c->frame.mp_handshake_messages = 3;
		else
			return usage_error("--mp-handshake takes 0 or 3, not '%s'",
			    value);
		opt->handshake_given = true;
	} else if (strcmp(name, "memo") == 0) {
		if (strcmp(value, "per-message") == 0)
			c->memo = ANALYSIS_MEMO_PER_MESSAGE;
		else if (strcmp(value, "persistent") == 0)
			c->memo = ANALYSIS_MEMO_PERSISTENT;
		else if (strcmp(value, "both") == 0)
			c->memo = ANALYSIS_MEMO_BOTH;
		else
			return usage_error("unknown memo model '%s' "
			    "(per-message, persistent, both)", value);
		opt->memo_given = true;
	} else if (strcmp(name, "resume-after-error") == 0) {
		if (strcmp(value, "yes") == 0)
			c->resume_after_error = true;
		else if (strcmp(value, "no") == 0)
			c->resume_after_error = false;
		else
			return usage_error("--resume-after-error takes yes or "
			    "no, not '%s'", value);
		opt->resume_given = true;
	} else if (strcmp(name, "format") == 0) {
		if (strcmp(value, "json") == 0)
			opt->format = FORMAT_JSON;
		else if (strcmp(value, "text") == 0)
			opt->format = FORMAT_TEXT;
		else
			return usage_error("unknown format '%s' (json, text)",
			    value);
	} else if (strcmp(name, "rules") == 0) {
		opt->rules_path = value;
	} else if (strcmp(name, "max-message-bytes") == 0) {
		if (parse_size(value, &bytes) < 0)
			return usage_error("bad --max-message-bytes '%s': "
			    "a positive number of bytes, optionally with K, M "
			    "or G", value);
		c->frame.max_message_bytes = bytes;
		c->limits.max_message_bytes = bytes;
	} else {
		return usage_error("unknown option '--%s'", name);
	}
	return 0;
}

static bool
option_takes_value(const char *name)
{
	return strcmp(name, "framing") == 0 ||
	    strcmp(name, "mp-handshake") == 0 || strcmp(name, "memo") == 0 ||
	    strcmp(name, "resume-after-error") == 0 ||
	    strcmp(name, "format") == 0 || strcmp(name, "rules") == 0 ||
	    strcmp(name, "max-message-bytes") == 0;
}

/* Parse the arguments after "scan"; returns 0, -1 for --help, or an exit
 * code.  Files are the arguments themselves (no copy). */
static int
parse_scan(int argc, char **argv, struct scan_options *opt)
{
	char name[32];
	const char *arg, *eq, *value;
	bool options_done = false;
	size_t name_len;
	int i, rc;

	memset(opt, 0, sizeof(*opt));
	opt->config.frame.kind = FRAME_RAW;
	opt->config.frame.max_message_bytes = PVM_DEFAULT_MAX_MESSAGE_BYTES;
	opt->config.limits.max_message_bytes = PVM_DEFAULT_MAX_MESSAGE_BYTES;
	opt->format = FORMAT_JSON;
	if ((opt->files = calloc((size_t)argc + 1, sizeof(*opt->files))) == NULL) {
		fputs("picklewall: out of memory\n", stderr);
		return EXIT_SOFTWARE;
	}

	for (i = 0; i < argc; i++) {
		arg = argv[i];
		if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
			opt->files[opt->n_files++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return -1;
		if (strcmp(arg, "--strict") == 0) {
			opt->strict = true;
			continue;
		}
		if (arg[1] != '-')
			return usage_error("unknown option '%s'", arg);
		eq = strchr(arg + 2, '=');
		name_len = eq != NULL ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
		if (name_len >= sizeof(name))
			return usage_error("unknown option '%s'", arg);
		memcpy(name, arg + 2, name_len);
		name[name_len] = '\0';
		if (!option_takes_value(name))
			return usage_error("unknown option '%s'", arg);
		if (eq != NULL) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			return usage_error("option '%s' needs a value", arg);
		}
		if ((rc = set_option(opt, name, value)) != 0)
			return rc;
	}

	if (opt->strict && opt->rules_path == NULL)
		return usage_error("%s", "--strict needs --rules");
	if (opt->n_files == 0)
		return usage_error("%s", "scan needs at least one FILE or -");
	if (opt->handshake_given && opt->config.frame.kind != FRAME_MP)
		return usage_error("%s", "--mp-handshake needs --framing mp");
	if (opt->resume_given && opt->config.frame.kind != FRAME_RAW)
		return usage_error("%s", "--resume-after-error needs --framing "
		    "raw: len32 and mp servers unpickle each message by "
		    "itself");
	if (!opt->memo_given)
		opt->config.memo = opt->config.frame.kind == FRAME_RAW ?
		    ANALYSIS_MEMO_BOTH : ANALYSIS_MEMO_PER_MESSAGE;
	if (!opt->resume_given)
		opt->config.resume_after_error =
		    opt->config.frame.kind == FRAME_RAW;
	return 0;
}

/* ---- scanning -------------------------------------------------------- */

static void
bytes_append(struct message_bytes *mb, const uint8_t *p, size_t n)
{
	size_t new_cap;
	uint8_t *nb;

	if (mb->dropped || n == 0)
		return;
	if (n > mb->max_bytes - mb->len)
		goto drop;
	if (mb->len + n > mb->cap) {
		new_cap = mb->cap ? mb->cap : READ_CHUNK_BYTES;
		while (new_cap < mb->len + n)
			new_cap = new_cap > mb->max_bytes / 2 ?
			    mb->max_bytes : new_cap * 2;
		if ((nb = realloc(mb->buf, new_cap)) == NULL)
			goto drop;
		mb->buf = nb;
		mb->cap = new_cap;
	}
	memcpy(mb->buf + mb->len, p, n);
	mb->len += n;
	return;

drop:
	/* The verdict does not depend on these bytes: only the hash and the
	 * disassembly are lost. */
	mb->dropped = true;
}

/* Print ${msg} whose bytes are in ${mb}; returns 0 or EXIT_IOERR. */
static int
emit(const struct scan_options *opt, const char *file,
    const struct analysis_message *msg, struct message_bytes *mb,
    struct json *j)
{
	const uint8_t *bytes = mb->buf;
	const char *text;
	size_t len;

	if (mb->dropped || mb->len != msg->length) {
		fprintf(stderr, "picklewall: %s: the bytes of the message at "
		    "offset %" PRIu64 " were not kept; no hash or "
		    "disassembly\n", file, msg->offset);
		bytes = NULL;
	}
	if (opt->format == FORMAT_JSON) {
		json_reset(j);
		if (render_json(j, file, msg, bytes, mb->len) < 0 ||
		    (text = json_data(j, &len)) == NULL) {
			fprintf(stderr, "picklewall: %s: cannot render the "
			    "message at offset %" PRIu64 "\n", file,
			    msg->offset);
			return EXIT_SOFTWARE;
		}
		if (fwrite(text, 1, len, stdout) != len ||
		    putchar('\n') == EOF)
			return EXIT_IOERR;
	} else if (render_text(stdout, file, msg, bytes, mb->len) < 0) {
		return EXIT_IOERR;
	}
	mb->len = 0;
	mb->dropped = false;
	return 0;
}

/* read(2) that retries on EINTR. */
static ssize_t
read_chunk(int fd, uint8_t *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

/*
 * Scan the input ${path} ("-": standard input) and print its messages.
 * Returns EXIT_ALLOWED, EXIT_DENIED, EXIT_NOINPUT (reported on stderr),
 * EXIT_SOFTWARE or EXIT_IOERR.
 */
static int
scan_file(const struct scan_options *opt, const char *path, struct json *j,
    struct message_bytes *mb, uint8_t *chunk)
{
	struct analysis_message msg;
	struct analysis *a;
	size_t off, used;
	ssize_t n;
	bool denied = false, ended = false;
	int fd, rc;

	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else if ((fd = open(path, O_RDONLY)) < 0) {
		fprintf(stderr, "picklewall: %s: %s\n", path, strerror(errno));
		rc = EXIT_NOINPUT;
		goto err0;
	}
	if ((a = analysis_new(&opt->config)) == NULL) {
		fprintf(stderr, "picklewall: out of memory\n");
		rc = EXIT_SOFTWARE;
		goto err1;
	}
	mb->len = 0;
	mb->dropped = false;

	while (!ended) {
		if ((n = read_chunk(fd, chunk, READ_CHUNK_BYTES)) < 0) {
			fprintf(stderr, "picklewall: %s: %s\n", path,
			    strerror(errno));
			rc = EXIT_NOINPUT;
			goto err2;
		}
		if (n == 0)
			break;
		for (off = 0; off < (size_t)n && !ended; off += used) {
			enum analysis_status st = analysis_feed(a, chunk + off,
			    (size_t)n - off, &used, &msg);

			bytes_append(mb, chunk + off, used);
			if (st != ANALYSIS_MESSAGE) {
				/* All of it was taken; anything else would
				 * spin here. */
				if (off + used != (size_t)n) {
					fprintf(stderr, "picklewall: %s: "
					    "internal error: input not "
					    "consumed\n", path);
					rc = EXIT_SOFTWARE;
					goto err2;
				}
				continue;
			}
			if ((rc = emit(opt, path, &msg, mb, j)) != 0)
				goto err2;
			denied |= msg.verdict != ANALYSIS_ALLOW;
			if (msg.stream_ends) {
				ended = true;
				if (off + used < (size_t)n ||
				    read_chunk(fd, chunk, 1) > 0)
					fprintf(stderr, "picklewall: %s: "
					    "analysis ends at offset %" PRIu64
					    "; the rest of the input is not "
					    "analyzed\n", path,
					    msg.offset + msg.length);
			}
		}
	}
	if (!ended && analysis_finish(a, &msg) == ANALYSIS_MESSAGE) {
		if ((rc = emit(opt, path, &msg, mb, j)) != 0)
			goto err2;
		denied |= msg.verdict != ANALYSIS_ALLOW;
	}
	rc = denied ? EXIT_DENIED : EXIT_ALLOWED;

err2:
	analysis_free(a);
err1:
	if (fd != STDIN_FILENO)
		close(fd);
err0:
	return rc;
}

/* The more serious of two exit codes. */
static int
worse(int x, int y)
{
	static const int order[] = {
		EXIT_ALLOWED, EXIT_DENIED, EXIT_NOINPUT, EXIT_SOFTWARE,
		EXIT_IOERR,
	};
	size_t i, rx = 0, ry = 0;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (order[i] == x)
			rx = i;
		if (order[i] == y)
			ry = i;
	}
	return rx >= ry ? x : y;
}

static int
cmd_scan(int argc, char **argv)
{
	struct scan_options opt;
	struct message_bytes mb;
	struct json *j = NULL;
	struct policy *policy = NULL;
	uint8_t *chunk = NULL;
	size_t i;
	int rc, worst = EXIT_ALLOWED;

	memset(&mb, 0, sizeof(mb));
	if ((rc = parse_scan(argc, argv, &opt)) != 0) {
		free(opt.files);
		if (rc < 0) {
			fputs(help_text, stdout);
			return fflush(stdout) == 0 ? EXIT_ALLOWED : EXIT_IOERR;
		}
		return rc;
	}
	if (opt.rules_path != NULL) {
		if ((policy = load_rules(opt.rules_path, opt.strict)) == NULL) {
			free(opt.files);
			return EXIT_CONFIG;
		}
		/* The rule file's limits win over --max-message-bytes. */
		policy_limits(policy, &opt.config.limits);
		opt.config.frame.max_message_bytes =
		    opt.config.limits.max_message_bytes;
		opt.config.policy = policy;
	}
	if (opt.config.frame.max_message_bytes > SIZE_MAX -
	    FRAME_HEADER_MAX_BYTES) {
		fputs("picklewall: message_bytes too large for memory\n",
		    stderr);
		worst = EXIT_CONFIG;
		goto done;
	}
	mb.max_bytes = (size_t)opt.config.frame.max_message_bytes +
	    FRAME_HEADER_MAX_BYTES;
	if ((j = json_new(0)) == NULL ||
	    (chunk = malloc(READ_CHUNK_BYTES)) == NULL) {
		fputs("picklewall: out of memory\n", stderr);
		worst = EXIT_SOFTWARE;
		goto done;
	}
	for (i = 0; i < opt.n_files; i++) {
		rc = scan_file(&opt, opt.files[i], j, &mb, chunk);
		worst = worse(worst, rc);
		if (rc == EXIT_IOERR || rc == EXIT_SOFTWARE)
			break;
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		worst = EXIT_IOERR;
	if (worst == EXIT_IOERR)
		fprintf(stderr, "picklewall: cannot write the output: %s\n",
		    strerror(errno));

done:
	policy_free(policy);
	free(chunk);
	json_free(j);
	free(mb.buf);
	free(opt.files);
	return worst;
}

/* ---- rules ----------------------------------------------------------- */

/* policy_diag_fn: FILE:LINE:COL: error|warning: message, on stderr. */
static void
print_diag(void *cookie, const struct policy_diag *d)
{
	(void)cookie;
	if (d->file != NULL)
		fprintf(stderr, "%s:%u:%u: %s: %s\n", d->file, d->line, d->col,
		    d->warning ? "warning" : "error", d->message);
	else
		fprintf(stderr, "picklewall: %s: %s\n",
		    d->warning ? "warning" : "error", d->message);
}

static struct policy *
load_rules(const char *path, bool strict)
{
	struct policy *p;

	p = policy_load_file(path, strict ? POLICY_LOAD_STRICT : 0,
	    print_diag, NULL);
	if (p == NULL)
		fprintf(stderr, "picklewall: %s: the rules were not loaded\n",
		    path);
	return p;
}

/* ---- the daemon --------------------------------------------------- */

/* config_diag_fn and proxy_diag_fn: one line each on stderr. */
static void
print_config_diag(void *cookie, const struct config_diag *d)
{
	(void)cookie;
	if (d->line == 0)
		fprintf(stderr, "%s: %s: %s\n", d->file,
		    d->warning ? "warning" : "error", d->message);
	else
		fprintf(stderr, "%s:%u:%u: %s: %s\n", d->file, d->line,
		    d->col, d->warning ? "warning" : "error", d->message);
}

/* ${cookie}: NULL, or the worker's number as text. */
static void
print_proxy_diag(void *cookie, const char *what, const char *message)
{
	if (cookie != NULL)
		fprintf(stderr, "picklewall[worker %s]: %s: %s\n",
		    (const char *)cookie, what, message);
	else
		fprintf(stderr, "picklewall: %s: %s\n", what, message);
}

static void
print_workers_diag(const char *message)
{
	fprintf(stderr, "picklewall: workers: %s\n", message);
}

/* Serve with ${cfg} as ${worker} (NULL: the only process) until SIGTERM or
 * SIGINT, then release ${cfg}; returns the exit status. */
static int
serve(struct config *cfg, const struct proxy_worker *worker, void *cookie)
{
	struct proxy *p;
	int rc;

	if ((p = proxy_new(cfg, true, worker, print_proxy_diag, cookie)) ==
	    NULL) {
		config_free(cfg);
		return EXIT_CONFIG;
	}
	rc = proxy_run(p);
	proxy_free(p);
	config_free(cfg);
	return rc == 0 ? EXIT_ALLOWED : EXIT_SOFTWARE;
}

/* One worker of several (workers.h), in its own process. */
static int
run_worker(unsigned index, unsigned start, void *cookie)
{
	const struct proxy_worker w = { index, start };
	char name[16];

	snprintf(name, sizeof(name), "%u", index);
	return serve(cookie, &w, name);
}

/* --config FILE, or the embedded default when ${path} is NULL. */
static struct config *
load_config(const char *path)
{
	struct config *cfg = path != NULL ?
	    config_load(path, print_config_diag, NULL) :
	    config_embedded_default(print_config_diag, NULL);

	if (cfg == NULL)
		fprintf(stderr, "picklewall: %s: the configuration was not "
		    "loaded\n", path != NULL ? path : "(embedded default)");
	return cfg;
}

/* picklewall --config FILE | --embedded-config: run in the foreground. */
static int
cmd_daemon(const char *path)
{
	struct config *cfg;
	struct proxy *p;
	int rc;

	if ((cfg = load_config(path)) == NULL)
		return EXIT_CONFIG;
	if (config_global(cfg)->workers > 1) {
		/* Every file is checked once here, so that a mistake stops
		 * the start rather than each worker. */
		if ((p = proxy_new(cfg, false, NULL, print_proxy_diag, NULL)) ==
		    NULL) {
			config_free(cfg);
			return EXIT_CONFIG;
		}
		proxy_free(p);
		rc = workers_run(config_global(cfg)->workers, run_worker, cfg,
		    print_workers_diag);
		config_free(cfg);
		return rc;
	}
	return serve(cfg, NULL, NULL);
}

/* picklewall -t --config FILE: everything but binding. */
static int
test_config(const char *path)
{
	struct config *cfg;
	struct proxy *p;

	if ((cfg = load_config(path)) == NULL)
		return EXIT_CONFIG;
	if ((p = proxy_new(cfg, false, NULL, print_proxy_diag, NULL)) == NULL) {
		config_free(cfg);
		return EXIT_CONFIG;
	}
	printf("%s: OK: %zu listener%s\n", config_name(cfg),
	    config_listener_count(cfg),
	    config_listener_count(cfg) == 1 ? "" : "s");
	proxy_free(p);
	config_free(cfg);
	return fflush(stdout) == 0 && !ferror(stdout) ? EXIT_ALLOWED :
	    EXIT_IOERR;
}

/* picklewall -t --rules FILE [--strict] | -t --config FILE */
static int
cmd_test(int argc, char **argv)
{
	const char *path = NULL, *config_path = NULL;
	struct pvm_limits limits;
	struct policy *p;
	bool strict = false, embedded = false;
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--strict") == 0)
			strict = true;
		else if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strncmp(argv[i], "--rules=", 8) == 0)
			path = argv[i] + 8;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config_path = argv[i] + 9;
		else if (strcmp(argv[i], "--embedded-config") == 0)
			embedded = true;
		else
			return usage_error("-t takes --rules FILE [--strict], "
			    "--config FILE or --embedded-config, not '%s'",
			    argv[i]);
	}
	if ((path != NULL) + (config_path != NULL) + embedded != 1)
		return usage_error("%s", "-t needs one of --rules FILE, "
		    "--config FILE, --embedded-config");
	if (path == NULL)
		return test_config(config_path);
	if ((p = load_rules(path, strict)) == NULL)
		return EXIT_CONFIG;
	memset(&limits, 0, sizeof(limits));
	policy_limits(p, &limits);
	pvm_limits_resolve(&limits);
	printf("%s: OK: %zu rules (and %zu built-in denylist rules), mode %s, "
	    "message_bytes %llu\n", path, policy_rule_count(p, true),
	    policy_rule_count(p, false) - policy_rule_count(p, true),
	    policy_mode(p) == POLICY_MODE_DETECT ? "detect" : "enforce",
	    (unsigned long long)limits.max_message_bytes);
	policy_free(p);
	return fflush(stdout) == 0 && !ferror(stdout) ? EXIT_ALLOWED :
	    EXIT_IOERR;
}

/* ---- opcodes --------------------------------------------------------- */

static const char *const arg_names[] = {
	[PVM_ARG_NONE] = "none",
	[PVM_ARG_U1] = "u1", [PVM_ARG_U2] = "u2", [PVM_ARG_I4] = "i4",
	[PVM_ARG_U4] = "u4", [PVM_ARG_U8] = "u8", [PVM_ARG_F8] = "f8",
	[PVM_ARG_LINE] = "line", [PVM_ARG_LINE2] = "line2",
	[PVM_ARG_DATA1] = "data1", [PVM_ARG_DATA4] = "data4",
	[PVM_ARG_DATA8] = "data8",
	[PVM_ARG_LONG1] = "long1", [PVM_ARG_LONG4] = "long4",
};

static int
cmd_opcodes(int argc, char **argv)
{
	const struct pvm_opinfo *info;
	const char *arg;
	size_t i;

	if (argc > 0)
		return usage_error("opcodes takes no arguments, not '%s'",
		    argv[0]);
	for (i = 0; (info = pvm_opinfo_at(i)) != NULL; i++) {
		arg = (size_t)info->arg < sizeof(arg_names) / sizeof(arg_names[0]) &&
		    arg_names[info->arg] != NULL ? arg_names[info->arg] : "?";
		printf("%-17s \\x%02x %-5s %u\n", info->name, info->code, arg,
		    info->protocol);
	}
	return fflush(stdout) == 0 && !ferror(stdout) ? EXIT_ALLOWED :
	    EXIT_IOERR;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("%s", "no command given");
	if (strcmp(argv[1], "scan") == 0)
		return cmd_scan(argc - 2, argv + 2);
	if (strcmp(argv[1], "opcodes") == 0)
		return cmd_opcodes(argc - 2, argv + 2);
	if (strcmp(argv[1], "-t") == 0)
		return cmd_test(argc - 2, argv + 2);
	if (strcmp(argv[1], "--config") == 0 || strncmp(argv[1], "--config=",
	    9) == 0) {
		const char *path = argv[1][8] == '=' ? argv[1] + 9 :
		    argc > 2 ? argv[2] : NULL;

		if (path == NULL)
			return usage_error("%s", "--config needs a FILE");
		if (argc > (argv[1][8] == '=' ? 2 : 3))
			return usage_error("%s", "--config FILE takes nothing "
			    "else");
		return cmd_daemon(path);
	}
	if (strcmp(argv[1], "--embedded-config") == 0) {
		if (argc > 2)
			return usage_error("%s", "--embedded-config takes "
			    "nothing else");
		return cmd_daemon(NULL);
	}
	if (strcmp(argv[1], "--print-config") == 0) {
		fputs(config_embedded_default_text(), stdout);
		return fflush(stdout) == 0 ? EXIT_ALLOWED : EXIT_IOERR;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(help_text, stdout);
		return fflush(stdout) == 0 ? EXIT_ALLOWED : EXIT_IOERR;
	}
	if (strcmp(argv[1], "--version") == 0) {
		char pcre[64];

		if (pcre2_config(PCRE2_CONFIG_VERSION, pcre) < 0)
			snprintf(pcre, sizeof(pcre), "unknown");
		printf("picklewall %s\n%s\nPCRE2 %s\n", PICKLEWALL_VERSION,
		    tls_library_version(), pcre);
		return fflush(stdout) == 0 ? EXIT_ALLOWED : EXIT_IOERR;
	}
	return usage_error("unknown command '%s' (scan, opcodes, -t, --config, "
	    "--embedded-config, --print-config, --help, --version)", argv[1]);
}
