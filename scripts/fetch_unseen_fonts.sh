#!/usr/bin/env bash
# Handwriting fonts that are not in ../shared/fonts at all, for the truly-unseen test sets only
# (never for training): the 400-weight Latin files of 12 @fontsource packages, via `npm pack`,
# into .fonts-unseen/ (git-ignored). Then:
#   python scripts/make_unseen.py --font-dir .fonts-unseen --out data/unseen/npm --seed 17 -n 120
set -euo pipefail
cd "$(dirname "$0")/.."
FONTS=(nanum-pen-script sue-ellen-francisco annie-use-your-telescope the-girl-next-door short-stack
       gochi-hand neucha swanky-and-moo-moo mansalva gaegu delius itim)
bash scripts/npm_fonts.sh .fonts-unseen "${FONTS[@]}"
