#!/bin/sh
# Regenerates examples/federation/*/supergraph.graphql (the federation tests use them) (needs Node and npm; the suite does not).
set -e
cd "$(dirname "$0")"
npm install --no-audit --no-fund --silent
node compose.mjs ../../examples/federation
