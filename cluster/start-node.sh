#!/bin/sh
# npm start: one node (dist/main.js) run as npm run cluster runs its nodes (cluster/allocator.mjs says why):
# jemalloc preloaded when Debian's libjemalloc2 is installed (ALLOCATOR=glibc keeps glibc's malloc, ALLOCATOR=jemalloc
# requires it), glibc's two malloc settings, and V8's young generation at half its default size. Arguments go to
# the node; exec keeps its pid, so signals (Ctrl-C, SIGTERM's drain) reach it, as long as whatever runs this
# execs it too (package.json's start does: dash's sh -c does not exec its last command by itself).
set -eu
has_jemalloc() {
  PATH="$PATH:/sbin:/usr/sbin" ldconfig -p 2>/dev/null | grep -q '^[[:space:]]*libjemalloc\.so\.2 '
}
case "${ALLOCATOR:-auto}" in
  auto | jemalloc | glibc) ;;
  *) echo "npm start: ALLOCATOR must be one of auto, jemalloc, glibc, got \"$ALLOCATOR\"" >&2; exit 2 ;;
esac
# An LD_PRELOAD of the user's own is left as it is, whatever ALLOCATOR says.
if [ -z "${LD_PRELOAD:-}" ] && [ "${ALLOCATOR:-auto}" != glibc ]; then
  if has_jemalloc; then
    LD_PRELOAD=libjemalloc.so.2
    export LD_PRELOAD
  elif [ "${ALLOCATOR:-auto}" = jemalloc ]; then
    echo "npm start: ALLOCATOR=jemalloc, but libjemalloc.so.2 is not installed (apt-get install libjemalloc2)" >&2
    exit 2
  fi
fi
MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-131072}"
export MALLOC_ARENA_MAX MALLOC_MMAP_THRESHOLD_
exec node --max-semi-space-size=8 "$(dirname "$0")/../dist/main.js" "$@"
