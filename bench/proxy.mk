# The proxy benchmark: picklewall next to HAProxy (TLS-terminating, mode
# tcp, no inspection) and a direct connection, over loopback
# (bench/PROXY.md).
#
#   make -f bench/proxy.mk proxy-bench [PROXY_BENCH_ARGS='--repeats 3']
#
# Builds nothing: build/picklewall must exist (make).  Installs haproxy
# with apt-get when it is missing (as root; Debian package `haproxy`); the
# bench runs its own haproxy in the foreground on loopback ports with a
# generated configuration and never uses the system service.  Writes
# build/bench/proxy.json and prints the table.  About 3 minutes on a
# 2-core machine.  Meant to be included by the top Makefile too: every
# variable here is ?= or PROXY_BENCH_*.

PYTHON ?= /usr/bin/python3
B      ?= build
PROXY_BENCH_ARGS ?=

.PHONY: proxy-bench

proxy-bench:
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
	  --out $(B)/bench/proxy.json $(PROXY_BENCH_ARGS)
