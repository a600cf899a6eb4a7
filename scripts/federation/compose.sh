#!/bin/sh
# Regenerates examples/federation/*/supergraph.graphql (the federation tests and benchmarks.batching use them)
# (needs Node and npm; the suite does not), after writing the example services' subgraph schemas
# (examples/federation/services/*.graphql) with Python (PYTHON, else the project's .venv, else python3).
set -e
cd "$(dirname "$0")"
python="${PYTHON:-../../.venv/bin/python}"
[ -x "$python" ] || python=python3
"$python" example_subgraphs.py
npm install --no-audit --no-fund --silent
node compose.mjs ../../examples/federation
