#!/usr/bin/env bash
# The README's token commands print a JWT (three dot-separated parts) for each
# form an operator uses: learner, admin, an internal operator token and one
# issued as another service (AS=, which shares its name with make's built-in
# assembler variable and once broke every form without INTERNAL=1).
set -euo pipefail
cd "$(dirname "$0")/.."

is_jwt() { [[ "$2" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || { echo "make token $1 printed: $2" >&2; exit 1; }; }

is_jwt "" "$(make -s token)"
is_jwt "ROLE=admin" "$(make -s token ROLE=admin)"
is_jwt "ROLE=admin INTERNAL=1" "$(make -s token ROLE=admin INTERNAL=1)"
is_jwt "INTERNAL=1 AS=llm-router" "$(make -s token INTERNAL=1 AS=llm-router)"
echo "make token: every README form prints a JWT"
