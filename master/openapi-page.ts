/*
 * The interactive API reference at /docs: a small static page that reads /openapi.json and lists
 * every operation by tag, with its parameters, body and answer schemas, and a form that sends the
 * request from the browser and shows the answer (NDJSON streams line by line, with a stop button).
 * No framework and no npm package: three static texts, served by master/app.ts. The script and
 * style sheet are files of their own (not inline), so a strict Content-Security-Policy allows them.
 * URLs are relative, so the page also works behind a proxy's path prefix.
 */

export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Helios API reference</title>
<link rel="stylesheet" href="docs/app.css">
<script src="docs/app.js" defer></script>
</head>
<body>
<header>
  <h1>Helios API <span id="version"></span></h1>
  <nav>
    <input id="filter" type="search" placeholder="filter: path, summary, tag" aria-label="filter operations">
    <label>user <input id="user" size="10" placeholder="anonymous"></label>
    <label>token <input id="token" type="password" size="14" placeholder="bearer token" title="sent as Authorization: Bearer, when authentication is on"></label>
    <a href="openapi.json">openapi.json</a>
  </nav>
</header>
<main id="operations"><p>Loading openapi.json…</p></main>
<section id="schemas"></section>
</body>
</html>
`

export const DOCS_CSS = `
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #f7f8fa; --get: #1f6feb; --post: #1a7f37; --put: #9a6700; --patch: #8250df; --delete: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; justify-content: space-between; padding: .6rem 1.2rem; background: #fff; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.15rem; margin: 0; }
h1 span { color: var(--muted); font-weight: normal; font-size: .9rem; }
nav { display: flex; flex-wrap: wrap; gap: .8rem; align-items: center; }
input, select, textarea, button { font: inherit; }
input, select, textarea { border: 1px solid var(--line); border-radius: 4px; padding: .2rem .4rem; background: #fff; }
#filter { width: 18rem; }
main, #schemas { max-width: 72rem; margin: 0 auto; padding: .5rem 1.2rem; }
h2 { font-size: 1rem; text-transform: capitalize; margin: 1.4rem 0 .4rem; }
details.op { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: .35rem 0; }
details.op > summary { cursor: pointer; padding: .45rem .7rem; display: flex; gap: .8rem; align-items: baseline; list-style: none; }
details.op > summary::-webkit-details-marker { display: none; }
.method { display: inline-block; min-width: 4.2rem; text-align: center; color: #fff; border-radius: 4px; font-weight: 600; font-size: .8rem; padding: .05rem .3rem; text-transform: uppercase; }
.get { background: var(--get); } .post { background: var(--post); } .put { background: var(--put); } .patch { background: var(--patch); } .delete { background: var(--delete); }
.path { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-weight: 600; }
.summary { color: var(--muted); }
.body { padding: .2rem .9rem .9rem; border-top: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; margin: .4rem 0; }
td, th { text-align: left; vertical-align: top; padding: .25rem .4rem; border-bottom: 1px solid var(--line); }
th { font-weight: 600; color: var(--muted); font-size: .8rem; }
td.name { font-family: ui-monospace, monospace; white-space: nowrap; }
td.in { color: var(--muted); font-size: .8rem; }
textarea { width: 100%; min-height: 8rem; font-family: ui-monospace, monospace; font-size: .85rem; }
pre { background: #0f1420; color: #dfe6f3; border-radius: 4px; padding: .6rem; overflow: auto; max-height: 28rem; font-size: .82rem; margin: .3rem 0; }
button { border: 1px solid var(--line); border-radius: 4px; background: #fff; padding: .25rem .8rem; cursor: pointer; }
button.send { background: var(--fg); color: #fff; border-color: var(--fg); }
.status { font-weight: 600; margin-left: .6rem; }
.status.good { color: var(--post); } .status.bad { color: var(--delete); }
.responses li { margin: .15rem 0; }
.code { font-family: ui-monospace, monospace; font-weight: 600; }
a.ref { font-family: ui-monospace, monospace; }
details.schema > summary { cursor: pointer; color: var(--muted); }
#schemas details { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: .3rem 0; padding: .3rem .7rem; }
.hidden { display: none; }
`

export const DOCS_JS = `"use strict";
(async () => {
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  };
  for (const id of ["user", "token"]) {
    const input = $("#" + id);
    // For this tab's session only, as the dashboard keeps its token: not on disk for whoever comes next.
    input.value = sessionStorage.getItem("helios-docs-" + id) || "";
    input.addEventListener("change", () => sessionStorage.setItem("helios-docs-" + id, input.value));
  }

  let doc;
  try {
    const r = await fetch("openapi.json");
    doc = await r.json();
  } catch (e) {
    $("#operations").textContent = "Could not load openapi.json: " + e;
    return;
  }
  $("#version").textContent = doc.info.version;
  document.title = doc.info.title + " " + doc.info.version;
  const components = doc.components.schemas;

  const refName = (ref) => ref.replace("#/components/schemas/", "");
  const resolve = (s) => (s && s.$ref ? components[refName(s.$ref)] : s) || {};
  /** A schema as readable JSON, its $refs links to the schema list below. */
  const schemaView = (schema) => {
    const pre = el("pre");
    const text = JSON.stringify(schema, null, 2);
    let last = 0;
    for (const m of text.matchAll(/"#\\/components\\/schemas\\/([\\w.-]+)"/g)) {
      pre.append(text.slice(last, m.index));
      pre.append(el("a", { class: "ref", href: "#schema-" + m[1], text: m[0] }));
      last = m.index + m[0].length;
    }
    pre.append(text.slice(last));
    return pre;
  };
  /** A small example value for a request body: required fields, first choices. */
  const example = (schema, depth = 0) => {
    const s = resolve(schema);
    if (depth > 6) return null;
    if (s.examples && s.examples.length) return s.examples[0];
    if (s.enum) return s.enum[0];
    if (s.const !== undefined) return s.const;
    const alt = s.anyOf || s.oneOf;
    if (alt) return example(alt.find((a) => resolve(a).type !== "null") || alt[0], depth + 1);
    const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
    if (type === "object" || s.properties) {
      const out = {};
      for (const k of s.required || []) out[k] = example(s.properties[k], depth + 1);
      return out;
    }
    if (type === "array") return [example(s.items || {}, depth + 1)].filter((x) => x !== null);
    if (type === "integer" || type === "number") return s.minimum !== undefined ? Math.max(0, s.minimum) : 0;
    if (type === "boolean") return false;
    if (type === "string") return "";
    return null;
  };

  const tags = new Map();
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!tags.has(tag)) tags.set(tag, []);
      tags.get(tag).push({ path, method, op });
    }

  const operation = ({ path, method, op }) => {
    const inputs = new Map();
    const params = op.parameters || [];
    const paramRows = params.map((p) => {
      const input = el("input", { placeholder: p.required ? "required" : "", size: 24 });
      const s = resolve(p.schema);
      const choices = s.enum || (s.items && resolve(s.items).enum);
      const field = choices ? el("select", {}, el("option", { value: "", text: "" }), ...choices.map((c) => el("option", { value: c, text: c }))) : input;
      if (p.name === "user") field.value = $("#user").value;
      inputs.set(p.in + ":" + p.name, { param: p, field });
      return el("tr", {}, el("td", { class: "name", text: p.name + (p.required ? " *" : "") }), el("td", { class: "in", text: p.in }), el("td", {}, field), el("td", { text: p.description || "" }));
    });
    const bodySchema = op.requestBody && op.requestBody.content["application/json"].schema;
    const body = bodySchema ? el("textarea", {}, JSON.stringify(example(bodySchema), null, 2)) : null;
    const result = el("div");
    let controller;
    const stop = el("button", { class: "hidden", text: "Stop", onclick: () => controller && controller.abort() });
    const send = async () => {
      controller = new AbortController();
      let url = path;
      const query = new URLSearchParams();
      const headers = { Accept: "application/json, application/x-ndjson" };
      for (const { param, field } of inputs.values()) {
        const v = field.value.trim();
        if (param.name === "user" && v === "" && $("#user").value) query.set("user", $("#user").value);
        if (v === "") continue;
        if (param.in === "path") url = url.replace("{" + param.name + "}", encodeURIComponent(v));
        else if (param.in === "query") for (const item of param.schema.type === "array" ? v.split(/\\s*;\\s*/) : [v]) query.append(param.name, item);
        else headers[param.name] = v;
      }
      if ($("#token").value) headers.Authorization = "Bearer " + $("#token").value;
      if (body) headers["Content-Type"] = "application/json";
      const target = url.replace(/^\\//, "") + (query.toString() ? "?" + query : "");
      const status = el("span", { class: "status", text: "…" });
      const out = el("pre", { text: "" });
      result.replaceChildren(el("div", {}, el("span", { class: "code", text: method.toUpperCase() + " " + url + (query.toString() ? "?" + query : "") }), status), out);
      stop.classList.remove("hidden");
      try {
        const r = await fetch(target, { method: method.toUpperCase(), headers, body: body ? body.value : undefined, signal: controller.signal });
        const position = r.headers.get("Helios-Position");
        status.textContent = r.status + " " + r.statusText + (position ? "  · Helios-Position " + position : "");
        status.className = "status " + (r.ok ? "good" : "bad");
        const type = r.headers.get("content-type") || "";
        if (type.includes("ndjson") && r.body) {
          const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            out.textContent += value;
          }
        } else {
          const text = await r.text();
          try { out.textContent = JSON.stringify(JSON.parse(text), null, 2); } catch { out.textContent = text; }
        }
      } catch (e) {
        if (!controller.signal.aborted) { status.textContent = String(e); status.className = "status bad"; }
      } finally {
        stop.classList.add("hidden");
      }
    };
    const responses = el("ul", { class: "responses" }, ...Object.entries(op.responses).map(([code, r]) => {
      const content = r.content && Object.entries(r.content)[0];
      return el("li", {}, el("span", { class: "code", text: code }), " " + r.description + (content ? " (" + content[0] + ")" : ""),
        content && content[1].schema ? el("details", { class: "schema" }, el("summary", { text: "schema" }), schemaView(content[1].schema)) : null);
    }));
    const details = el("details", { class: "op", id: op.operationId },
      el("summary", {}, el("span", { class: "method " + method, text: method }), el("span", { class: "path", text: path }), el("span", { class: "summary", text: op.summary || "" })),
      el("div", { class: "body" },
        op.description ? el("p", { text: op.description }) : null,
        params.length ? el("table", {}, el("tr", {}, el("th", { text: "parameter" }), el("th", { text: "in" }), el("th", { text: "value" }), el("th", { text: "" })), ...paramRows) : null,
        body ? el("div", {}, el("p", { text: "Body: " + (op.requestBody.description || "") }), body, el("details", { class: "schema" }, el("summary", { text: "body schema" }), schemaView(bodySchema))) : null,
        el("p", {}, el("button", { class: "send", text: "Send", onclick: send }), " ", stop),
        result,
        el("h3", { text: "Answers" }), responses));
    details.dataset.search = (method + " " + path + " " + (op.summary || "") + " " + (op.tags || []).join(" ")).toLowerCase();
    return details;
  };

  const main = $("#operations");
  main.replaceChildren(el("p", { text: doc.info.description }));
  for (const [tag, ops] of tags) main.append(el("section", { "data-tag": tag }, el("h2", { text: tag }), ...ops.map(operation)));
  $("#schemas").append(el("h2", { text: "schemas" }), ...Object.entries(components).map(([name, s]) =>
    el("details", { id: "schema-" + name }, el("summary", { class: "path", text: name }), schemaView(s))));
  // docs#OPERATION_ID (or #schema-NAME) opens that entry.
  const openHash = () => {
    const t = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (t && t.tagName === "DETAILS") { t.open = true; t.scrollIntoView(); }
  };
  window.addEventListener("hashchange", openHash);
  openHash();

  $("#filter").addEventListener("input", (e) => {
    const q = e.target.value.toLowerCase();
    for (const d of document.querySelectorAll("details.op")) d.classList.toggle("hidden", q !== "" && !d.dataset.search.includes(q));
    for (const s of document.querySelectorAll("#operations section")) s.classList.toggle("hidden", !s.querySelector("details.op:not(.hidden)"));
  });
})();
`
