// Composes every fixture folder's subgraphs (subgraphs.json: name, url, sdl file) into its supergraph.graphql,
// with The Guild's federation composition: `node compose.mjs ../../examples/federation`.
import { readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { parse } from "graphql";
import { composeServices } from "@theguild/federation-composition";

const root = process.argv[2];
let failed = false;
for (const folder of readdirSync(root)) {
  const manifest = join(root, folder, "subgraphs.json");
  if (!existsSync(manifest)) continue;
  const services = JSON.parse(readFileSync(manifest, "utf8")).map((s) => ({
    name: s.name,
    url: s.url,
    typeDefs: parse(readFileSync(join(root, folder, s.sdl), "utf8")),
  }));
  const result = composeServices(services);
  if (result.errors && result.errors.length) {
    failed = true;
    for (const error of result.errors) console.error(`${folder}: ${error.message}`);
    continue;
  }
  const header = "# Composed by scripts/federation/compose.mjs from subgraphs.json: do not edit.\n";
  writeFileSync(join(root, folder, "supergraph.graphql"), header + result.supergraphSdl + "\n");
  console.log(`${folder}/supergraph.graphql`);
}
process.exit(failed ? 1 : 0);
