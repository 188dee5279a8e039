#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, lints, typechecks, then runs the
# unit tests (beside the code) and the integration tests (test/, real runc/conmon/overlay, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
echo "==> lint"
npm run lint --silent
echo "==> typecheck"
npm run typecheck --silent
echo "==> unit tests"
node --test --test-concurrency=2 $(find dist/src -name '*.test.js' | sort)
echo "==> integration tests"
node --test --test-concurrency=1 $(find dist/test -name '*.test.js' -not -path 'dist/test/reliability/*' | sort)
if [ "${BERTH_RELIABILITY:-0}" = "1" ]; then
  echo "==> reliability suite"
  node --test --test-concurrency=1 $(find dist/test/reliability -name '*.test.js' | sort)
fi
