#!/usr/bin/env bash
# Regenerates fixtures/galleries/: gallery files of every format version, each written by
# the skulens sources of a commit that wrote that version (from this repository's
# history), with the answers that code gave (fixtures/galleries/generate.ts).
# test/gallery-golden.test.ts checks that today's code reads them and answers the same.
#   bash scripts/golden-galleries.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=fixtures/galleries
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# commit  file-prefix  kind. Which commit writes which version, from
# `git log -S FORMAT_VERSION -- src/core/gallery/format.ts` and `git log -S cohortWeight`:
#   ef41123 introduced version 2: its parent is the last version-1 writer;
#   1eefc5e added the cohort term: its parent is the last plain version-2 writer;
#   1eefc5e..1737628^ wrote the cohort term into version-2 files (1737628 moved it to
#   version 3): such files exist, so one is kept too;
#   d98150d (open-set guards and negative references, issue 23) writes version 4.
while read -r commit name kind; do
  dir="$tmp/$(git rev-parse --short "$commit")"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    git archive "$commit" src package.json | tar -x -C "$dir"
    ln -s "$PWD/node_modules" "$dir/node_modules"
  fi
  npx tsx "$out/generate.ts" "$dir" "$out/$name" "$kind"
done <<'LIST'
ef41123^ v1-plain plain
ef41123^ v1-plain-f16 plain-f16
1eefc5e^ v2-adapted adapted
1eefc5e^ v2-calibrated calibrated
1737628^ v2-calibrated-cohort calibrated
1737628 v3-calibrated calibrated
d98150d v4-calibrated calibrated
LIST
