#!/usr/bin/env bash
# A layer calls only the layers below it (DESIGN.md): every #include "..." of
# src/<layer>/*.c and *.h names its own folder or one of the layers this table allows.
# An upward or sideways include fails, naming the file and the line. The same table
# stands in README.md ("Layout").
source "$(dirname "$0")/../lib.sh"

declare -A BELOW=(
  [cli]="app gateway events invoke host wasi engine store util"
  [app]="engine util"
  [gateway]="events invoke host app util"
  [events]="invoke store app util"
  [invoke]="engine wasi host app util"
  [host]="store engine util"
  [wasi]="engine util"
  [engine]="util"
  [dist]="store util"
  [store]="util"
  [util]=""
)

for dir in "$SRC"/src/*/; do
  layer=$(basename "$dir")
  if [ -z "${BELOW[$layer]+set}" ]; then
    fail "src/$layer: a layer the table in tests/layers/includes.sh does not know"
    continue
  fi
  for f in "$dir"*.c "$dir"*.h; do
    [ -e "$f" ] || continue
    while IFS=: read -r line text; do
      target=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]*)".*/\1/' <<<"$text")
      target=${target#./}
      while [ "${target#../}" != "$target" ]; do target=${target#../}; done
      case "$target" in */*) to=${target%%/*} ;; *) to=$layer ;; esac
      if [ "$to" == "$layer" ] || [[ " ${BELOW[$layer]} " == *" $to "* ]]; then
        pass
      else
        fail "src/$layer/$(basename "$f"):$line includes \"$target\": $layer may include only ${BELOW[$layer]:-nothing}"
      fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
  done
done
finish
