#!/usr/bin/env bash
# The ONE test command (`npm test`, and `.ci/run`):
#   1. scripts/setup.sh          install missing Debian packages / npm deps, start dockerd
#   2. npm run test-image        build helios-test/web:latest if stale
#   3. tsc --noEmit -p .         a type error counts as one failed test
#   4. vitest run                extra arguments pass through: `npm test -- log/` or `-- -t name`
# and prints as its LAST line `N passed, N failed` (`, N skipped` when some were skipped or todo),
# from vitest's JSON report. A test file that failed without a failing test (import error, failing
# beforeAll) counts as one failure; so does a non-zero vitest exit with nothing else failed (e.g.
# unhandled errors, no test files). Exits non-zero if anything failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

section() { printf '\n==> %s\n' "$*"; }

section "setup"
bash scripts/setup.sh || { echo "scripts/setup.sh failed" >&2; echo "0 passed, 1 failed"; exit 1; }

section "test image"
npm run --silent test-image </dev/null || { echo "npm run test-image failed" >&2; echo "0 passed, 1 failed"; exit 1; }

section "typecheck (tsc --noEmit -p .)"
typecheck_failed=0
if node_modules/.bin/tsc --noEmit -p .; then
  echo "typecheck passed"
else
  typecheck_failed=1
  echo "typecheck FAILED (counted as 1 failed test)"
fi

section "vitest run $*"
REPORT_DIR=$(mktemp -d /tmp/helios-test-report.XXXXXX)
trap 'rm -rf "$REPORT_DIR"' EXIT
REPORT=$REPORT_DIR/vitest.json
node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile="$REPORT" "$@" </dev/null
vitest_rc=$?

summary=$(node - "$REPORT" "$vitest_rc" "$typecheck_failed" <<'JS'
const fs = require("node:fs")
const [report, vitestRc, typecheckFailed] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])]
let passed = 0, failed = 0, skipped = 0
const notes = []
let r
try {
  r = JSON.parse(fs.readFileSync(report, "utf8"))
} catch (e) {
  notes.push(`no vitest JSON report (${e.code ?? e.message})`)
}
if (r) {
  passed = r.numPassedTests ?? 0
  failed = r.numFailedTests ?? 0
  skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
  // Files that failed without a failing test: import/collection errors, failing beforeAll, ...
  for (const file of r.testResults ?? []) {
    const failedTests = (file.assertionResults ?? []).filter((a) => a.status === "failed").length
    if (file.status === "failed" && failedTests === 0) {
      failed += 1
      const first = String(file.message ?? "").split("\n")[0]
      notes.push(`test file failed: ${file.name}${first ? `: ${first}` : ""}`)
    }
  }
}
if (vitestRc !== 0 && failed === 0) {
  failed = 1
  notes.push(`vitest exited with code ${vitestRc} (unhandled error, no test files, or setup failure?)`)
}
if (typecheckFailed) {
  failed += 1
  notes.push("typecheck failed")
}
for (const n of notes) console.error(n)
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`)
process.exit(failed > 0 ? 1 : 0)
JS
)
summary_rc=$?
echo
echo "$summary"
if [ "$summary_rc" -ne 0 ] || [ "$vitest_rc" -ne 0 ] || [ "$typecheck_failed" -ne 0 ]; then
  exit 1
fi
exit 0
