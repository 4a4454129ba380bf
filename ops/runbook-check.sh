#!/usr/bin/env bash
# Runs every jq log recipe in docs/RUNBOOK.md (the lines of its shell blocks that read
# logs.jsonl) against ops/logs/sample.jsonl, a sample of the services' JSON log lines with a
# non-JSON line among them as real `docker compose logs` output has. Each recipe must succeed and
# print something, so a recipe that no longer parses, or no longer matches the log format, fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$ROOT/ops/logs/sample.jsonl" "$work/logs.jsonl"

python3 - "$ROOT/docs/RUNBOOK.md" > "$work/recipes.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for block in re.findall(r"```(?:sh|bash)\n(.*?)```", text, flags=re.S):
    joined = re.sub(r"\\\n\s*", " ", block)
    for line in joined.splitlines():
        line = line.strip()
        if "logs.jsonl" in line and not line.startswith("#") and re.match(r"^(jq|grep|tail|cat) ", line):
            print(line)
PY

n=0
while IFS= read -r cmd; do
  n=$((n + 1))
  if ! out=$(cd "$work" && bash -o pipefail -c "$cmd" 2>&1); then
    printf 'FAIL recipe %d: %s\n%s\n' "$n" "$cmd" "$out" >&2
    exit 1
  fi
  if [ -z "$out" ]; then
    printf 'FAIL recipe %d printed nothing on the sample: %s\n' "$n" "$cmd" >&2
    exit 1
  fi
done < "$work/recipes.txt"
[ "$n" -ge 8 ] || { echo "FAIL: only $n jq recipes found in docs/RUNBOOK.md" >&2; exit 1; }
echo "runbook: $n log recipes ran on ops/logs/sample.jsonl"
