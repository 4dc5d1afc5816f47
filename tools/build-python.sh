#!/usr/bin/env bash
# Build a CPython into the interpreter cache, outside the clone, reusing what
# is there.  The source is Debian's source package where the archive serves
# one, otherwise an upstream tree from ../shared/cpython/ (checksum verified).
#
#   tools/build-python.sh NAME        e.g. 3.13, 3.14, 3.15, 3.14t,
#                                     3.11-freelist-hooks, 3.11-nofreelists
#
# NAME is a version, optionally with a variant:
#   X.Y                   upstream CPython X.Y
#   X.Yt                  free-threaded (--disable-gil)
#   X.Y-freelist-hooks    with patches/pythonX.Y-free-list-hooks.patch
#   X.Y-nofreelists       configured --without-freelists
#
# The source is the upstream tarball (the .orig.tar.* of Debian's source
# package, not the Debian-patched tree).  Debian's source indexes are read
# through a private apt configuration under the cache, so the machine's own
# apt sources are never changed.  An interpreter counts as built only once
# its stamp file is written, after `make install` succeeded: a half build is
# redone.
#
# Where Debian serves no source, ../shared/cpython/ (beside the clone) may
# hold Python-X.Y.Z.tar.xz with its line in SHA256SUMS; the newest X.Y.Z of
# the version is used, and only after its checksum matches.  A clone without
# ../shared simply has no second source.
#
# Environment: PYTRACEMALLOC_CACHE (default /opt/pytracemalloc),
# PYTRACEMALLOC_SHARED_CPYTHON (default ../shared/cpython from the clone).
# Exit status: 0 built or already there; 1 failed (a checksum mismatch
# included); 3 no source of that version can be had today (the message
# says so).
set -euo pipefail

name=${1:?usage: tools/build-python.sh NAME (e.g. 3.13, 3.14t, 3.11-freelist-hooks)}
cache=${PYTRACEMALLOC_CACHE:-/opt/pytracemalloc}
repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=$cache/pythons/$name
stamp=$prefix/.built
log_dir=$cache/logs
mkdir -p "$cache/pythons" "$cache/sources" "$log_dir"

if [ -f "$stamp" ]; then
    echo "$name: already built in $prefix"
    exit 0
fi

version=${name%%-*}
variant=
case "$name" in
    *-*) variant=${name#*-} ;;
esac
configure_options=()
if [ "${version%t}" != "$version" ]; then
    version=${version%t}
    configure_options+=(--disable-gil)
fi
case "$variant" in
    "") ;;
    freelist-hooks)
        patch_file=$repo/patches/python$version-free-list-hooks.patch
        [ -f "$patch_file" ] || { echo "$name: no $patch_file" >&2; exit 1; } ;;
    nofreelists) configure_options+=(--without-freelists) ;;
    *) echo "$name: unknown variant '$variant'" >&2; exit 1 ;;
esac

install_build_dependencies() {
    local packages=(build-essential pkg-config libssl-dev zlib1g-dev libffi-dev
                    libbz2-dev liblzma-dev libsqlite3-dev libreadline-dev
                    uuid-dev libncurses-dev xz-utils dpkg-dev)
    local missing=()
    for package in "${packages[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "$name: installing build dependencies: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# The URI of the Debian archive this machine already uses.
debian_mirror() {
    local uri
    uri=$(grep -rhE '^[[:space:]]*(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
          | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ')
    echo "${uri%/}"
}

# Download the upstream tarball of CPython $version into $cache/sources;
# print its path.  Tries the versions the archive lists, newest first.
fetch_source() {
    local apt_dir=$cache/apt mirror suites list versions pkg
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || { echo "$name: no Debian mirror in /etc/apt" >&2; return 1; }
    case "$version" in
        3.11) suites="bookworm" ;;
        *) suites="trixie forky sid" ;;
    esac
    mkdir -p "$apt_dir/lists-$version/partial"
    list=$apt_dir/sources-$version.list
    : > "$list"
    for suite in $suites; do
        echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >> "$list"
    done
    local apt_options=(-o "Dir::Etc::SourceList=$list" -o Dir::Etc::SourceParts=/dev/null
                       -o "Dir::State::Lists=$apt_dir/lists-$version" -o APT::Sandbox::User=root)
    apt-get -qq "${apt_options[@]}" update >&2
    pkg=python$version
    versions=$(apt-cache "${apt_options[@]}" showsrc "$pkg" 2>/dev/null \
               | awk '/^Version:/ {print $2}' | sort -rV | uniq)
    [ -n "$versions" ] || return 3
    cd "$cache/sources"
    for debian_version in $versions; do
        local upstream=${debian_version%%-*}
        upstream=${upstream%%+*}
        local tarball
        tarball=$(ls "${pkg}_${upstream}".orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n 1 || true)
        if [ -z "$tarball" ] && apt-get -qq "${apt_options[@]}" source --download-only \
                "$pkg=$debian_version" >&2 2>/dev/null; then
            tarball=$(ls "${pkg}_${upstream}".orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n 1 || true)
        fi
        if [ -n "$tarball" ]; then
            echo "$cache/sources/$tarball"
            return 0
        fi
        echo "$name: $pkg $debian_version is listed but cannot be downloaded" >&2
    done
    return 3
}

# Print the path of the newest upstream tree of $version in the shared
# folder, after checking it against SHA256SUMS; 3 where there is none, 1
# where its checksum is missing or wrong.
shared_source() {
    local dir=${PYTRACEMALLOC_SHARED_CPYTHON:-$repo/../shared/cpython} tarball base
    [ -d "$dir" ] || return 3
    tarball=$(ls "$dir"/Python-"$version".[0-9]*.tar.xz 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$tarball" ] || return 3
    base=$(basename "$tarball")
    if ! grep -qE "^[0-9a-f]{64}  $base\$" "$dir/SHA256SUMS" 2>/dev/null; then
        echo "$name: $base has no line in $dir/SHA256SUMS: not used" >&2
        return 1
    fi
    if ! (cd "$dir" && grep -E "  $base\$" SHA256SUMS | sha256sum -c --quiet --status -); then
        echo "$name: $base does not match its checksum in $dir/SHA256SUMS: not used" >&2
        return 1
    fi
    echo "$name: no Debian source; using $dir/$base (checksum verified)" >&2
    echo "$tarball"
}

# apt steps take turns with other builds running (tools/build-pythons.sh):
# dpkg's lock, and the source lists that 3.13 and 3.13t share.
apt_lock=$cache/apt.lock
{ flock 9; install_build_dependencies; } 9>"$apt_lock"
set +e
tarball=$( { flock 9; fetch_source; } 9>"$apt_lock" )
status=$?
if [ $status -ne 0 ]; then
    tarball=$(shared_source)
    status=$?
fi
set -e
if [ $status -eq 1 ]; then
    exit 1
fi
if [ $status -ne 0 ]; then
    message="no source of python$version can be had: none downloadable from the Debian archive, none in ../shared/cpython ($(date +%F))"
    echo "$name: $message" >&2
    echo "$message" > "$log_dir/$name.status"
    exit 3
fi
rm -f "$log_dir/$name.status"

work=$(mktemp -d "${TMPDIR:-/tmp}/build-python-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xf "$tarball" -C "$work"
source_dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'Python-*' | head -n 1)
if [ -n "${patch_file:-}" ]; then
    patch -d "$source_dir" -p1 --quiet < "$patch_file"
fi
echo "$name: building $(basename "$source_dir") into $prefix (log: $log_dir/$name.log)"
start=$(date +%s)
rm -rf "$prefix"
(
    cd "$work"
    mkdir build && cd build
    "$source_dir/configure" --prefix="$prefix" "${configure_options[@]}" --quiet
    make -j"$(nproc)" -s
    # The whole library's byte-code, as a normal install has it: a module
    # compiled at its first import is allocated at other lines than one
    # read from its .pyc (tests/test_stdlib_api.py compares two runs).
    make -s install
) > "$log_dir/$name.log" 2>&1 || { echo "$name: build failed, see $log_dir/$name.log" >&2; exit 1; }
echo "$(basename "$tarball") built in $(( $(date +%s) - start )) s" > "$stamp"
echo "$name: built in $(( $(date +%s) - start )) s"
