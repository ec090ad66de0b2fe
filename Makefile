# shardcron build.
#
#   make            release build: module libraries and build/bin/{shardcron-agent,shardcron-console,shardcronctl}
#   make test       installs what is missing (scripts/setup), builds, runs unit tests under
#                   ASan+UBSan and integration tests against real ZooKeeper and MariaDB
#   make soak       the random-fault soak of real agents alone (SOAK_TRIALS, default 100)
#   make fuzz       builds tests/fuzz/fuzz_*.c with libFuzzer and runs each for FUZZ_SECONDS
#                   (FUZZ_RUNS=N: N runs from a fixed seed; what `make test` does)
#   make bench      runs every bench/*/run and prints its table
#   make fmt | lint | clean
#
# Modules are folders; every .c in a module folder except main.c goes into
# build/<variant>/lib/libsc_<module>.a, so adding a file needs no Makefile change.
# Unit tests are tests/unit/test_*.c, integration tests tests/integration/test_*.c
# and tests/integration/*.sh; each C test is its own binary.

VERSION := 0.1.0
CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif

ZK_CFLAGS := -I/usr/include/zookeeper -DTHREADED
ZK_LIBS := -lzookeeper_mt
PKGS := libevent libevent_pthreads libmariadb libcjson log4c libsodium libcurl zlib
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_CFLAGS = $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

BASE_CFLAGS = -std=gnu11 -Wall -Wextra -Werror -g -I. -D_GNU_SOURCE \
	-DSC_VERSION=\"$(VERSION)\" $(ZK_CFLAGS) $(PKG_CFLAGS) -MMD -MP
REL_CFLAGS = $(BASE_CFLAGS) -O2
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_CFLAGS = $(BASE_CFLAGS) -O1 $(ASAN_FLAGS)
LDLIBS = $(ZK_LIBS) $(PKG_LIBS) -lpthread -lm

# Link order: a module before the modules it uses.
MODULES := console agent ctl workflow sql registry sharding core
BINS := shardcron-agent shardcron-console shardcronctl
bin_main_shardcron-agent := agent/main.c
bin_main_shardcron-console := console/main.c
bin_main_shardcronctl := ctl/main.c

mod_srcs = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
ALL_MOD_SRCS := $(foreach m,$(MODULES),$(call mod_srcs,$(m)))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
IT_SRCS := $(wildcard tests/integration/test_*.c)
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRCS := $(wildcard bench/*/*.c)

# ---- variants: build/ (release) and build/asan/ (sanitizers, used by tests) ----
REL := build
ASN := build/asan

define variant
$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) -c $$< -o $$@

$(foreach m,$(MODULES),
$(1)/lib/libsc_$(m).a: $$(patsubst %.c,$(1)/obj/%.o,$$(call mod_srcs,$(m)))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	$$(if $$^,ar rcs $$@ $$^,ar rcs $$@)
)
$(1)_LIBS := $(foreach m,$(MODULES),$(1)/lib/libsc_$(m).a)

$(foreach b,$(BINS),
$(1)/bin/$(b): $(1)/obj/$$(basename $$(bin_main_$(b))).o $$($(1)_LIBS)
	@mkdir -p $$(dir $$@)
	$$(CC) $(3) -o $$@ $$< $$($(1)_LIBS) $$(LDLIBS)
)
endef

$(eval $(call variant,$(REL),$$(REL_CFLAGS),-g))
$(eval $(call variant,$(ASN),$$(ASAN_CFLAGS),-g $(ASAN_FLAGS)))

# sql/migrate.c embeds the schema and migrations with .incbin.
$(REL)/obj/sql/migrate.o $(ASN)/obj/sql/migrate.o: sql/schema.sql $(wildcard sql/migrations/*.sql)

# agent/gate/gate.c: the held start of pre-armed executions (agent/exec.h,
# exec_prepare), a tiny LD_PRELOAD library for /bin/sh installed beside the agent
# binary. It uses nothing of the project and is never instrumented.
GATE_FLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -shared -fPIC
$(REL)/bin/shardcron-gate.so $(ASN)/bin/shardcron-gate.so: agent/gate/gate.c
	@mkdir -p $(dir $@)
	$(CC) $(GATE_FLAGS) -o $@ $<

REL_BINS := $(addprefix $(REL)/bin/,$(BINS)) $(REL)/bin/shardcron-gate.so
ASN_BINS := $(addprefix $(ASN)/bin/,$(BINS)) $(ASN)/bin/shardcron-gate.so
TESTLIB_OBJS := $(patsubst %.c,$(ASN)/obj/%.o,$(TESTLIB_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(ASN)/tests/%,$(UNIT_SRCS))
IT_BINS := $(patsubst tests/integration/%.c,$(ASN)/tests/it_%,$(IT_SRCS))

$(ASN)/tests/test_%: $(ASN)/obj/tests/unit/test_%.o $(TESTLIB_OBJS) $($(ASN)_LIBS)
	@mkdir -p $(dir $@)
	$(CC) -g $(ASAN_FLAGS) -o $@ $< $(TESTLIB_OBJS) $($(ASN)_LIBS) $(LDLIBS) $(CMOCKA_LIBS)

$(ASN)/tests/it_%: $(ASN)/obj/tests/integration/%.o $(TESTLIB_OBJS) $($(ASN)_LIBS)
	@mkdir -p $(dir $@)
	$(CC) -g $(ASAN_FLAGS) -o $@ $< $(TESTLIB_OBJS) $($(ASN)_LIBS) $(LDLIBS) $(CMOCKA_LIBS)

# Test sources also need cmocka's headers.
$(ASN)/obj/tests/%.o: BASE_CFLAGS += $(CMOCKA_CFLAGS)

# ---- the deterministic simulator (tests/sim/) ----
# build/asan/tests/sim for `make test` and `make sim-check` (tests/sim/check:
# fixed seeds keep invariants 1, 2 and 4, invariant 3 within its ratchet,
# every mutant caught); build/tests/sim (release) for `make sim SEEDS=N`.
SIM_SRCS := $(wildcard tests/sim/*.c)
SEEDS ?= 100
SIM_STEPS ?= 100000
$(ASN)/tests/sim: $(patsubst %.c,$(ASN)/obj/%.o,$(SIM_SRCS)) $($(ASN)_LIBS)
	@mkdir -p $(dir $@)
	$(CC) -g $(ASAN_FLAGS) -o $@ $(filter %.o,$^) $($(ASN)_LIBS) $(LDLIBS)
$(REL)/tests/sim: $(patsubst %.c,$(REL)/obj/%.o,$(SIM_SRCS)) $($(REL)_LIBS)
	@mkdir -p $(dir $@)
	$(CC) -g -o $@ $(filter %.o,$^) $($(REL)_LIBS) $(LDLIBS)
.PHONY: sim sim-check
asan: $(ASN)/tests/sim
sim-check: $(ASN)/tests/sim
	tests/sim/check $(ASN)/tests/sim
sim: $(REL)/tests/sim
	$(REL)/tests/sim --seeds 1-$(SEEDS) --steps $(SIM_STEPS) --brief

# ---- Java adapter (built when a JDK is present) ----
JAVA_SRCS := $(shell find agent/java -name '*.java' 2>/dev/null)
JAVA_JAR := $(REL)/java/shardcron-java.jar
ifneq ($(JAVA_SRCS),)
ifneq ($(shell command -v javac 2>/dev/null),)
JAVA_TARGETS := $(JAVA_JAR)
endif
endif
$(JAVA_JAR): $(JAVA_SRCS)
	@rm -rf $(REL)/java/classes && mkdir -p $(REL)/java/classes
	javac -Werror -Xlint:all -d $(REL)/java/classes $(JAVA_SRCS)
	jar cf $@ -C $(REL)/java/classes .

.PHONY: all asan test check unit integration soak fuzz bench bench-bin fmt lint clean run stop

# The run-locally command (see README); scripts/run-local says what exists so far.
run:
	scripts/setup
	$(MAKE) all
	scripts/run-local start
stop:
	scripts/run-local stop
.DEFAULT_GOAL := all
all: $(REL_BINS) $(JAVA_TARGETS)
asan: $(ASN_BINS) $(UNIT_BINS) $(IT_BINS)

# `make test` is the one command CI runs: setup first (a fresh machine has nothing),
# then a sub-make so pkg-config sees the freshly installed packages.
test:
	scripts/setup
	$(MAKE) check

check: all asan
	tests/run-unit $(UNIT_BINS)
	tests/sim/check $(ASN)/tests/sim
	tests/run-integration $(IT_BINS)
	$(MAKE) fuzz FUZZ_RUNS=100000

unit: asan
	tests/run-unit $(UNIT_BINS)

# `make soak [SOAK_TRIALS=N]`: the random-fault soak alone, with more trials
# than `make test` gives it (tests/integration/test_soak.c).
SOAK_TRIALS ?= 100
soak: all asan
	SC_SOAK_TRIALS=$(SOAK_TRIALS) IT_FILTER=it_test_soak tests/run-integration $(ASN)/tests/it_test_soak

integration: all asan
	tests/run-integration $(IT_BINS)

# ---- fuzzing (clang + libFuzzer): each target runs FUZZ_SECONDS ----
# tests/fuzz/fuzz_<name>.c is one target, seeded from tests/fuzz/corpus/fuzz_<name>/.
# Targets link the libraries of FUZZ_MODULES built with coverage and sanitizers
# (build/fuzz/lib): only the objects a target uses are pulled in, so a target may
# call any parser in those modules without naming its file here.
FUZZ_SECONDS ?= 60
# FUZZ_RUNS set: a fixed number of runs from a fixed seed instead (deterministic,
# what `make test` uses); unset: FUZZ_SECONDS of fuzzing from a random seed.
FUZZ_LIMIT = $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS) -seed=1,-max_total_time=$(FUZZ_SECONDS))
FUZZ := build/fuzz
# console: tests/fuzz/fuzz_http.c sends requests through a real listener to its router.
FUZZ_MODULES := console workflow sql registry sharding core
FUZZ_SAN := address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=gnu11 -g -O1 -I. -D_GNU_SOURCE -DSC_VERSION=\"$(VERSION)\" $(ZK_CFLAGS) \
	$(PKG_CFLAGS) -MMD -MP -fsanitize=fuzzer-no-link,$(FUZZ_SAN)
FUZZ_LIBS := $(foreach m,$(FUZZ_MODULES),$(FUZZ)/lib/libsc_$(m).a)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ)/%,$(FUZZ_SRCS))
# Inputs larger than the default 256 bytes, for formats whose valid records are.
FUZZ_MAX_LEN_fuzz_job := 2048
FUZZ_MAX_LEN_fuzz_wf := 2048
FUZZ_MAX_LEN_fuzz_calendar := 2048
FUZZ_MAX_LEN_fuzz_pause := 1024
FUZZ_MAX_LEN_fuzz_plan_snapshot := 1024
FUZZ_MAX_LEN_fuzz_plan_agent := 1024
FUZZ_MAX_LEN_fuzz_spool := 1024
FUZZ_MAX_LEN_fuzz_http := 1024
$(FUZZ)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ)/obj/sql/migrate.o: sql/schema.sql $(wildcard sql/migrations/*.sql)
define fuzz_lib
$(FUZZ)/lib/libsc_$(1).a: $$(patsubst %.c,$(FUZZ)/obj/%.o,$$(call mod_srcs,$(1)))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach m,$(FUZZ_MODULES),$(eval $(call fuzz_lib,$(m))))
.PRECIOUS: $(FUZZ)/obj/%.o
$(FUZZ)/fuzz_%: $(FUZZ)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIBS)
	clang -g -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $< $(FUZZ_LIBS) $(LDLIBS)
# -close_fd_mask=2: the code's own stderr (the spool logs every torn segment it
# cuts) is closed; libFuzzer's progress and the sanitizers' reports still show.
fuzz_run = n=$(notdir $(1)); mkdir -p $(FUZZ)/corpus-$$n; \
	seed=tests/fuzz/corpus/$$n; [ -d $$seed ] || seed=; \
	echo "== $$n ($(FUZZ_LIMIT))"; \
	$(1) $(FUZZ_LIMIT) -close_fd_mask=2 -artifact_prefix=$(FUZZ)/ -max_len=$(or $(FUZZ_MAX_LEN_$(notdir $(1))),256) \
		$(FUZZ)/corpus-$$n $$seed || exit 1;
fuzz: $(FUZZ_BINS)
	@$(foreach f,$(FUZZ_BINS),$(call fuzz_run,$(f)))

# ---- benchmarks: every bench/<name>/run prints its table ----
BENCH_BINS := $(patsubst bench/%.c,$(REL)/bench/%,$(BENCH_SRCS))
$(REL)/bench/%: bench/%.c $($(REL)_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -o $@ $< $($(REL)_LIBS) $(LDLIBS)
bench-bin: all $(BENCH_BINS)
bench: bench-bin
	@for r in bench/*/run; do [ -x $$r ] || continue; echo "== $$r"; $$r || exit 1; done

# ---- hygiene ----
C_FILES = $(shell find core registry sharding agent console ctl workflow sql tests bench -name '*.[ch]' 2>/dev/null)
fmt:
	clang-format -i $(C_FILES)

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem --std=c11 -D__GNUC__ \
		-DTHREADED -I. $(C_FILES)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
