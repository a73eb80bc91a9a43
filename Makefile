# The engine: gcc + OpenMP + OpenBLAS, cJSON, Check, libsentencepiece.
# Everything is found through pkg-config.

CC       ?= gcc
CXX      ?= g++
PKGS     := openblas libcjson sentencepiece
# Portable: x86-64-v3 (AVX2 + FMA) runs on any x86-64 CPU since Haswell / Zen 1
# (ARCH=-march=native builds for this machine only).  -fno-trapping-math
# (nothing here reads the FP exception flags) lets GCC if-convert the clamps
# in model/fastmath.h, so the GELU and attention loops vectorize without
# AVX-512's masked instructions; the values computed are unchanged.
ARCH     ?= -march=x86-64-v3
OPT      ?= -O3
CFLAGS   += $(OPT) $(ARCH) -fno-trapping-math -std=gnu11 -fopenmp -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -I. \
            $(shell pkg-config --cflags $(PKGS))
CXXFLAGS += $(OPT) $(ARCH) -std=c++17 -Wall -Wextra -I.
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lstdc++ -lm -fopenmp
CHECK_CFLAGS := $(shell pkg-config --cflags check)
CHECK_LIBS   := $(shell pkg-config --libs check)

BUILD    := build
LIB_SRC  := $(wildcard util/*.c weights/*.c tokenizer/*.c model/*.c train/*.c tasks/*.c app/*.c)
LIB_CXX  := $(wildcard tokenizer/*.cc)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cc=$(BUILD)/%.o)
CMDS     := finetune evaluate export
TEST_SRC := $(wildcard tests/test_*.c)
SUITES   := $(patsubst tests/test_%.c,%,$(TEST_SRC))

MODEL_DIR ?= models/all-MiniLM-L6-v2

.PHONY: all test test-asan model data bench clean
all: $(CMDS) $(BUILD)/bench

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libengine.a: $(LIB_OBJ)
	ar rcs $@ $^

$(CMDS): %: $(BUILD)/cmd/%.o $(BUILD)/libengine.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench: $(BUILD)/cmd/bench.o $(BUILD)/libengine.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# Test runner: one Check SRunner over every tests/test_NAME.c, each of which
# defines `Suite *NAME_suite(void)`.
$(BUILD)/suites.inc: $(TEST_SRC) Makefile
	@mkdir -p $(BUILD)
	@printf '%s\n' $(foreach s,$(SUITES),"SUITE($(s))") > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -I$(BUILD) -MMD -MP -c $< -o $@

$(BUILD)/tests/check_main.o: $(BUILD)/suites.inc

# model/ again in double precision (symbols suffixed _f64, see model/real.h)
# for the finite-difference suites, tests/test_*_f64.c.
F64_OBJ := $(patsubst %.c,$(BUILD)/f64/%.o,$(wildcard model/*.c))
$(BUILD)/f64/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DMODEL_DOUBLE -MMD -MP -c $< -o $@

$(BUILD)/tests/%_f64.o: tests/%_f64.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DMODEL_DOUBLE $(CHECK_CFLAGS) -I$(BUILD) -MMD -MP -c $< -o $@

TEST_OBJ := $(BUILD)/tests/check_main.o $(BUILD)/tests/testutil.o $(TEST_SRC:%.c=$(BUILD)/%.o) $(F64_OBJ)
$(BUILD)/run_tests: $(TEST_OBJ) $(BUILD)/libengine.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(CHECK_LIBS)

# The tests read the default model and the GLUE files: fetch them first.
test: $(BUILD)/run_tests $(CMDS) model data
	$(BUILD)/run_tests

# The same suites under AddressSanitizer + UBSan (CK_FORK=no so ASan sees
# every test in one process), one process per suite: `make -jN test-asan`
# runs N at a time (each suite's output is printed when it ends).
ASAN_SUITES ?= $(SUITES)
.PHONY: asan-build
test-asan: $(ASAN_SUITES:%=asan-run-%)
asan-build: model data
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
	        LDLIBS="$(LDLIBS) -fsanitize=address,undefined" build-asan/run_tests
asan-run-%: asan-build
	@CK_RUN_SUITE=$* CK_FORK=no ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  build-asan/run_tests > build-asan/$*.log 2>&1; rc=$$?; cat build-asan/$*.log; exit $$rc

model:
	scripts/fetch_model.sh $(MODEL_DIR)

data:
	scripts/fetch_glue.sh data/glue

bench: $(BUILD)/bench model
	MODEL_DIR=$(MODEL_DIR) scripts/bench.sh

clean:
	rm -rf build build-asan build-fuzz $(CMDS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# libFuzzer harnesses (fuzz/fuzz_NAME.c), built with clang, ASan and UBSan
# into build-fuzz/, each run for FUZZ_SECONDS on its seed corpus
# fuzz/corpus/NAME/ (inputs it finds go to build-fuzz/corpus/NAME/, crashes
# to build-fuzz/crash/NAME/); a crash fails.  See fuzz/README.md.
FUZZ_SECONDS ?= 30
FUZZERS      := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
                -Wno-unknown-pragmas -Wno-pass-failed
FUZZ_ENV     := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=allocator_may_return_null=1
.PHONY: fuzz fuzz-build
fuzz-build:
	$(MAKE) BUILD=build-fuzz CC=clang CXX=clang++ ARCH= OPT="$(FUZZ_OPT) -fsanitize=fuzzer-no-link" \
	        $(FUZZERS:%=build-fuzz/fuzzers/%)
$(BUILD)/fuzzers/%: $(BUILD)/fuzz/fuzz_%.o $(BUILD)/libengine.a
	@mkdir -p $(dir $@)
	$(CXX) $(OPT) -fopenmp -fsanitize=fuzzer $^ -o $@ $(LDLIBS)
# -max_len per format: a safetensors checkpoint of the tiny model is 88 kB,
# a SentencePiece model 250 kB.  `make -jN fuzz` runs N harnesses at a time.
fuzz: $(FUZZERS:%=fuzz-run-%)
fuzz-run-%: fuzz-build
	@case $* in checkpoint) len=131072;; vocab) len=300000;; safetensors) len=65536;; *) len=16384;; esac; \
	mkdir -p build-fuzz/corpus/$* build-fuzz/crash/$*; \
	if ! $(FUZZ_ENV) build-fuzz/fuzzers/$* -max_total_time=$(FUZZ_SECONDS) -max_len=$$len -timeout=10 \
	     -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=build-fuzz/crash/$*/ \
	     build-fuzz/corpus/$* fuzz/corpus/$* > build-fuzz/$*.log 2>&1; then \
	  tail -n 60 build-fuzz/$*.log; echo "fuzz: $* FAILED (build-fuzz/$*.log)"; exit 1; \
	fi; \
	echo "fuzz: $* $(FUZZ_SECONDS)s: $$(grep 'cov:' build-fuzz/$*.log | tail -n 1)"
