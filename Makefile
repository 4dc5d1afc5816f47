# pytracemalloc: build, test, demo, benchmarks.
#
#   make demo       build, then trace the bundled example and show its top lines
#   make test       build with -Wall -Wextra -Werror and run the test suite
#   make test-asan  the test suite under AddressSanitizer
#   make bench      benchmarks against stdlib tracemalloc (and memray)
#
# Each target installs what it needs: glib's headers via apt-get when
# pkg-config cannot find them, Python dependencies via pip.

PYTHON ?= python3
STRICT_CFLAGS = -Wall -Wextra -Werror
PIP = $(PYTHON) -m pip --disable-pip-version-check -q

.PHONY: all deps build demo test test-asan bench clean format

all: build

deps:
	@pkg-config --exists glib-2.0 2>/dev/null || { \
	    echo "glib-2.0 not found: installing libglib2.0-dev"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq libglib2.0-dev pkg-config >/dev/null; }
	@$(PYTHON) -c "import setuptools, wheel" 2>/dev/null || $(PIP) install setuptools wheel

build: deps
	PYTRACEMALLOC_CFLAGS="$(STRICT_CFLAGS)" $(PIP) install --no-build-isolation -e '.[test]'

demo: build
	$(PYTHON) examples/demo.py

test: build
	$(PYTHON) -m pytest -q tests

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

bench: build
	$(PYTHON) bench/run.py

format:
	clang-format -i src/*.c src/*.h

clean:
	rm -rf build *.egg-info pytracemalloc/*.so
