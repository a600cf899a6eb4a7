// Serves a supergraph with @apollo/gateway, the reference the differential test holds Funnel to
// (tests/federation/test_apollo_differential.py):
//
//   node apollo_gateway.mjs SUPERGRAPH.graphql '{"products": "http://127.0.0.1:PORT/graphql", ...}'
//
// Subgraphs named in the JSON map are reached at its URLs instead of their @join__graph(url:), so that the test's
// subgraphs can listen on free ports. Listens on 127.0.0.1, a free port, and prints "apollo gateway listening on URL".
// Exits when its stdin closes or its parent dies, so that it never outlives the test that started it.
import { readFileSync } from "node:fs";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";

const [supergraph, map] = process.argv.slice(2);
if (!supergraph || !map) {
  console.error("usage: node apollo_gateway.mjs SUPERGRAPH.graphql SUBGRAPH_URLS_JSON");
  process.exit(2);
}
const urls = JSON.parse(map);
const parent = process.ppid;

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(supergraph, "utf8"),
  buildService: ({ name, url }) => new RemoteGraphQLDataSource({ url: urls[name] ?? url }),
});
const server = new ApolloServer({ gateway, includeStacktraceInErrorResponses: false });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: 0 } });
console.log(`apollo gateway listening on ${url}`);

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
// A parent killed outright closes no pipe it handed over to a grandchild: its death shows as a new ppid.
setInterval(() => process.ppid !== parent && process.exit(0), 500).unref();
