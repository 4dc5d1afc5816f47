# pytracemalloc: build, test, demo, benchmarks.
#
#   make demo       build, then trace the bundled example, show its top lines
#                   and write its HTML report (python -m pytracemalloc report)
#   make test       build with -Wall -Wextra -Werror, build the missing
#                   interpreters of the cache (make pythons), and run the test
#                   suite on this machine's python3 and on each of them
#   make test PYTHONS=   the suite on this machine's python3 only
#   make pythons    build the interpreters of the cache (CPython 3.12, 3.13,
#                   3.14, 3.15, free-threaded 3.13t and 3.14t, 3.11 with the
#                   free-list hooks patch, 3.11 --without-freelists) from
#                   Debian's sources, else from ../shared/cpython/
#   make test-asan  the test suite under AddressSanitizer
#   make bench      benchmarks against stdlib tracemalloc (and memray)
#   make bench PYTHON=3.14   the same on an interpreter of the cache (any
#                   name of PYTHONS)
#   make bench-report  the HTML report at 1,000 snapshots x 10,000 lines
#
# Each target installs what it needs: glib's headers via apt-get when
# pkg-config cannot find them, Python dependencies via pip.

PYTHON ?= python3
PYTHONS ?= 3.12 3.13 3.14 3.11-freelist-hooks 3.11-nofreelists 3.13t 3.14t 3.15
export PYTRACEMALLOC_CACHE ?= /opt/pytracemalloc
STRICT_CFLAGS = -Wall -Wextra -Werror
# PYTHON=NAME, a name of PYTHONS (make bench PYTHON=3.14): that interpreter
# of the cache (built by tools/build-python.sh when missing), in a virtual
# environment of its own for the in-place build.
ifneq ($(filter $(PYTHON),$(PYTHONS)),)
CACHE_PYTHON := $(PYTHON)
override PYTHON := $(PYTRACEMALLOC_CACHE)/venvs/dev-$(CACHE_PYTHON)/bin/python
endif
PIP = $(PYTHON) -m pip --disable-pip-version-check -q

.PHONY: all deps build demo test pythons test-asan bench bench-report clean \
	format chromium golang prometheus gdb allocators cache-python

all: build

deps: cache-python
	@pkg-config --exists glib-2.0 2>/dev/null || { \
	    echo "glib-2.0 not found: installing libglib2.0-dev"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq libglib2.0-dev pkg-config >/dev/null; }
	@$(PYTHON) -c "import setuptools, wheel" 2>/dev/null || $(PIP) install setuptools wheel

cache-python:
ifdef CACHE_PYTHON
	@tools/build-python.sh $(CACHE_PYTHON)
	@[ -x $(PYTHON) ] || "$$(ls $(PYTRACEMALLOC_CACHE)/pythons/$(CACHE_PYTHON)/bin/python3.[0-9]* \
	    | grep -E 'python3\.[0-9]+t?$$' | head -n 1)" -m venv $(abspath $(dir $(PYTHON))..)
endif

# An editable install has no place for the start-up hook that a normal
# install puts in site-packages (setup.py): copy it there.
build: deps
	$(PIP) install -r tests/requirements.txt
	PYTRACEMALLOC_CFLAGS="$(STRICT_CFLAGS)" $(PIP) install --no-build-isolation -e .
	cp pytracemalloc-startup.pth "$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/"

demo: build
	$(PYTHON) examples/demo.py

# A Debian tool the tests use: $(call debian-tool,COMMAND,PACKAGE,TESTS).
# Installed when missing; where it cannot be had, its tests are skipped,
# saying why.
define debian-tool
@command -v $(1) >/dev/null 2>&1 || { \
    echo "$(1) not found: installing Debian's $(2)"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq $(2) >/dev/null; } \
    || echo "$(2) cannot be installed: $(3) will be skipped"
endef

# The report's browser tests (tests/test_report.py) open the page in Debian's
# headless chromium; they are skipped, saying why, where it cannot be had.
chromium:
	$(call debian-tool,chromium,chromium,the browser tests)

# The export tests (tests/test_export.py) read pprof files back with Go's
# own reader, Debian's golang-go; skipped, saying why, where it cannot be
# had.
golang:
	$(call debian-tool,go,golang-go,the pprof tests)

# The endpoint's scrape test (tests/test_prometheus.py) runs Debian's
# prometheus server; skipped, saying why, where it cannot be had.
prometheus:
	$(call debian-tool,prometheus,prometheus,the scrape test)

# attach (tests/test_attach.py) goes through Debian's gdb below CPython
# 3.14; skipped, saying why, where it cannot be had.
gdb:
	$(call debian-tool,gdb,gdb,the attach tests through gdb)

# Preloaded allocators beside native tracing (tests/test_native.py):
# Debian's jemalloc and tcmalloc; skipped, saying why, where they cannot be
# had.
ALLOCATOR_LIBS = /usr/lib/$(shell gcc -print-multiarch)/libjemalloc.so.2 \
    /usr/lib/$(shell gcc -print-multiarch)/libtcmalloc_minimal.so.4
allocators:
	@ls $(ALLOCATOR_LIBS) >/dev/null 2>&1 || { \
	    echo "jemalloc or tcmalloc not found: installing Debian's libjemalloc2 libtcmalloc-minimal4"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq libjemalloc2 libtcmalloc-minimal4 >/dev/null; } \
	    || echo "libjemalloc2, libtcmalloc-minimal4 cannot be installed: the preload tests will be skipped"

test: build pythons chromium golang prometheus gdb allocators
	PYTHON=$(PYTHON) tools/test-pythons.sh system $(PYTHONS)

# Two builds at a time (BUILD_JOBS); exit status 3 from the build script:
# no source of that version can be had today, the test table lists it as
# unavailable.
pythons:
	@tools/build-pythons.sh $(PYTHONS)

# The hooks run on every allocation of the process: run the whole suite with
# the engine built under AddressSanitizer (leaks are CPython's business, not
# checked here).
ASAN_LIB = $(shell gcc -print-file-name=libasan.so)
test-asan: deps
	rm -rf build/asan && PYTRACEMALLOC_CFLAGS="$(STRICT_CFLAGS) -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    PYTRACEMALLOC_LDFLAGS="-fsanitize=address,undefined" \
	    $(PYTHON) setup.py -q build_ext --inplace --build-temp build/asan --force
	LD_PRELOAD=$(ASAN_LIB) ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	    PYTHONMALLOC=malloc $(PYTHON) -m pytest -q -p no:cacheprovider tests
	$(MAKE) build

# memray and jsonschema are the benchmark's own dependencies; memray is
# skipped with a note where it cannot be installed (or, installed, imported
# by $(PYTHON), which runs the benchmark).
bench: build
	$(PIP) install jsonschema
	$(PIP) install memray && $(PYTHON) -c "import memray" \
	    || echo "bench: memray cannot be installed here: skipped"
	$(PYTHON) bench/run.py
	$(PYTHON) bench/scale.py
	$(PYTHON) bench/numpy_alloc.py
	$(PYTHON) bench/native.py
	$(PIP) install pytest-memray || echo "bench: pytest-memray cannot be installed here: skipped"
	$(PYTHON) bench/pytest_suite.py

# The HTML report at 1,000 snapshots x 10,000 lines: build and open times.
bench-report: build chromium
	$(PYTHON) bench/report_scale.py

format:
	clang-format -i src/*.c src/*.h

clean:
	rm -rf build *.egg-info pytracemalloc/*.so
