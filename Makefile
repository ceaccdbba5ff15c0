# picklewall — see README.md.  `make` builds build/picklewall; `make test`
# builds and runs every test (also under ASan+UBSan); `make fuzz` and
# `make bench` run the long jobs.

CC      ?= cc
CLANG   ?= clang
PYTHON  ?= /usr/bin/python3
CSTD     = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) -Iproxy
LDLIBS_PW  = -lssl -lcrypto -lpcre2-8 -pthread
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -pthread)
SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

B = build
MAKEFLAGS += --no-print-directory
PROXY_SRC = $(sort $(wildcard proxy/*.c))
# The denylist layer (rules/gadgets.rules) is compiled into the binary.
GEN_SRC   = $(B)/gen/denylist.c
LIB_SRC   = $(filter-out proxy/main.c,$(PROXY_SRC)) $(GEN_SRC)
HDRS      = $(wildcard proxy/*.h) tests/unit/unit.h
UNIT_SRC  = $(sort $(wildcard tests/unit/*.c))
FUZZ_SRC  = $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BINS = $(patsubst fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60

.PHONY: all test unit unit-asan cli rules-test e2e certs-test fuzz-corpus soundness fuzz bench run run-scan clean deps

# Debian 12 packages the build and the tests need; `make deps` installs the
# missing ones (as root), and `make run` / `make test` call it first.
DEB_PACKAGES = make gcc clang libclang-rt-14-dev pkg-config check libsubunit-dev \
	libssl-dev libpcre2-dev openssl python3 python3-numpy

all: $(B)/picklewall

# ---- normal build -------------------------------------------------------
$(B)/gen/denylist.c: rules/gadgets.rules proxy/gen_denylist.py | $(B)/gen
	$(PYTHON) proxy/gen_denylist.py $< $@
$(B)/obj/%.o: proxy/%.c $(HDRS) | $(B)/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@
$(B)/obj/denylist.o: $(B)/gen/denylist.c | $(B)/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@
$(B)/libpw.a: $(patsubst proxy/%.c,$(B)/obj/%.o,$(filter proxy/%,$(LIB_SRC))) $(B)/obj/denylist.o
	rm -f $@ && ar rcs $@ $^
$(B)/picklewall: $(B)/obj/main.o $(B)/libpw.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS_PW)
$(B)/test_unit: $(UNIT_SRC) $(B)/libpw.a $(HDRS)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $(UNIT_SRC) $(B)/libpw.a $(LDLIBS_PW) $(CHECK_LIBS)

# ---- ASan + UBSan build -------------------------------------------------
$(B)/asan/obj/%.o: proxy/%.c $(HDRS) | $(B)/asan/obj
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -c $< -o $@
$(B)/asan/obj/denylist.o: $(B)/gen/denylist.c | $(B)/asan/obj
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -c $< -o $@
$(B)/asan/libpw.a: $(patsubst proxy/%.c,$(B)/asan/obj/%.o,$(filter proxy/%,$(LIB_SRC))) $(B)/asan/obj/denylist.o
	rm -f $@ && ar rcs $@ $^
$(B)/asan/picklewall: $(B)/asan/obj/main.o $(B)/asan/libpw.a
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ $(LDLIBS_PW)
$(B)/asan/test_unit: $(UNIT_SRC) $(B)/asan/libpw.a $(HDRS)
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -Itests/unit -o $@ $(UNIT_SRC) $(B)/asan/libpw.a $(LDLIBS_PW) $(CHECK_LIBS)

# ---- libFuzzer harnesses (clang) ----------------------------------------
$(B)/fuzz/%: fuzz/%.c $(LIB_SRC) $(HDRS) | $(B)/fuzz
	$(CLANG) $(CSTD) $(WARN) -O1 -g -Iproxy -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $< $(LIB_SRC) $(LDLIBS_PW)

$(B)/obj $(B)/asan/obj $(B)/fuzz $(B)/gen:
	mkdir -p $@

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing packages:" $$missing "(run as root: apt-get install" $$missing")" >&2; exit 1; fi; \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# ---- tests --------------------------------------------------------------
# The soundness suite runs last: its "N passed, M failed" line closes the run.
test: deps
	$(MAKE) all
	$(MAKE) unit unit-asan fuzz-corpus cli rules-test certs-test e2e
	$(MAKE) soundness

unit: $(B)/test_unit
	CK_FORK=yes $(B)/test_unit
unit-asan: $(B)/asan/test_unit
	CK_FORK=no ASAN_OPTIONS=detect_leaks=1 $(B)/asan/test_unit
cli: $(B)/picklewall $(B)/asan/picklewall
	$(PYTHON) tests/cli/test_cli.py $(B)/picklewall
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/cli/test_cli.py $(B)/asan/picklewall
fuzz-corpus: $(FUZZ_BINS)
	@set -e; for h in $(FUZZ_BINS); do n=$$(basename $$h); \
	  echo "fuzz corpus: $$n"; \
	  $$h -runs=0 fuzz/corpus/$$n >$(B)/fuzz/$$n.log 2>&1 || { tail -40 $(B)/fuzz/$$n.log; exit 1; }; \
	  grep -E 'Done|INFO: seed corpus' $(B)/fuzz/$$n.log | tail -1; done
# Every case under tests/rules/: real producers, a rule file, the expected
# verdicts and rule ids (tests/rules/README.md).
rules-test: $(B)/asan/picklewall
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/rules/run.py --binary $(B)/asan/picklewall
# The proxy end to end: real TLS on loopback, real Python servers and
# clients (tests/e2e/run.py), with the normal and the ASan binary.
e2e: $(B)/picklewall $(B)/asan/picklewall
	$(PYTHON) tests/e2e/run.py --binary $(B)/picklewall
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/e2e/run.py --binary $(B)/asan/picklewall
certs-test:
	sh certs/test-certs.sh
soundness: $(B)/asan/picklewall
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/soundness/run.py --binary $(B)/asan/picklewall

fuzz: $(FUZZ_BINS)
	@set -e; for h in $(FUZZ_BINS); do n=$$(basename $$h); mkdir -p $(B)/fuzz/corpus-$$n; \
	  echo "fuzzing $$n for $(FUZZ_SECONDS)s"; \
	  $$h -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(B)/fuzz/corpus-$$n fuzz/corpus/$$n; done

bench: $(B)/picklewall
	$(MAKE) -f bench/bench.mk bench
	$(MAKE) -f bench/proxy.mk proxy-bench

# The proxy on its embedded default config, in front of a demo backend
# that really unpickles; `make run-scan` is the offline scan demo.
run: deps
	$(MAKE) all
	@sh certs/make-dev-certs.sh certs/dev
	@$(PYTHON) tests/demo/run_demo.py $(B)/picklewall
run-scan: all
	@$(PYTHON) tests/demo/scan_demo.py $(B)/picklewall

clean:
	rm -rf $(B)
