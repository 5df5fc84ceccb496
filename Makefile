# wapd: build, test, run and benchmark.
#
#   make          build build/wapd and build/wapd-agent (installs missing Debian packages first)
#   make run      build, then start the daemon with --demo
#   make test     unit tests, e2e tests, both again under ASan+UBSan, the OpenAPI lint (every document), the
#                 generated TypeScript client's compile (make client) and the README walk-through (make walkthrough);
#                 TEST_JOBS (2) unit binaries and e2e modules at once
#   make bench    throughput and latency against a bare libmicrohttpd baseline (wrk), usage drain and close,
#                 hook deliveries per second, VM creates per second with 1, 2 and 3 daemons on PostgreSQL
#                 beside SQLite
#   make soak     an hour at half of the measured peak of a mixed tenant load: RSS, fds, database size, p99
#   make fuzz     each libFuzzer target (tests/fuzz) for FUZZ_SECONDS (60), then FUZZ_HTTP_REQUESTS (1,000,000)
#                 black-box HTTP requests across every route (make fuzz-http)
#   make install  the binaries, the systemd units, man pages, completion, OpenAPI documents, docs and the
#                 example config (PREFIX, DESTDIR; see "install" below); make uninstall removes them

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 libcurl uuid openssl inih libvirt libsystemd gnutls libpq
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread
LDLIBS  += -pthread

BUILD   := build
ASAN    := $(BUILD)/asan
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC    := $(wildcard lib/*.c lib/*/*.c)
API_SRC    := $(wildcard api/*.c api/*/*.c)
DAEMON_SRC := $(filter-out daemon/collect.c,$(wildcard daemon/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_HEADERS := $(wildcard tests/unit/*.h)
HEADERS    := $(wildcard lib/*.h lib/*/*.h api/*.h api/*/*.h daemon/*.h)

# Debian packages by what they provide; installed when pkg-config (or a header) is missing.
DEB_libmicrohttpd := libmicrohttpd-dev
DEB_jansson       := libjansson-dev
DEB_sqlite3       := libsqlite3-dev
DEB_libcurl       := libcurl4-openssl-dev
DEB_uuid          := uuid-dev
DEB_openssl       := libssl-dev
DEB_inih          := libinih-dev
DEB_libvirt       := libvirt-dev
DEB_libsystemd    := libsystemd-dev
DEB_gnutls        := libgnutls28-dev
DEB_cmocka        := libcmocka-dev
DEB_libpq         := libpq-dev

STAMP := $(BUILD)/.deps

.PHONY: all deps run test unit e2e unit-asan e2e-asan lint bench soak fuzz fuzz-http fuzz-merge install uninstall units clean FORCE
.PHONY: docs client walkthrough

all: $(BUILD)/wapd $(BUILD)/wapd-collect $(BUILD)/wapd-agent $(BUILD)/wapctl
all: docs

# ---- dependencies ----
$(STAMP): Makefile
	@mkdir -p $(BUILD)
	@missing=""; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	command -v $(CC) >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	for p in $(PKGS) cmocka; do \
	  pkg-config --exists $$p 2>/dev/null || case $$p in \
	    libmicrohttpd) missing="$$missing $(DEB_libmicrohttpd)";; \
	    jansson) missing="$$missing $(DEB_jansson)";; \
	    sqlite3) missing="$$missing $(DEB_sqlite3)";; \
	    libcurl) missing="$$missing $(DEB_libcurl)";; \
	    uuid) missing="$$missing $(DEB_uuid)";; \
	    openssl) missing="$$missing $(DEB_openssl)";; \
	    inih) missing="$$missing $(DEB_inih)";; \
	    libvirt) missing="$$missing $(DEB_libvirt)";; \
	    libsystemd) missing="$$missing $(DEB_libsystemd)";; \
	    gnutls) missing="$$missing $(DEB_gnutls)";; \
	    cmocka) missing="$$missing $(DEB_cmocka)";; \
	    libpq) missing="$$missing $(DEB_libpq)";; \
	  esac; \
	done; \
	command -v python3 >/dev/null 2>&1 || missing="$$missing python3"; \
	python3 -c 'import jsonschema, yaml' >/dev/null 2>&1 || missing="$$missing python3-jsonschema python3-yaml"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	command -v sqlite3 >/dev/null 2>&1 || missing="$$missing sqlite3"; \
	command -v jq >/dev/null 2>&1 || missing="$$missing jq"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	command -v groff >/dev/null 2>&1 || missing="$$missing groff-base"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing; \
	fi
	@touch $@

deps: $(STAMP)

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

# ---- the daemon ----
OBJ      := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC) $(API_SRC) $(DAEMON_SRC))
CORE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC) $(API_SRC))
ASAN_OBJ      := $(patsubst %.c,$(ASAN)/%.o,$(LIB_SRC) $(API_SRC) $(DAEMON_SRC))
ASAN_CORE_OBJ := $(patsubst %.c,$(ASAN)/%.o,$(LIB_SRC) $(API_SRC))

$(BUILD)/%.o: %.c $(HEADERS) $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(ASAN)/%.o: %.c $(HEADERS) $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -O2,$(CFLAGS)) $(SAN_FLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/wapd: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# The reference usage collector.
$(BUILD)/wapd-collect: daemon/collect.c $(STAMP)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ daemon/collect.c $(PKG_LIBS) $(LDLIBS)

# The admin CLI: daemon/wapctl/*.c on libcurl and jansson only.
WAPCTL_SRC := $(wildcard daemon/wapctl/*.c)
$(BUILD)/wapctl: $(WAPCTL_SRC) $(wildcard daemon/wapctl/*.h) lib/util.h $(STAMP)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libcurl jansson) -o $@ $(WAPCTL_SRC) \
	  $(shell pkg-config --libs libcurl jansson) $(LDLIBS)

$(ASAN)/wapd: $(ASAN_OBJ)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# The host daemon: daemon/agent/*.c on the core (lib/ and api/), never daemon/*.c.
AGENTD_SRC      := $(wildcard daemon/agent/*.c)
AGENTD_OBJ      := $(patsubst %.c,$(BUILD)/%.o,$(AGENTD_SRC))
ASAN_AGENTD_OBJ := $(patsubst %.c,$(ASAN)/%.o,$(AGENTD_SRC))
$(AGENTD_OBJ) $(ASAN_AGENTD_OBJ): $(wildcard daemon/agent/*.h)

$(BUILD)/wapd-agent: $(AGENTD_OBJ) $(CORE_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(ASAN)/wapd-agent: $(ASAN_AGENTD_OBJ) $(ASAN_CORE_OBJ)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# ---- unit tests (cmocka): one binary per module ----
UNIT_BIN      := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
ASAN_UNIT_BIN := $(patsubst tests/unit/%.c,$(ASAN)/tests/%,$(UNIT_SRC))

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_HEADERS) $(CORE_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(CORE_OBJ) $(PKG_LIBS) $(CMOCKA_LIBS) $(LDLIBS)

$(ASAN)/tests/%: tests/unit/%.c $(UNIT_HEADERS) $(ASAN_CORE_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -O2,$(CFLAGS)) $(SAN_FLAGS) $(PKG_CFLAGS) -o $@ $< $(ASAN_CORE_OBJ) \
	  $(PKG_LIBS) $(CMOCKA_LIBS) $(LDLIBS)

# Unit tests of the daemon's settings and their reload link daemon/config*.o and daemon/reload.o as well
# (never daemon/main.o).
DAEMON_TESTS    := test_config test_reload
DAEMON_TEST_OBJ := daemon/config.o daemon/config_file.o daemon/config_text.o daemon/reload.o

$(addprefix $(BUILD)/tests/,$(DAEMON_TESTS)): $(BUILD)/tests/%: tests/unit/%.c \
  $(addprefix $(BUILD)/,$(DAEMON_TEST_OBJ)) $(CORE_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(addprefix $(BUILD)/,$(DAEMON_TEST_OBJ)) $(CORE_OBJ) $(PKG_LIBS) \
	  $(CMOCKA_LIBS) $(LDLIBS)

$(addprefix $(ASAN)/tests/,$(DAEMON_TESTS)): $(ASAN)/tests/%: tests/unit/%.c \
  $(addprefix $(ASAN)/,$(DAEMON_TEST_OBJ)) $(ASAN_CORE_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -O2,$(CFLAGS)) $(SAN_FLAGS) $(PKG_CFLAGS) -o $@ $< \
	  $(addprefix $(ASAN)/,$(DAEMON_TEST_OBJ)) $(ASAN_CORE_OBJ) $(PKG_LIBS) $(CMOCKA_LIBS) $(LDLIBS)

# The admin CLI's unit tests link its files (never its main.c) instead of the core.
WAPCTL_PARTS := $(filter-out daemon/wapctl/main.c,$(WAPCTL_SRC))
$(BUILD)/tests/test_wapctl: tests/unit/test_wapctl.c $(WAPCTL_PARTS) $(wildcard daemon/wapctl/*.h) $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(WAPCTL_PARTS) $(PKG_LIBS) $(CMOCKA_LIBS) $(LDLIBS)

$(ASAN)/tests/test_wapctl: tests/unit/test_wapctl.c $(WAPCTL_PARTS) $(wildcard daemon/wapctl/*.h) $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -O2,$(CFLAGS)) $(SAN_FLAGS) $(PKG_CFLAGS) -o $@ $< $(WAPCTL_PARTS) $(PKG_LIBS) \
	  $(CMOCKA_LIBS) $(LDLIBS)

# Unit tests that drive a real wapd-agent process link its fixture (tests/unit/agentd_fixture.c) too.
AGENTD_TESTS := test_agent_http test_agent_http_volume test_agent_conformance

$(addprefix $(BUILD)/tests/,$(AGENTD_TESTS)): $(BUILD)/tests/%: tests/unit/%.c tests/unit/agentd_fixture.c \
  $(UNIT_HEADERS) $(CORE_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< tests/unit/agentd_fixture.c $(CORE_OBJ) $(PKG_LIBS) \
	  $(CMOCKA_LIBS) $(LDLIBS)

$(addprefix $(ASAN)/tests/,$(AGENTD_TESTS)): $(ASAN)/tests/%: tests/unit/%.c tests/unit/agentd_fixture.c \
  $(UNIT_HEADERS) $(ASAN_CORE_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -O2,$(CFLAGS)) $(SAN_FLAGS) $(PKG_CFLAGS) -o $@ $< tests/unit/agentd_fixture.c \
	  $(ASAN_CORE_OBJ) $(PKG_LIBS) $(CMOCKA_LIBS) $(LDLIBS)

# Those tests start build/wapd-agent.
unit unit-asan: $(BUILD)/wapd-agent

# ---- fuzzing: one libFuzzer target per parser, tests/fuzz/fuzz_NAME.c, its corpus in tests/fuzz/NAME/ ----
# body: strict JSON and the shape checker; bodies: every create, patch and action body through the pipeline;
# query: list queries, cursors, nextLink, If-Match; usage: the usage feeds' and WAP's parameters; router: path
# and method matching; config: the config file (inih, config_set, --print-config loads back); wire: the
# wapd-agent protocol's decoders. make unit and make unit-asan replay every corpus once (gcc, no libFuzzer).
FUZZ_TARGETS := body bodies query usage router config wire
FUZZ_DEPS    := tests/fuzz/replay.c $(wildcard tests/fuzz/*.h) $(HEADERS)
FUZZ_REPLAY  = for t in $(FUZZ_TARGETS); do $(1)/tests/fuzz_$${t}_replay tests/fuzz/$$t/* || exit 1; done

$(BUILD)/tests/fuzz_%_replay: tests/fuzz/fuzz_%.c $(FUZZ_DEPS) $(CORE_OBJ) $(addprefix $(BUILD)/,$(DAEMON_TEST_OBJ))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< tests/fuzz/replay.c $(filter %.o,$^) $(PKG_LIBS) $(LDLIBS)

$(ASAN)/tests/fuzz_%_replay: tests/fuzz/fuzz_%.c $(FUZZ_DEPS) $(ASAN_CORE_OBJ) $(addprefix $(ASAN)/,$(DAEMON_TEST_OBJ))
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -O2,$(CFLAGS)) $(SAN_FLAGS) $(PKG_CFLAGS) -o $@ $< tests/fuzz/replay.c $(filter %.o,$^) \
	  $(PKG_LIBS) $(LDLIBS)

# TEST_JOBS (2): how many unit binaries, and how many e2e modules, run at once; make test builds with as many
# jobs unless make was given -j itself. 2 suits a machine of 2 shared cores: much of the tests' time is
# waiting (deadlines, periods, retries), not computing.
TEST_JOBS ?= 2
# The longest binaries start first, so that those running at once end together.
UNIT_FIRST := test_fault_jobs test_agent_http_volume test_snapshot test_agent_sim_volume
UNIT_ORDER = $(foreach t,$(UNIT_FIRST),$(filter %/$(t),$(1))) $(filter-out $(UNIT_FIRST:%=\%/%),$(1))

unit: $(UNIT_BIN) $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz_%_replay)
	@UNIT_JOBS=$(TEST_JOBS) tests/run-unit.sh $(call UNIT_ORDER,$(UNIT_BIN))
	@$(call FUZZ_REPLAY,$(BUILD))

unit-asan: $(ASAN_UNIT_BIN) $(FUZZ_TARGETS:%=$(ASAN)/tests/fuzz_%_replay)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  UNIT_JOBS=$(TEST_JOBS) tests/run-unit.sh $(call UNIT_ORDER,$(ASAN_UNIT_BIN))
	@export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1; \
	  $(call FUZZ_REPLAY,$(ASAN))

# make fuzz (not part of make test): builds each target with clang's libFuzzer, ASan and UBSan, and runs it
# for FUZZ_SECONDS (60) from its corpus, printing its executions and result (a crash leaves its input in
# build/fuzz/NAME-crash-*). What a run finds is kept in build/fuzz/found/NAME; make fuzz-merge adds to each
# corpus only the found inputs that reach new coverage (-merge=1), keeping the hand-written seeds.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
  -fno-sanitize-recover=undefined
FUZZ_OBJ     := $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(LIB_SRC) $(API_SRC) daemon/config.c daemon/config_file.c \
  daemon/config_text.c)
.SECONDARY: $(FUZZ_OBJ)

$(BUILD)/fuzz/obj/%.o: %.c $(HEADERS) $(STAMP)
	@command -v clang >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq clang)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS) $(FUZZ_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $< $(FUZZ_OBJ) $(PKG_LIBS) -pthread

fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/fuzz/found/$$t; \
	  $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 -rss_limit_mb=4096 \
	    -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$t- $(BUILD)/fuzz/found/$$t tests/fuzz/$$t \
	    >$(BUILD)/fuzz/$$t.log 2>&1; rc=$$?; \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(BUILD)/fuzz/$$t.log | tail -n 1); \
	  if [ $$rc -eq 0 ]; then res=ok; else res="FAILED (exit $$rc, see $(BUILD)/fuzz/$$t.log)"; \
	    failed="$$failed $$t"; fi; \
	  printf 'fuzz %-8s %10s executions in %ss: %s\n' $$t "$${execs:-?}" $(FUZZ_SECONDS) "$$res"; \
	done; [ -z "$$failed" ] || { echo "fuzz: failed in$$failed"; exit 1; }

fuzz-merge: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do mkdir -p $(BUILD)/fuzz/found/$$t; n=$$(ls tests/fuzz/$$t | wc -l); \
	  $(BUILD)/fuzz/fuzz_$$t -merge=1 -max_len=8192 tests/fuzz/$$t $(BUILD)/fuzz/found/$$t \
	    >$(BUILD)/fuzz/$$t-merge.log 2>&1 || exit 1; \
	  echo "fuzz $$t: $$n inputs, $$(ls tests/fuzz/$$t | wc -l) with what the runs found"; done

# ---- end-to-end tests against the real binary ----
# TEST_JOBS modules at once (tests/e2e/run.py -j). The sanitized pass runs every module too, but skips the
# tests marked plain_only (the long fault runs: see tests/e2e/run.py), which the plain pass runs.
e2e: $(BUILD)/wapd $(BUILD)/wapd-collect $(BUILD)/wapd-agent
	@WAPD_BIN=$(BUILD)/wapd WAPD_COLLECT_BIN=$(BUILD)/wapd-collect python3 tests/e2e/run.py -j $(TEST_JOBS)

e2e-asan: $(ASAN)/wapd $(BUILD)/wapd-collect $(ASAN)/wapd-agent
	@WAPD_COLLECT_BIN=$(BUILD)/wapd-collect ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  WAPD_BIN=$(ASAN)/wapd WAPD_SANITIZED=1 python3 tests/e2e/run.py -j $(TEST_JOBS)

# ---- the same suites on PostgreSQL: a throw-away cluster (tests/pg/cluster.sh) for each run ----
# unit-pg runs the store conformance suite with its postgresql backend row; e2e-pg runs the store-heavy e2e
# modules with every daemon on a database of its own (pgdb.py reads WAPD_TEST_PG). Choose other modules
# with E2E_PG_MODULES (run.py's filters: "test_x." is one module; checkpoint_restore, usage_split, events and
# job_retention pass on PostgreSQL too, and are left out of make test for time).
PG_UNIT_BIN    := $(filter $(BUILD)/tests/test_store_conformance%,$(UNIT_BIN))
E2E_PG_MODULES ?= test_vms. test_checkpoint. test_vmroles. test_usage. test_timeline. test_hooks. test_jobs. test_scaleout. test_takeover. test_leader.

.PHONY: unit-pg e2e-pg

unit-pg: $(PG_UNIT_BIN)
	@UNIT_JOBS=$(TEST_JOBS) tests/pg/cluster.sh run tests/run-unit.sh $(PG_UNIT_BIN)

e2e-pg: $(BUILD)/wapd $(BUILD)/wapd-collect $(BUILD)/wapd-agent
	@WAPD_BIN=$(BUILD)/wapd WAPD_COLLECT_BIN=$(BUILD)/wapd-collect \
	  tests/pg/cluster.sh run python3 tests/e2e/run.py -j $(TEST_JOBS) $(E2E_PG_MODULES)

# ---- the OpenAPI documents of each listener, derived from the complete one ----
# schemas/openapi.yaml names the listener of every path; tools/split-openapi.py writes one document per
# listener (its paths, the components they use, that listener as the only server) for generated clients.
OPENAPI_DERIVED := $(BUILD)/openapi-admin.yaml $(BUILD)/openapi-tenant.yaml

docs: $(OPENAPI_DERIVED)

$(OPENAPI_DERIVED) &: schemas/openapi.yaml tools/split-openapi.py $(STAMP)
	python3 tools/split-openapi.py schemas/openapi.yaml $(BUILD)

# ---- OpenAPI lint with a linter from the npm registry, installed into tools/ ----
LINT_BIN := tools/node_modules/.bin/redocly

$(LINT_BIN): tools/package.json tools/package-lock.json
	@command -v npm >/dev/null 2>&1 || (export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq nodejs npm)
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: $(LINT_BIN) $(OPENAPI_DERIVED)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	  tools/node_modules/.bin/redocly lint --config tools/redocly.yaml schemas/openapi.yaml
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	  tools/node_modules/.bin/redocly lint --config tools/redocly.yaml schemas/agent.yaml
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	  tools/node_modules/.bin/redocly lint --config tools/redocly.yaml $(OPENAPI_DERIVED)

# ---- a TypeScript client generated from the document must compile (openapi-typescript, tsc) ----
$(BUILD)/client/wapd.d.ts: schemas/openapi.yaml $(LINT_BIN)
	@mkdir -p $(dir $@)
	tools/node_modules/.bin/openapi-typescript schemas/openapi.yaml -o $@

client: $(BUILD)/client/wapd.d.ts tests/client/check.ts tests/client/tsconfig.json
	@if tools/node_modules/.bin/tsc -p tests/client/tsconfig.json --noEmit --strict; then \
	  echo "client: 1 passed, 0 failed"; else echo "client: 0 passed, 1 failed"; exit 1; fi

# ---- the README's walk-through, run as one script against build/wapd ----
walkthrough: $(BUILD)/wapd
	@WAPD=$(BUILD)/wapd tests/walkthrough.sh

# ---- everything ----
# Builds with TEST_JOBS jobs unless make was given -j (its jobserver then reaches every sub-make).
TEST_MAKE = $(MAKE) $(if $(findstring -j,$(MAKEFLAGS))$(findstring jobserver,$(MAKEFLAGS)),,-j$(TEST_JOBS))

test: $(STAMP)
	@$(TEST_MAKE) --no-print-directory all
	@MAKE="$(TEST_MAKE)" tests/run-all.sh

run: all
	$(BUILD)/wapd --demo

# The benchmark's own tools: the bare server, the write load (creates, stops, deletes) and the store seeder
# of the scale run (it links the core, as the daemon does).
BENCH_BIN := $(BUILD)/bench/baseline $(BUILD)/bench/loadgen $(BUILD)/bench/seed

$(BUILD)/bench/baseline: bench/baseline.c $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS) $(LDLIBS)

$(BUILD)/bench/loadgen: bench/loadgen.c bench/httpc.c bench/httpc.h $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ bench/loadgen.c bench/httpc.c $(PKG_LIBS) $(LDLIBS)

$(BUILD)/bench/seed: bench/seed.c $(CORE_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(CORE_OBJ) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/bench/soak: bench/soak.c bench/httpc.c bench/httpc.h $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ bench/soak.c bench/httpc.c $(PKG_LIBS) $(LDLIBS) -lm

bench: all $(BENCH_BIN)
	@command -v wrk >/dev/null 2>&1 || (export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq wrk)
	bench/run.sh
	bench/usage.sh
	bench/hooks.sh
	bench/scaleout.sh

# The soak: a seeded world, the peak of a mixed tenant load measured, then SOAK_SECONDS (3600) at half of it
# with a row of RSS, fds, database size, requests, errors and latency every SOAK_INTERVAL (300) seconds.
soak: $(BUILD)/wapd $(BUILD)/bench/loadgen $(BUILD)/bench/soak
	bench/soak.sh

# The black-box HTTP fuzzer: FUZZ_HTTP_REQUESTS (1,000,000) mutated requests across every route of both
# listeners of a seeded WAPD_BIN (build/wapd; WAPD_BIN=build/asan/wapd for the sanitized daemon); fails on a
# 5xx, an error outside the JSON envelope, a daemon that died or stopped answering, or a sanitizer report.
FUZZ_HTTP_REQUESTS ?= 1000000
WAPD_BIN ?= $(BUILD)/wapd
$(BUILD)/bench/httpfuzz: bench/httpfuzz.c $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ bench/httpfuzz.c $(PKG_LIBS) $(LDLIBS)

fuzz-http: $(WAPD_BIN) $(BUILD)/bench/httpfuzz $(BUILD)/bench/loadgen
	FUZZ_HTTP_REQUESTS=$(FUZZ_HTTP_REQUESTS) WAPD_BIN=$(WAPD_BIN) bench/httpfuzz.sh

fuzz: fuzz-http

# ---- install ----
# PREFIX (/usr/local) and DESTDIR as usual; the config goes to $(DESTDIR)$(SYSCONFDIR)/wapd/wapd.conf only
# when there is none (an operator's config is never overwritten, and make uninstall keeps it). The systemd
# units are made from deploy/*.service.in with the prefix filled in.
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR     := $(PREFIX)/bin
UNITDIR    := $(PREFIX)/lib/systemd/system
MANDIR     := $(PREFIX)/share/man
DATADIR    := $(PREFIX)/share/wapd
DOCDIR     := $(PREFIX)/share/doc/wapd
COMPLDIR   := $(PREFIX)/share/bash-completion/completions
UNITS      := wapd wapd-agent wapd-collect
UNIT_FILES := $(patsubst %,$(BUILD)/systemd/%.service,$(UNITS))
INSTALL_BIN  := wapd wapd-agent wapd-collect wapctl
INSTALL_MAN  := man1/wapctl.1 man5/wapd.conf.5 man8/wapd.8
INSTALL_DATA := $(BUILD)/openapi-admin.yaml $(BUILD)/openapi-tenant.yaml schemas/openapi.yaml schemas/agent.yaml
EXAMPLES     := $(wildcard deploy/examples/*)

# The prefix is part of what a unit says: a change of PREFIX remakes them.
$(BUILD)/systemd/.prefix: FORCE
	@mkdir -p $(dir $@)
	@echo "$(BINDIR) $(SYSCONFDIR) $(UNITDIR) $(DOCDIR)" | cmp -s - $@ || \
	  echo "$(BINDIR) $(SYSCONFDIR) $(UNITDIR) $(DOCDIR)" > $@

$(BUILD)/systemd/%.service: deploy/%.service.in $(BUILD)/systemd/.prefix
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@UNITDIR@|$(UNITDIR)|g' \
	  -e 's|@DOCDIR@|$(DOCDIR)|g' $< > $@.tmp
	@! grep -n '@[A-Z]*@' $@.tmp || (rm -f $@.tmp; echo "$<: a placeholder make does not fill"; exit 1)
	mv $@.tmp $@

units: $(UNIT_FILES)

install: all units $(INSTALL_DATA)
	for b in $(INSTALL_BIN); do install -D -m 0755 $(BUILD)/$$b $(DESTDIR)$(BINDIR)/$$b || exit 1; done
	for u in $(UNITS); do \
	  install -D -m 0644 $(BUILD)/systemd/$$u.service $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; done
	for m in $(INSTALL_MAN); do \
	  install -D -m 0644 deploy/man/$${m#*/} $(DESTDIR)$(MANDIR)/$$m || exit 1; done
	install -D -m 0644 deploy/completion/wapctl.bash $(DESTDIR)$(COMPLDIR)/wapctl
	for f in $(INSTALL_DATA); do install -D -m 0644 $$f $(DESTDIR)$(DATADIR)/$${f##*/} || exit 1; done
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -D -m 0644 schemas/README.md $(DESTDIR)$(DOCDIR)/api-guide.md
	for f in $(EXAMPLES); do install -D -m 0644 $$f $(DESTDIR)$(DOCDIR)/examples/$${f##*/} || exit 1; done
	[ -e $(DESTDIR)$(SYSCONFDIR)/wapd/wapd.conf ] || \
	  install -D -m 0644 deploy/wapd.conf $(DESTDIR)$(SYSCONFDIR)/wapd/wapd.conf

# Removes every file install put and wapd's own directories (share/wapd, share/doc/wapd); keeps the config
# and the common directories (bin, man, ...).
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(INSTALL_BIN))
	rm -f $(patsubst %,$(DESTDIR)$(UNITDIR)/%.service,$(UNITS))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/,$(INSTALL_MAN))
	rm -f $(DESTDIR)$(COMPLDIR)/wapctl
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)

FORCE:

clean:
	rm -rf $(BUILD)
