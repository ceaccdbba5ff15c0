# The proxy benchmark: picklewall next to HAProxy (TLS-terminating, mode
# tcp, no inspection) and a direct connection, over loopback
# (bench/PROXY.md).
#
#   make -f bench/proxy.mk proxy-bench [PROXY_BENCH_ARGS='--repeats 3']
#
# build/picklewall must exist (make); this builds only
# build/bench/sha256_cost (bench/sha256_cost.c with proxy/sha256.c, the top
# Makefile's flags), which the bench runs once to time SHA-256 per
# message.  Installs haproxy with apt-get when it is missing (as root;
# Debian package `haproxy`); the bench runs its own haproxy in the
# foreground on loopback ports with a generated configuration and never
# uses the system service.  Writes build/bench/proxy.json and prints the
# table.  About 3 minutes on a 2-core machine.  Meant to be included by
# the top Makefile too: every variable here is ?= or PROXY_BENCH_*.

PYTHON ?= /usr/bin/python3
B      ?= build
CC     ?= cc
CFLAGS ?= -O2 -g
PROXY_BENCH_ARGS ?=
PROXY_BENCH_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
  -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
  -Wformat=2 -Wvla $(CFLAGS) -Iproxy
PROXY_BENCH_SHA256 = $(B)/bench/sha256_cost

.PHONY: proxy-bench proxy-bench-sha256

proxy-bench-sha256: $(PROXY_BENCH_SHA256)

# The SHA-256 that picklewall's audit log computes, proxy/sha256.c itself,
# built on its own (not from libpw.a, which the top Makefile owns).
$(PROXY_BENCH_SHA256): bench/sha256_cost.c proxy/sha256.c proxy/sha256.h
	@mkdir -p $(@D)
	$(CC) $(PROXY_BENCH_CFLAGS) -o $@ bench/sha256_cost.c proxy/sha256.c -lcrypto

proxy-bench: $(PROXY_BENCH_SHA256)
	@test -x $(B)/picklewall || { \
	  echo "proxy-bench: no $(B)/picklewall: run make first" >&2; exit 1; }
	@if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "proxy-bench: haproxy is missing; as root: apt-get install -y haproxy" >&2; \
	    exit 1; \
	  fi; \
	  echo "proxy-bench: installing haproxy (apt-get)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy || { \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy; } \
	    || exit 1; \
	fi
	@mkdir -p $(B)/bench
	$(PYTHON) bench/proxy_bench.py --binary $(B)/picklewall \
	  --haproxy "$$(command -v haproxy || echo /usr/sbin/haproxy)" \
	  --sha256-cost $(PROXY_BENCH_SHA256) \
	  --out $(B)/bench/proxy.json $(PROXY_BENCH_ARGS)
