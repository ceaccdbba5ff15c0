# The analyzer throughput and rule evaluation benchmarks; `make bench` runs
# both (bench/README.md).  Everything they write, messages included, is
# derived and lives in build/bench/.  The flags are the top Makefile's, so
# bench_pvm and bench_rules are built the way build/libpw.a is.

CC      ?= cc
PYTHON  ?= /usr/bin/python3
CSTD     = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) -Iproxy
LDLIBS_PW  = -lcrypto
LDLIBS_RULES = -lpcre2-8

# Each measurement: best of BENCH_REPEATS samples of >= BENCH_SECONDS.
BENCH_SECONDS ?= 0.3
BENCH_REPEATS ?= 5

B  = build
BB = $(B)/bench

.PHONY: bench FORCE

BENCH_ARGS = -t $(BENCH_SECONDS) -r $(BENCH_REPEATS)

# Rule sets for bench_rules: exact-name rules, and pattern rules.
BENCH_RULE_COUNTS ?= 10,1000,100000
BENCH_PATTERN_COUNTS ?= 10,100,1000

# One timing at a time, and set by set, C then Python: the two sides of a
# ratio are measured a few seconds apart, under the same machine load.
bench: $(BB)/bench_pvm $(BB)/bench_rules $(BB)/manifest.tsv
	@rm -f $(BB)/pvm.jsonl $(BB)/python.jsonl $(BB)/rules.jsonl $(BB)/results.json
	@set -e; for s in $$(awk -F'\t' '!/^#/ { print $$1 "-" $$2 }' $(BB)/manifest.tsv); do \
	  $(BB)/bench_pvm $(BENCH_ARGS) -s $$s $(BB)/manifest.tsv >>$(BB)/pvm.jsonl; \
	  $(PYTHON) bench/bench_python.py $(BENCH_ARGS) -s $$s $(BB)/manifest.tsv >>$(BB)/python.jsonl; \
	done
	$(BB)/bench_rules $(BENCH_ARGS) -n $(BENCH_RULE_COUNTS) -p $(BENCH_PATTERN_COUNTS) >$(BB)/rules.jsonl
	$(PYTHON) bench/report.py --cc '$(CC)' --cflags '$(CSTD) $(CFLAGS)' --outdir $(BB)

$(BB)/bench_pvm: bench/bench_pvm.c $(B)/libpw.a $(wildcard proxy/*.h) | $(BB)
	$(CC) $(ALL_CFLAGS) -o $@ bench/bench_pvm.c $(B)/libpw.a $(LDLIBS_PW)

$(BB)/bench_rules: bench/bench_rules.c $(B)/libpw.a $(wildcard proxy/*.h) | $(BB)
	$(CC) $(ALL_CFLAGS) -o $@ bench/bench_rules.c $(B)/libpw.a $(LDLIBS_PW) $(LDLIBS_RULES)

# manifest.tsv is written last, so it stands for the whole message set.
$(BB)/manifest.tsv: bench/gen_messages.py | $(BB)
	$(PYTHON) bench/gen_messages.py $(BB)

# The top Makefile knows the library's sources; ask it every time.
$(B)/libpw.a: FORCE
	$(MAKE) -f Makefile $(B)/libpw.a

$(BB):
	mkdir -p $@

FORCE:
