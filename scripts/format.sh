#!/usr/bin/env bash
# Formats the project's C++ with clang-format-14 (.clang-format at the root).
#   scripts/format.sh          rewrite files in place
#   scripts/format.sh --check  list files that drift and fail (CI)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.h' '*.cc' | grep -E '^(sidecar|pool|protocol|tests)/')
((${#files[@]})) || exit 0
if [[ ${1:-} == --check ]]; then
  if ! clang-format-14 --dry-run --Werror "${files[@]}" 2>/dev/null; then
    echo "format drift in:" >&2
    for f in "${files[@]}"; do
      clang-format-14 --dry-run --Werror "$f" >/dev/null 2>&1 || echo "  $f" >&2
    done
    echo "run scripts/format.sh" >&2
    exit 1
  fi
else
  clang-format-14 -i "${files[@]}"
fi
