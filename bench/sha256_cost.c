/*
 * sha256_cost: the time one message's SHA-256 takes as picklewall computes
 * it for the audit log: sha256_hex() of proxy/sha256.c (SHA256_Init,
 * SHA256_Update and SHA256_Final on a context on the stack, then the hex
 * digits), compiled with the bench's flags and linked with it.  Prints
 * one JSON object (bench/PROXY.md).
 *
 *     sha256_cost [-t SECONDS] [-r SAMPLES] [SIZE ...]
 *
 * For each SIZE in bytes (default 200 65536 1048576, the proxy bench's
 * whole frames, header included, which is what picklewall hashes): the
 * same buffer hashed over and over, in SAMPLES samples (default 5) of at
 * least SECONDS each (default 0.2) by CLOCK_MONOTONIC; the best sample's
 * time per message is reported, and every sample's.  The buffer is the
 * same each time, so it is in the caches.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "sha256.h"

#define MAX_SIZES	16
#define MAX_SAMPLES	100
#define MAX_SECONDS	10.0
/* Messages per clock read: about a mebibyte of hashing, at least one. */
#define BATCH_BYTES	((size_t)1 << 20)
/* A sample ends at this many messages even if the clock stood still. */
#define MAX_MESSAGES	((uint64_t)1 << 34)

static volatile unsigned char sink;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("sha256_cost: clock_gettime");
		exit(1);
	}
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) +
	    (uint64_t)ts.tv_nsec;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: sha256_cost [-t SECONDS] [-r SAMPLES] [SIZE ...]\n");
	exit(2);
}

/* One sample: hash ${len} bytes at ${buf} until ${min_ns} have passed.
 * Returns the nanoseconds per message; *${n} is the number of messages. */
static double
sample(const uint8_t *buf, size_t len, uint64_t min_ns, uint64_t *n)
{
	char hex[SHA256_HEX_SIZE];
	size_t batch = len < BATCH_BYTES ? BATCH_BYTES / len : 1, i;
	uint64_t t0, t1, count = 0;
	unsigned char acc = 0;

	t0 = now_ns();
	do {
		for (i = 0; i < batch; i++) {
			if (sha256_hex(buf, len, hex) != 0) {
				fprintf(stderr, "sha256_cost: sha256_hex "
				    "failed\n");
				exit(1);
			}
			acc ^= (unsigned char)hex[i % 64];
		}
		count += batch;
		t1 = now_ns();
	} while (t1 - t0 < min_ns && count < MAX_MESSAGES);
	sink = acc;
	*n = count;
	return (double)(t1 - t0) / (double)count;
}

int
main(int argc, char **argv)
{
	size_t sizes[MAX_SIZES] = { 200, 65536, 1048576 };
	size_t nsizes = 3, s, len, i;
	double seconds = 0.2, best, ns[MAX_SAMPLES];
	long samples = 5;
	uint64_t n[MAX_SAMPLES], min_ns;
	uint8_t *buf;
	char *end;
	int c, k;

	while ((c = getopt(argc, argv, "t:r:")) != -1) {
		switch (c) {
		case 't':
			errno = 0;
			seconds = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(seconds > 0 && seconds <= MAX_SECONDS))
				usage();
			break;
		case 'r':
			errno = 0;
			samples = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    samples < 1 || samples > MAX_SAMPLES)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind < argc) {
		if (argc - optind > MAX_SIZES)
			usage();
		for (nsizes = 0; optind < argc; optind++) {
			unsigned long long v;

			errno = 0;
			v = strtoull(argv[optind], &end, 10);
			if (errno != 0 || end == argv[optind] || *end != '\0' ||
			    argv[optind][0] == '-' || v < 1 || v > (1U << 30))
				usage();
			sizes[nsizes++] = (size_t)v;
		}
	}
	min_ns = (uint64_t)(seconds * 1e9);

	printf("{\"program\":\"sha256_cost\",\"function\":\"sha256_hex "
	    "(proxy/sha256.c: SHA256_Init, SHA256_Update, SHA256_Final, "
	    "hex)\",\"openssl\":\"%s\",\"clock\":\"CLOCK_MONOTONIC\","
	    "\"min_seconds\":%.3f,\"samples\":%ld,\"sizes\":[",
	    OpenSSL_version(OPENSSL_VERSION), seconds, samples);
	for (s = 0; s < nsizes; s++) {
		len = sizes[s];
		if ((buf = malloc(len)) == NULL) {
			perror("sha256_cost: malloc");
			return 1;
		}
		for (i = 0; i < len; i++)
			buf[i] = (uint8_t)(i * 131 + 7);
		/* Untimed: the pages touched, the code and tables loaded. */
		(void)sample(buf, len, min_ns / 10, &n[0]);
		best = 0;
		for (k = 0; k < samples; k++) {
			ns[k] = sample(buf, len, min_ns, &n[k]);
			if (k == 0 || ns[k] < best)
				best = ns[k];
		}
		free(buf);
		printf("%s{\"bytes\":%zu,\"ns_per_msg\":%.1f,"
		    "\"us_per_msg\":%.4f,\"mb_per_s\":%.1f,"
		    "\"samples_ns_per_msg\":[", s ? "," : "", len, best,
		    best / 1e3, (double)len / best * 1e3);
		for (k = 0; k < samples; k++)
			printf("%s%.1f", k ? "," : "", ns[k]);
		printf("],\"samples_messages\":[");
		for (k = 0; k < samples; k++)
			printf("%s%" PRIu64, k ? "," : "", n[k]);
		printf("]}");
	}
	printf("]}\n");
	(void)sink;
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
