#!/usr/bin/env bash
# Runs every comparison bench (dist/bench/*.js, built from bench/*.ts) one after another, collects the
# `RESULT {json}` lines they print, and writes one table with the machine it ran on at the top of bench/RESULTS.md
# (everything below the table's end marker is kept: the sessions' notes).
# Env: VMR_BENCH_ONLY=name[,name] runs only those; VMR_BENCH_TIMEOUT_S bounds each bench (default 1800);
# VMR_BENCH_ARGS_<name>="…" passes arguments to one bench (e.g. VMR_BENCH_ARGS_import="256" for a 256 MiB import).
# Exit status: non-zero when a bench failed or printed no RESULT line (the table still gets written).
set -uo pipefail
cd "$(dirname "$0")/.."
[ -d dist/bench ] || { echo "dist/bench is missing: build first (npm run bench builds)" >&2; exit 1; }
out=bench/RESULTS.md
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
results="$logs/results.jsonl"
: >"$results"
failed=0
shopt -s nullglob
for f in dist/bench/*.js; do
  name=$(basename "$f" .js)
  if [ -n "${VMR_BENCH_ONLY:-}" ] && ! [[ ",$VMR_BENCH_ONLY," == *",$name,"* ]]; then continue; fi
  # Only comparisons that follow the RESULT convention run; helpers and one-sided benches are listed as such.
  if ! grep -q 'RESULT ' "$f"; then
    printf '%s\n' "{\"bench\":\"$name\",\"skipped\":true}" >>"$results"
    continue
  fi
  echo "== bench $name" >&2
  start=$(date +%s)
  args_var="VMR_BENCH_ARGS_${name//[^A-Za-z0-9_]/_}"
  read -r -a args <<<"${!args_var:-}"
  timeout --kill-after=30 "${VMR_BENCH_TIMEOUT_S:-1800}" node --import reflect-metadata "$f" "${args[@]}" 2>&1 | tee "$logs/$name.log" >&2
  rc=${PIPESTATUS[0]}
  secs=$(( $(date +%s) - start ))
  n=0
  while IFS= read -r line; do
    printf '%s\n' "{\"bench\":\"$name\",\"rc\":$rc,\"secs\":$secs,\"result\":${line#RESULT }}" >>"$results"
    n=$((n + 1))
  done < <(grep -E '^RESULT \{' "$logs/$name.log")
  if [ "$rc" -ne 0 ] || [ "$n" -eq 0 ]; then
    failed=1
    reason=$([ "$rc" -ne 0 ] && echo "exit $rc" || echo "no RESULT line")
    tail_msg=$(tail -n 3 "$logs/$name.log" | tr '\n|' '  ' | cut -c1-200)
    printf '%s\n' "{\"bench\":\"$name\",\"rc\":$rc,\"secs\":$secs,\"error\":$(node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$reason: $tail_msg")}" >>"$results"
  fi
done

machine=$(printf 'nproc %s; CPU %s; kernel %s; %s; node %s; load %s' \
  "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(uname -sr)" \
  "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(node --version)" "$(cut -d' ' -f1-3 /proc/loadavg)")

settings=$(env | grep -E '^VMR_BENCH_' | sort | tr '\n' ' ')

node --input-type=module - "$results" "$out" "$machine" "${settings:-defaults}" <<'JS'
import { readFileSync, writeFileSync } from 'node:fs';
const [results, out, machine, settings] = process.argv.slice(2);
const rows = readFileSync(results, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const lowerIsBetter = (unit) => /^(s|ms|us|ns|seconds?|bytes|B|KiB|MiB|GiB)$/i.test(unit ?? '');
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : NaN);
const fmt = (v) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3)) : '–');
const lines = [
  '# Benchmark results', '',
  'Written by `npm run bench` (bench/run-all.sh); every row comes from one run on this machine, ours and the peer measured back to back.',
  '`ratio` > 1 means ours is better (faster, higher throughput or smaller), as each bench defines it for its unit.', '',
  `Machine: ${machine}`, '', `Settings: ${settings.trim()}`, '',
  '| bench | measurement | ours | peer | unit | ratio | goal | peer is |', '|---|---|---|---|---|---|---|---|',
];
for (const r of rows) {
  if (r.skipped) { lines.push(`| ${r.bench} | not run: prints no RESULT line (a helper or a one-sided bench; run it by hand) | | | | | | |`); continue; }
  if (r.error) { lines.push(`| ${r.bench} | **failed** (${r.error.replace(/\|/g, '/')}) | | | | | | |`); continue; }
  const x = r.result;
  const ours = num(x.ours), peer = num(x.peer);
  const ratio = Number.isFinite(num(x.ratio)) ? num(x.ratio) : lowerIsBetter(x.unit) ? peer / ours : ours / peer;
  lines.push(`| ${r.bench} | ${x.name} | ${fmt(ours)} | ${fmt(peer)} | ${x.unit ?? ''} | ${fmt(ratio)} | ${x.goal ?? ''} | ${x.peerName ?? ''} |`);
}
if (!rows.length) lines.push('| (no benches found under dist/bench) | | | | | | | |');
// Only the table between the markers is generated; what follows them (each session's notes) is kept.
const END = '<!-- end of the generated table: npm run bench rewrites everything above this line -->';
let kept = '';
try {
  const before = readFileSync(out, 'utf8');
  const at = before.indexOf(END);
  kept = at >= 0 ? before.slice(at + END.length).replace(/^\n*/, '\n') : `\n${before}`;
} catch { /* no file yet */ }
writeFileSync(out, `${lines.join('\n')}\n\n${END}\n${kept}`);
console.error(`wrote ${out} (${rows.length} row(s))`);
JS
exit $failed
