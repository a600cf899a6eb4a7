// Funnel's page: GraphiQL (vendored, see gateway/server/page.py) with a plugin panel showing what Funnel does
// with the query: its plan, asked of the gateway without running it (funnel-debug: explain), and after a run
// every downstream call (funnel-debug: plan); with batching on and off side by side where the server honours
// funnel-batching. Plain React.createElement: no build step, nothing but the vendored files.
(function () {
  "use strict";
  const React = window.React;
  const h = React.createElement;
  const root = document.getElementById("graphiql");
  const endpoint = root.dataset.endpoint;
  const canCompare = root.dataset.batchingHeader === "true";
  const params = new URLSearchParams(window.location.search);
  const TOUR_QUERY = "{\n  orders(first: 100) {\n    id\n    product {\n      name\n    }\n  }\n}\n";

  // The last run's extensions.funnel, shared by the fetcher (which sees answers) and the panel (which shows them).
  const lastRun = {
    value: null,
    listeners: new Set(),
    set(value) {
      this.value = value;
      this.listeners.forEach((listener) => listener(value));
    },
  };

  async function post(body, headers) {
    const response = await fetch(endpoint, {
      method: "POST",
      headers: Object.assign(
        { "content-type": "application/json", accept: "application/graphql-response+json, application/json" },
        headers,
      ),
      body: JSON.stringify(body),
    });
    return response.json();
  }

  function fetcher(graphQLParams, options) {
    const headers = Object.assign({}, (options && options.headers) || {}, { "funnel-debug": "plan" });
    return post(graphQLParams, headers).then((result) => {
      const funnel = result && result.extensions && result.extensions.funnel;
      if (funnel && graphQLParams.operationName !== "IntrospectionQuery") {
        lastRun.set({ calls: funnel.calls, plan: funnel.plan });
      }
      return result;
    });
  }

  function parseVariables(text) {
    try {
      const value = JSON.parse(text || "{}");
      return value && typeof value === "object" && !Array.isArray(value) ? value : {};
    } catch (error) {
      return {};
    }
  }

  function Calls(props) {
    const calls = props.calls || [];
    const total = calls.reduce((sum, call) => sum + call.ms, 0);
    return h(
      "div",
      { className: "funnel-calls", "data-count": String(calls.length) },
      h("p", null, `${calls.length} downstream call${calls.length === 1 ? "" : "s"}, ${total.toFixed(1)} ms of calls`),
      h(
        "table",
        null,
        h("thead", null, h("tr", null, ["service", "level", "keys", "chunk", "ms", "outcome"].map((c) => h("th", { key: c }, c)))),
        h(
          "tbody",
          null,
          calls.map((call, i) =>
            h(
              "tr",
              { key: i, className: "funnel-call", "data-service": call.service, "data-level": String(call.level) },
              h("td", null, call.service),
              h("td", null, call.level),
              h("td", null, call.keys),
              h("td", null, call.chunk),
              h("td", null, call.ms.toFixed(1)),
              h("td", null, call.outcome),
            ),
          ),
        ),
      ),
    );
  }

  // Calls grouped by service and level: batching off makes one call per parent, too many rows to read.
  function Summary(props) {
    const groups = new Map();
    for (const call of props.calls) {
      const key = `${call.service} ${call.level}`;
      const group = groups.get(key) || { service: call.service, level: call.level, calls: 0, keys: 0, ms: 0 };
      group.calls += 1;
      group.keys += call.keys;
      group.ms += call.ms;
      groups.set(key, group);
    }
    const total = props.calls.reduce((sum, call) => sum + call.ms, 0);
    return h(
      "div",
      { className: "funnel-calls", "data-count": String(props.calls.length) },
      h("p", null, `${props.calls.length} call${props.calls.length === 1 ? "" : "s"}, ${total.toFixed(1)} ms of calls`),
      h(
        "table",
        null,
        h("thead", null, h("tr", null, ["service", "level", "calls", "keys", "ms"].map((c) => h("th", { key: c }, c)))),
        h(
          "tbody",
          null,
          Array.from(groups.values()).map((g) =>
            h(
              "tr",
              { key: `${g.service} ${g.level}`, className: "funnel-group", "data-service": g.service, "data-calls": String(g.calls) },
              h("td", null, g.service),
              h("td", null, g.level),
              h("td", null, g.calls),
              h("td", null, g.keys),
              h("td", null, g.ms.toFixed(1)),
            ),
          ),
        ),
      ),
    );
  }

  function Compare(props) {
    const [state, setState] = React.useState(null);
    async function run() {
      setState({ running: true });
      const body = { query: props.query(), variables: props.variables() };
      const [on, off] = await Promise.all(
        ["on", "off"].map((mode) => post(body, { "funnel-debug": "plan", "funnel-batching": mode })),
      );
      const calls = (result) => (result.extensions && result.extensions.funnel ? result.extensions.funnel.calls : []);
      setState({ on: calls(on), off: calls(off) });
    }
    return h(
      "section",
      { id: "funnel-compare" },
      h("h3", null, "Batching on and off"),
      h("button", { id: "funnel-compare-run", className: "graphiql-button", onClick: run }, "Run both"),
      state && state.running ? h("p", null, "running…") : null,
      state && state.on
        ? h(
            "div",
            { className: "funnel-side-by-side" },
            h("div", { "data-mode": "on" }, h("h4", null, "on"), h(Summary, { calls: state.on })),
            h("div", { "data-mode": "off" }, h("h4", null, "off"), h(Summary, { calls: state.off })),
          )
        : null,
    );
  }

  function FunnelPanel() {
    const editors = GraphiQL.React.useEditorContext();
    const queryEditor = editors && editors.queryEditor;
    const variableEditor = editors && editors.variableEditor;
    const [plan, setPlan] = React.useState("");
    const [run, setRun] = React.useState(lastRun.value);
    const query = () => (queryEditor ? queryEditor.getValue() : "");
    const variables = () => parseVariables(variableEditor ? variableEditor.getValue() : "");

    React.useEffect(() => {
      lastRun.listeners.add(setRun);
      return () => lastRun.listeners.delete(setRun);
    }, []);
    React.useEffect(() => {
      if (!queryEditor) return undefined;
      let timer = null;
      const explain = () => {
        clearTimeout(timer);
        timer = setTimeout(async () => {
          const result = await post({ query: query(), variables: variables() }, { "funnel-debug": "explain" });
          const funnel = result.extensions && result.extensions.funnel;
          setPlan(funnel ? funnel.plan : (result.errors || []).map((e) => e.message).join("\n"));
        }, 250);
      };
      explain();
      queryEditor.on("change", explain);
      return () => {
        clearTimeout(timer);
        queryEditor.off("change", explain);
      };
    }, [queryEditor]);

    return h(
      "div",
      { className: "funnel-panel" },
      h("div", { className: "graphiql-doc-explorer-title" }, "Funnel"),
      h("h3", null, "Plan"),
      h("pre", { id: "funnel-plan" }, plan),
      h("h3", null, "Last run"),
      h("div", { id: "funnel-last-run" }, run ? h(Calls, { calls: run.calls }) : h("p", null, "Run the query to see its calls.")),
      canCompare ? h(Compare, { query, variables }) : null,
    );
  }

  function FunnelIcon() {
    // A funnel: wide at the top, one narrow outlet.
    return h(
      "svg",
      { viewBox: "0 0 24 24", width: "1em", height: "1em", fill: "none", stroke: "currentColor", strokeWidth: 1.5 },
      h("path", { d: "M3 4h18l-7 8v6l-4 2v-8z" }),
    );
  }

  const funnelPlugin = { title: "Funnel", icon: FunnelIcon, content: FunnelPanel };
  const props = {
    fetcher,
    plugins: [funnelPlugin],
    visiblePlugin: funnelPlugin,
    defaultQuery: TOUR_QUERY,
    defaultEditorToolsVisibility: true,
  };
  if (params.has("query")) props.query = params.get("query");
  if (params.has("variables")) props.variables = params.get("variables");
  ReactDOM.createRoot(root).render(h(GraphiQL, props));
})();
