#!/usr/bin/env bash
# Repository check: banned C functions (STYLE.md 38) and process exits / stdio writes in the
# library (STYLE.md 22). Prints each offending line; exits 1 if any.
set -u
top=${BELT_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 2
status=0
banned='\b(sprintf|vsprintf|strcpy|strcat|strncat|strncpy|gets|atoi|atol|atoll|strtok|localtime|gmtime|asctime|ctime)[[:space:]]*\('
hits=$(grep -rnE "$banned" --include='*.c' --include='*.h' src cli tests bench examples 2>/dev/null \
       | grep -vE '^\S+:[0-9]+:\s*(/\*|\*|//)' )
if [ -n "$hits" ]; then
  echo "banned functions (use snprintf, belt_buf, belt_parse_*, *_r variants):"
  echo "$hits"
  status=1
fi
lib=$(grep -rnE '\b(exit|abort|_exit)[[:space:]]*\(|\b(printf|puts|putchar|perror)[[:space:]]*\(|\bf?printf[[:space:]]*\([[:space:]]*std(out|err)|\bstd(out|err)\b' \
       --include='*.c' src 2>/dev/null | grep -vE '^\S+:[0-9]+:\s*(/\*|\*|//)')
if [ -n "$lib" ]; then
  echo "the library must not exit, abort or write to stdout/stderr (log through belt_log):"
  echo "$lib"
  status=1
fi
exit $status
