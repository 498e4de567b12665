#!/usr/bin/env bash
# Training fonts with joined-up (copperplate, school-cursive) capitals, which none of the shared
# training fonts has: people who write their name in cursive capitals were read at 0% before
# (README "Unseen images"). 12 SIL-OFL @fontsource packages, chosen by eye for legible capitals,
# via `npm pack` into data/fonts/ with their licences. The output is committed, so training needs
# no network; this script says where it came from. None of them is in fetch_unseen_fonts.sh
# (tests/test_bundled_fonts.py holds the two lists apart).
set -euo pipefail
cd "$(dirname "$0")/.."
FONTS=(alex-brush allura cedarville-cursive clicker-script great-vibes italianno la-belle-aurore
       marck-script parisienne petit-formal-script pinyon-script sacramento)
bash scripts/npm_fonts.sh data/fonts "${FONTS[@]}"
