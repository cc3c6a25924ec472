#!/usr/bin/env bash
# scripts/release.sh — the shipped artifacts (docs/INSTALL.md).
#
#   scripts/release.sh [build]                    static release binary + debug file, completions,
#                                                 man pages, tarball: dist/sai3-VERSION-TARGET/
#   scripts/release.sh image [--bin B] [--tag T]  the container image (Containerfile) from the static
#                                                 binary B (default: the one `build` made), tag T
#                                                 (default sai3:VERSION), with $CONTAINER_ENGINE
#                                                 (default podman)
#
# The binary is linked statically against glibc (-C target-feature=+crt-static). It is built for
# the explicit --target, so that RUSTFLAGS reach only the target's crates: build scripts and proc
# macros stay dynamic, as they must. Debug info and the symbol table go into sai3.debug (objcopy,
# found through .gnu_debuglink): sai3's panic hook prints one line, never a backtrace, so the
# shipped binary needs neither; gdb and addr2line get names and lines from sai3.debug.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'release: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
TARGET="${SAI3_RELEASE_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
DIST="${SAI3_DIST_DIR:-dist}"
NAME="sai3-$VERSION-$TARGET"
OUT="$DIST/$NAME"
MAX_BYTES=50000000

# Statically linked: no program interpreter in the ELF program headers.
is_static() { ! readelf --program-headers --wide "$1" 2>/dev/null | grep -q 'INTERP'; }

cmd_build() {
  [[ "$TARGET" == *-linux-gnu ]] || die "target $TARGET: the static build is for glibc targets (*-linux-gnu)"
  have objcopy && have readelf || die "objcopy and readelf are needed (Debian: apt-get install binutils)"
  say "building sai3 $VERSION for $TARGET, statically linked (cargo build --release; long on 2 cores)"
  local flags="${RUSTFLAGS:-}"
  [[ "$flags" == *crt-static* ]] || flags="$flags -C target-feature=+crt-static"
  RUSTFLAGS="$flags" cargo build --release --locked --target "$TARGET" --bin sai3
  local bin="$TARGET_DIR/$TARGET/release/sai3"
  is_static "$bin" || die "$bin is dynamically linked; is the glibc static library (libc6-dev) installed?"

  rm -rf "$OUT"
  mkdir -p "$OUT/completions" "$OUT/man"
  objcopy --only-keep-debug "$bin" "$OUT/sai3.debug"
  objcopy --strip-all --add-gnu-debuglink="$OUT/sai3.debug" "$bin" "$OUT/sai3"
  chmod 755 "$OUT/sai3"
  local size; size=$(stat -c %s "$OUT/sai3")
  (( size < MAX_BYTES )) || die "$OUT/sai3 is $size bytes, over the 50 MB budget"

  "$OUT/sai3" completions bash >"$OUT/completions/sai3.bash"
  "$OUT/sai3" completions zsh >"$OUT/completions/_sai3"
  "$OUT/sai3" completions fish >"$OUT/completions/sai3.fish"
  "$OUT/sai3" man --dir "$OUT/man"
  cp README.md "$OUT/"
  [[ -f LICENSE ]] && cp LICENSE "$OUT/"
  tar -C "$DIST" -czf "$DIST/$NAME.tar.gz" --exclude sai3.debug "$NAME"
  tar -C "$DIST" -czf "$DIST/$NAME-debug.tar.gz" "$NAME/sai3.debug"

  say "done: $OUT/sai3 ($((size / 1024 / 1024)) MiB, $(stat -c %s "$OUT/sai3.debug" | awk '{printf "%d MiB", $1/1048576}') of debug info in sai3.debug)"
  file "$OUT/sai3" 2>/dev/null || true
  ldd "$OUT/sai3" 2>&1 || true
  say "tarballs: $DIST/$NAME.tar.gz, $DIST/$NAME-debug.tar.gz"
}

cmd_image() {
  local bin="$OUT/sai3" tag="sai3:$VERSION" engine="${CONTAINER_ENGINE:-podman}"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --bin) bin="$2"; shift 2 ;;
      --tag) tag="$2"; shift 2 ;;
      *) die "image: unknown argument $1 (usage: scripts/release.sh image [--bin B] [--tag T])" ;;
    esac
  done
  [[ -x "$bin" ]] || die "$bin does not exist: run scripts/release.sh first, or give --bin"
  is_static "$bin" || die "$bin is dynamically linked: an empty image has no libc (scripts/release.sh builds the static one)"
  have "$engine" || die "$engine is not installed (Debian: apt-get install podman runc; docs/INSTALL.md)"
  local certs=/etc/ssl/certs/ca-certificates.crt
  [[ -f "$certs" ]] || die "$certs is missing (Debian: apt-get install ca-certificates)"
  # The build context holds only what the image gets (never the repository with its target/).
  CTX=$(mktemp -d "${TMPDIR:-/tmp}/sai3-image.XXXXXX")
  trap 'rm -rf "$CTX"' EXIT
  local ctx="$CTX"
  cp "$bin" "$ctx/sai3"
  cp "$certs" "$ctx/ca-certificates.crt"
  say "building image $tag from $bin with $engine"
  "$engine" build --quiet --file Containerfile --tag "$tag" "$ctx" >/dev/null
  say "done: $tag ($("$engine" image inspect --format '{{.Size}}' "$tag" | awk '{printf "%d MiB", $1/1048576}'))"
}

case "${1:-build}" in
  build) cmd_build ;;
  image) shift; cmd_image "$@" ;;
  -h | --help | help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "usage: scripts/release.sh [build | image [--bin B] [--tag T]]" ;;
esac
