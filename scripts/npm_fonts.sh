#!/usr/bin/env bash
# Usage: npm_fonts.sh DEST NAME... — the 400-weight Latin file of each @fontsource package NAME
# (pinned version, via `npm pack`, so only the npm registry is needed) into DEST, with its licence
# as DEST/NAME.LICENSE. Shared by fetch_unseen_fonts.sh and fetch_script_fonts.sh.
set -euo pipefail
VERSION=5.3.0
dest=$1
shift
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in "$@"; do
    (cd "$work" && npm pack -q "@fontsource/$name@$VERSION" >/dev/null)
    tar -xzf "$work/fontsource-$name-$VERSION.tgz" -C "$work" \
        "package/files/$name-latin-400-normal.woff2" package/LICENSE
    mv "$work/package/files/$name-latin-400-normal.woff2" "$dest/"
    mv "$work/package/LICENSE" "$dest/$name.LICENSE"
done
ls "$dest"
