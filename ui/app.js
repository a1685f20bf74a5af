// Helios dashboard: a read-only view of the master's HTTP API, rendered in the browser.
//
// No build step and no framework: a plain ES module the master serves as it is (master/routes/ui.ts).
// Every figure on a page comes from a JSON endpoint the CLI also uses; the page keeps nothing of its
// own but the last events it saw. It follows GET /events?follow=true (NDJSON) and refreshes the page
// it shows when an event arrives, so a deploy appears without a reload. The time slider swaps the
// live endpoints for GET /state?at=POSITION: the fleet as the log says it was at that position.
//
// Authentication: a token pasted in the header is kept in sessionStorage (this tab only, gone when
// it closes) and sent as `Authorization: Bearer <token>` with every request, the event stream too
// (it is read with fetch, not EventSource, which cannot send headers). The DOM is built with
// textContent only (no innerHTML), and the page's Content-Security-Policy allows only this script.

const TOKEN_KEY = "helios.token"
const MAX_EVENTS = 500
/** Positions whose time is remembered (the label of a past position); the oldest are forgotten first. */
const MAX_TIMES = 50_000
const REFRESH_MS = 300

const ui = {
  /** Latest log position known (Helios-Position headers, events). */
  head: 0,
  /** null: live; a number: the position the fleet is shown as of. */
  at: null,
  /** The most recent events seen on the stream, oldest first. */
  events: [],
  /** Position → epoch ms, for the positions whose time we have seen (at most MAX_TIMES, see noteTime). */
  times: new Map(),
  stream: { state: "connecting", controller: undefined, cursor: 0 },
  renderSeq: 0,
}

// --- DOM helpers ----------------------------------------------------------------------------------

/** h("td", {class: "x", dataset: {host: "h1"}}, "text", child...) */
const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue
    if (k === "dataset") Object.assign(el.dataset, v)
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v)
    else if (k === "class") el.className = v
    else el.setAttribute(k, v === true ? "" : String(v))
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue
    el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
  return el
}
const $ = (sel) => document.querySelector(sel)

const pad = (n) => String(n).padStart(2, "0")
const timeText = (ms) => {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return ""
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}
const ago = (ms) => {
  if (typeof ms !== "number") return ""
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000))
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : s < 86400 ? `${Math.round(s / 3600)}h ago` : `${Math.round(s / 86400)}d ago`
}
const shortId = (id) => (typeof id === "string" ? id.replace(/^([^:]+:[^:]+):([0-9a-f]{7})[0-9a-f]*$/, "$1:$2") : "")
const shortActor = (a) => (typeof a === "string" ? a.replace(/^agent:([0-9a-f]{12})[0-9a-f]{28}$/, "agent:$1") : "")
const jobLink = (id, text = shortId(id)) => h("a", { href: `#/jobs/${encodeURIComponent(id)}`, title: id }, text)
const groupLink = (name) => h("a", { href: `#/groups/${encodeURIComponent(name)}` }, name)
const badge = (state, extra = {}) =>
  h("span", { class: `badge s-${String(state ?? "none").toLowerCase()}`, dataset: { state: state ?? "" }, ...extra }, state ?? "—")
const table = (testid, headers, rows, empty = "nothing here") =>
  h(
    "table",
    { dataset: { testid } },
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.length > 0 ? rows : h("tr", { class: "empty" }, h("td", { colspan: headers.length }, empty))),
  )

// --- the API ---------------------------------------------------------------------------------------

const token = () => sessionStorage.getItem(TOKEN_KEY) ?? ""
const authHeaders = () => (token() ? { Authorization: `Bearer ${token()}` } : {})

class ApiError extends Error {
  constructor(status, body, path) {
    const detail = body && typeof body === "object" ? (body.message ?? (body.errors ?? []).join("; ") ?? body.status) : String(body ?? "")
    super(`${path}: HTTP ${status}${detail ? ` — ${detail}` : ""}`)
    this.status = status
    this.body = body
  }
}

const noteHead = (p) => {
  const n = Number(p)
  if (Number.isFinite(n) && n > ui.head) {
    ui.head = n
    updateSlider()
  }
}

const api = async (path, { method = "GET", body } = {}) => {
  const res = await fetch(path, {
    method,
    headers: { Accept: "application/json", ...authHeaders(), ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  noteHead(res.headers.get("Helios-Position"))
  const text = await res.text()
  let parsed
  try {
    parsed = text === "" ? undefined : JSON.parse(text)
  } catch {
    parsed = text
  }
  if (res.status === 401 || res.status === 403) showAuthNeeded(res.status)
  if (!res.ok) throw new ApiError(res.status, parsed, path)
  return parsed
}

/**
 * The fleet in the shape of GET /state: {position, jobs: {id: {job, deployments, taskStatuses}},
 * hosts: {name: hostStatus}}. Live: from the read model's endpoints; else replayed as of ui.at.
 */
/**
 * POST /hosts/statuses or /jobs/statuses for any number of names, 1,000 a request: a fleet's names
 * in one body passed the master's 512 KiB limit at ~11,000 hosts, and the page showed only a 413.
 */
const statusesOf = async (path, names) => {
  const pieces = []
  for (let i = 0; i < names.length; i += 1000) pieces.push(api(path, { method: "POST", body: names.slice(i, i + 1000) }))
  return Object.assign({}, ...(await Promise.all(pieces)))
}

const fleet = async () => {
  if (ui.at !== null) return api(`/state?at=${ui.at}`)
  const [names, jobs] = await Promise.all([api("/hosts"), api("/jobs")])
  const [hosts, statuses] = await Promise.all([statusesOf("/hosts/statuses", names), statusesOf("/jobs/statuses", Object.keys(jobs))])
  return { position: ui.head, hosts, jobs: statuses }
}

// --- the event stream --------------------------------------------------------------------------------

let refreshTimer
/** A live refresh's render is under way; `refreshAgain`: events came meanwhile. */
let refreshing = false
let refreshAgain = false
/**
 * Re-renders the page soon after new events: at most once per REFRESH_MS however fast they come
 * (a throttle, not a debounce: a busy fleet still sees updates), and never while the last refresh
 * is still rendering: on a large fleet a render takes longer than REFRESH_MS, and renders started
 * over each other each discarded the one before, so none ever showed. A page of the past does not
 * change.
 */
const scheduleRefresh = () => {
  if (ui.at !== null && (ui.route.view === "fleet" || ui.route.view === "job")) return
  if (refreshing) {
    refreshAgain = true
    return
  }
  if (refreshTimer !== undefined) return
  refreshTimer = setTimeout(async () => {
    refreshTimer = undefined
    refreshing = true
    try {
      await render()
    } finally {
      refreshing = false
      if (refreshAgain) {
        refreshAgain = false
        scheduleRefresh()
      }
    }
  }, REFRESH_MS)
}

const setStreamState = (state, detail = "") => {
  ui.stream.state = state
  const el = $("#stream-status")
  if (!el) return
  el.dataset.state = state
  el.textContent = state === "live" ? "● live" : state === "connecting" ? "○ connecting…" : `○ ${state}${detail ? `: ${detail}` : ""}`
}

/** Remembers when a position was appended; a tab left open on a busy fleet forgets the oldest (a Map keeps insertion order). */
const noteTime = (position, timestamp) => {
  ui.times.delete(position)
  ui.times.set(position, timestamp)
  if (ui.times.size > MAX_TIMES) ui.times.delete(ui.times.keys().next().value)
}

const onEvent = (e) => {
  ui.events.push(e)
  if (ui.events.length > MAX_EVENTS) ui.events.splice(0, ui.events.length - MAX_EVENTS)
  noteTime(e.position, e.timestamp)
  ui.stream.cursor = Math.max(ui.stream.cursor, e.position)
  noteHead(e.position)
}

/** Follows GET /events?follow=true from the cursor, reconnecting with backoff; stops when aborted. */
const follow = async () => {
  ui.stream.controller?.abort()
  const controller = new AbortController()
  ui.stream.controller = controller
  let backoff = 500
  while (!controller.signal.aborted) {
    // Start with the last events only, never the whole log (the head is known once a read answered).
    if (ui.stream.cursor === 0) ui.stream.cursor = Math.max(0, ui.head - 200)
    try {
      setStreamState("connecting")
      const res = await fetch(`/events?follow=true&after=${ui.stream.cursor}`, { headers: authHeaders(), signal: controller.signal })
      if (!res.ok) {
        if (res.status === 401 || res.status === 403) showAuthNeeded(res.status)
        throw new Error(`HTTP ${res.status}`)
      }
      setStreamState("live")
      backoff = 500
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ""
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let got = false
        for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
          const line = buffer.slice(0, i)
          buffer = buffer.slice(i + 1)
          if (line.trim() === "") continue
          onEvent(JSON.parse(line))
          got = true
        }
        if (got) {
          if (ui.route.view === "events") renderEventRows()
          scheduleRefresh()
        }
      }
      throw new Error("the master closed the stream")
    } catch (e) {
      if (controller.signal.aborted) return
      setStreamState("reconnecting", e instanceof Error ? e.message : String(e))
      await new Promise((r) => setTimeout(r, backoff))
      backoff = Math.min(backoff * 2, 10_000)
    }
  }
}

// --- header: token, time slider ----------------------------------------------------------------------

const showAuthNeeded = (status) => {
  const el = $("#auth-note")
  if (el) el.textContent = token() ? `the master refused this token (HTTP ${status})` : `the master asks for a token (HTTP ${status}): paste one`
}

const updateSlider = () => {
  const slider = $("#slider")
  if (!slider) return
  slider.max = String(Math.max(ui.head, 1))
  if (ui.at === null) slider.value = slider.max
  const label = $("#at-label")
  const at = ui.at ?? ui.head
  const time = ui.times.get(at)
  label.textContent = ui.at === null ? `live · position ${ui.head}` : `as of position ${at}${time ? ` · ${timeText(time)}` : ""}`
  label.dataset.at = ui.at === null ? "live" : String(ui.at)
  document.body.classList.toggle("past", ui.at !== null)
}

const setAt = (at) => {
  ui.at = at === null || at >= ui.head ? null : at
  updateSlider()
  void render()
}

const header = () => {
  let sliderTimer
  const tokenInput = h("input", { id: "token", type: "password", placeholder: "bearer token (optional)", autocomplete: "off" })
  // A property, not a `value` attribute: the token is not written into the page's markup.
  tokenInput.value = token()
  return h(
    "header",
    {},
    h(
      "nav",
      {},
      h("a", { class: "brand", href: "#/" }, "Helios"),
      h("a", { href: "#/", dataset: { nav: "fleet" } }, "Fleet"),
      h("a", { href: "#/events", dataset: { nav: "events" } }, "Events"),
      h("a", { href: "#/groups", dataset: { nav: "groups" } }, "Deployment groups"),
      h("span", { id: "stream-status", dataset: { state: "connecting" } }, "○ connecting…"),
    ),
    h(
      "div",
      { class: "timebar" },
      h("label", { for: "slider" }, "Time"),
      h("input", {
        id: "slider",
        type: "range",
        min: "0",
        max: "1",
        value: "1",
        step: "1",
        oninput: (ev) => {
          clearTimeout(sliderTimer)
          const v = Number(ev.target.value)
          sliderTimer = setTimeout(() => setAt(v), 150)
        },
      }),
      h("span", { id: "at-label" }, ""),
      h("button", { id: "live", type: "button", onclick: () => setAt(null) }, "Live"),
      h(
        "form",
        {
          id: "at-form",
          onsubmit: async (ev) => {
            ev.preventDefault()
            const text = $("#at-input").value.trim()
            if (text === "") return setAt(null)
            if (/^\d+$/.test(text)) return setAt(Number(text))
            // A time as this page shows times, in the browser's zone (the master would read it in
            // its own), a bare date at local midnight; sent as UTC.
            const time = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00` : text)
            if (Number.isNaN(time.getTime())) return showError(new Error(`not a position or a time: ${text}`))
            try {
              const s = await api(`/state?at=${encodeURIComponent(time.toISOString())}`)
              setAt(s.position)
            } catch (e) {
              showError(e)
            }
          },
        },
        h("input", { id: "at-input", placeholder: "position or ISO time", size: "22" }),
      ),
      h(
        "form",
        {
          id: "token-form",
          onsubmit: (ev) => {
            ev.preventDefault()
            const t = tokenInput.value.trim()
            if (t) sessionStorage.setItem(TOKEN_KEY, t)
            else sessionStorage.removeItem(TOKEN_KEY)
            $("#auth-note").textContent = t ? "token set for this tab" : ""
            void render().then(() => follow())
          },
        },
        tokenInput,
        h("button", { type: "submit" }, "Use token"),
        h("span", { id: "auth-note" }, ""),
      ),
    ),
  )
}

const showError = (e) => {
  const el = $("#error")
  el.textContent = e ? (e instanceof Error ? e.message : String(e)) : ""
  el.hidden = !e
}

// --- views -------------------------------------------------------------------------------------------

/** Task state badges of a job, per host. */
const taskCells = (status) =>
  Object.entries(status.deployments ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([host, d]) => {
      const t = status.taskStatuses?.[host]
      return h("div", { class: "task", dataset: { host } }, h("span", { class: "host" }, host), " ", badge(t?.state ?? (d.goal === "START" ? "PENDING" : d.goal)))
    })

const portsOf = (status) =>
  Object.entries(status.taskStatuses ?? {}).flatMap(([host, t]) =>
    Object.entries(t.ports ?? {}).map(([name, p]) =>
      h("div", { class: "port" }, `${name} ${host}:${p.externalPort ?? "?"} → ${p.internalPort ?? "?"}/${p.protocol ?? "tcp"}`),
    ),
  )

const fleetView = async () => {
  const f = await fleet()
  const hostNames = Object.keys(f.hosts).sort()
  const hostRows = hostNames.map((name) => {
    const s = f.hosts[name]
    const labels = Object.entries(s.labels ?? {}).map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`))
    const jobs = Object.keys(s.jobs ?? {})
      .sort()
      .map((id) => h("div", { class: "task", dataset: { job: id } }, jobLink(id), " ", badge(s.statuses?.[id]?.state ?? "PENDING")))
    return h(
      "tr",
      { dataset: { host: name, status: s.status } },
      h("td", {}, name),
      h("td", {}, badge(s.status)),
      h("td", { title: timeText(s.statusSince) }, ago(s.statusSince)),
      h("td", {}, labels.length > 0 ? labels : h("span", { class: "muted" }, ui.at === null ? "none" : "not kept in the log")),
      h("td", {}, jobs),
    )
  })
  const jobIds = Object.keys(f.jobs).sort()
  const jobRows = jobIds.map((id) => {
    const s = f.jobs[id]
    return h(
      "tr",
      { dataset: { job: id } },
      h("td", {}, jobLink(id)),
      h("td", {}, s.job?.image ?? ""),
      h("td", {}, String(Object.keys(s.deployments ?? {}).length)),
      h("td", {}, taskCells(s)),
      h("td", {}, portsOf(s)),
    )
  })
  return h(
    "section",
    { dataset: { testid: "fleet", position: String(f.position) } },
    pastBanner(),
    h("h2", {}, "Hosts ", h("span", { class: "count" }, String(hostNames.length))),
    table("hosts", ["Host", "Status", "Since", "Labels", "Jobs"], hostRows, "no hosts registered"),
    h("h2", {}, "Jobs ", h("span", { class: "count" }, String(jobIds.length))),
    table("jobs", ["Job", "Image", "Hosts", "Tasks", "Ports"], jobRows, "no jobs"),
  )
}

/** In the past: says so, and how to come back. */
const pastBanner = () =>
  ui.at === null
    ? null
    : h(
        "p",
        { class: "past-banner", dataset: { testid: "past-banner" } },
        `The fleet as of position ${ui.at}${ui.times.has(ui.at) ? ` (${timeText(ui.times.get(ui.at))})` : ""}: the log replayed up to there (GET /state?at=${ui.at}). `,
        h("button", { type: "button", onclick: () => setAt(null) }, "Back to live"),
      )

/** What an audit entry or event carries besides its type and state, as one short line. */
const detailOf = (type, e) => {
  const parts = []
  if (type === "JobCreated" && e.job && typeof e.job === "object") parts.push(`image ${e.job.image}`)
  if (e.goal) parts.push(`goal ${e.goal}`)
  if (e.throttled && e.throttled !== "NO") parts.push(`throttled ${e.throttled}`)
  if (e.containerId) parts.push(`container ${String(e.containerId).slice(0, 12)}`)
  if (e.error) parts.push(String(e.error))
  if (e.group) parts.push(`group ${typeof e.group === "object" ? e.group.name : e.group}`)
  if (typeof e.step === "number") parts.push(`step ${e.step}${e.kind ? ` ${e.kind}` : ""}`)
  if (e.status && type === "RolloutFinished") parts.push(e.status)
  if (e.message) parts.push(String(e.message))
  if (e.ports && type === "TaskStateChanged" && e.state === "RUNNING")
    for (const [name, p] of Object.entries(e.ports)) parts.push(`${name}:${p.externalPort}`)
  return parts.join(" · ")
}

const jobView = async (id) => {
  const [f, history] = await Promise.all([fleet(), api(`/history/jobs/${encodeURIComponent(id)}`).catch((e) => (e.status === 404 ? { audit: [] } : Promise.reject(e)))])
  const s = f.jobs[id]
  const at = ui.at ?? Infinity
  const deploymentRows = s
    ? Object.entries(s.deployments)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([host, d]) => {
          const t = s.taskStatuses?.[host]
          return h(
            "tr",
            { dataset: { host } },
            h("td", {}, host),
            h("td", {}, d.goal),
            h("td", {}, badge(t?.state ?? "PENDING"), t?.throttled && t.throttled !== "NO" ? h("span", { class: "muted" }, ` ${t.throttled}`) : null),
            h("td", {}, Object.entries(t?.ports ?? {}).map(([n, p]) => h("div", {}, `${n} ${p.externalPort} → ${p.internalPort}/${p.protocol ?? "tcp"}`))),
            h("td", { class: "mono" }, (t?.containerId ?? "").slice(0, 12)),
            h("td", {}, d.deployerUser ?? ""),
            h("td", {}, d.deploymentGroupName ? groupLink(d.deploymentGroupName) : ""),
            h("td", {}, String(d.position ?? "")),
          )
        })
    : []
  for (const a of history.audit ?? []) noteTime(a.position, a.timestamp)
  const timeline = (history.audit ?? []).map((a) =>
    h(
      "li",
      { class: a.position > at ? "future" : "", dataset: { position: String(a.position), type: a.type } },
      h("span", { class: "pos" }, `#${a.position}`),
      h("span", { class: "when", title: timeText(a.timestamp) }, timeText(a.timestamp)),
      h("span", { class: "who" }, shortActor(a.actor)),
      h("span", { class: "what" }, a.type),
      h("span", { class: "where" }, a.host ?? ""),
      a.state ? badge(a.state) : null,
      h("span", { class: "detail" }, detailOf(a.type, a)),
      h("button", { type: "button", class: "goto", title: "show the fleet as of this position", onclick: () => setAt(a.position) }, "⟲"),
    ),
  )
  return h(
    "section",
    { dataset: { testid: "job", job: id } },
    pastBanner(),
    h("h2", {}, "Job ", h("span", { class: "mono" }, id)),
    s
      ? h(
          "dl",
          { class: "job-def" },
          h("dt", {}, "Image"),
          h("dd", {}, s.job?.image ?? ""),
          h("dt", {}, "Command"),
          h("dd", { class: "mono" }, (s.job?.command ?? []).join(" ") || "(image default)"),
          h("dt", {}, "Ports"),
          h("dd", {}, Object.entries(s.job?.ports ?? {}).map(([n, p]) => `${n} ${p.internalPort}/${p.protocol ?? "tcp"}${p.externalPort ? ` (host ${p.externalPort})` : ""}`).join(", ") || "none"),
        )
      : h("p", { class: "muted", dataset: { testid: "job-absent" } }, ui.at === null ? "This job is not defined now (removed or never created here)." : `This job was not defined at position ${ui.at}.`),
    h("h3", {}, "Deployments"),
    table("deployments", ["Host", "Goal", "State", "Ports", "Container", "Deployed by", "Group", "Position"], deploymentRows, "not deployed"),
    h("h3", {}, "History ", h("span", { class: "muted" }, "(who, what, when, position; ⟲ shows the fleet as of that position)")),
    h("ol", { class: "timeline", dataset: { testid: "history" } }, timeline.length > 0 ? timeline : h("li", { class: "muted" }, "no events")),
  )
}

const eventsView = async () => {
  const filter = h("input", { id: "event-filter", placeholder: "filter: type, job, host, actor", oninput: () => renderEventRows() })
  return h(
    "section",
    { dataset: { testid: "events" } },
    h("h2", {}, "Live events ", h("span", { class: "muted" }, `(the last ${MAX_EVENTS} from GET /events?follow=true, newest first)`)),
    filter,
    h("table", { dataset: { testid: "event-table" } }, h("thead", {}, h("tr", {}, ["Position", "Time", "Actor", "Type", "Job", "Host", "Detail"].map((t) => h("th", {}, t)))), h("tbody", { id: "event-rows" })),
  )
}

const eventRow = (e) => {
  const ev = e.event ?? {}
  const jobId = typeof ev.job === "object" && ev.job ? ev.job.id : (ev.jobId ?? ev.job)
  return h(
    "tr",
    { class: ui.at !== null && e.position > ui.at ? "future" : "", dataset: { position: String(e.position), type: e.type } },
    h("td", {}, String(e.position)),
    h("td", {}, timeText(e.timestamp)),
    h("td", {}, shortActor(e.actor)),
    h("td", {}, e.type),
    h("td", {}, jobId ? jobLink(jobId) : ""),
    h("td", {}, ev.host ?? (Array.isArray(ev.hosts) ? ev.hosts.join(", ") : "")),
    h("td", { class: "detail" }, ev.state ? [badge(ev.state), " "] : null, detailOf(e.type, ev)),
  )
}

const renderEventRows = () => {
  const body = $("#event-rows")
  if (!body) return
  const q = ($("#event-filter")?.value ?? "").toLowerCase()
  const rows = []
  for (let i = ui.events.length - 1; i >= 0 && rows.length < MAX_EVENTS; i--) {
    const e = ui.events[i]
    if (q && !JSON.stringify(e).toLowerCase().includes(q)) continue
    rows.push(eventRow(e))
  }
  body.replaceChildren(...(rows.length > 0 ? rows : [h("tr", { class: "empty" }, h("td", { colspan: 7 }, "no events yet"))]))
}

const selectorText = (s) =>
  `${s.label} ${s.operator === "EQUALS" ? "=" : s.operator === "NOT_EQUALS" ? "!=" : s.operator === "IN" ? "in" : "not in"} ${Array.isArray(s.operand) ? `[${s.operand.join(", ")}]` : s.operand}`

const groupsView = async () => {
  const names = await api("/deployment-group")
  const statuses = await Promise.all(names.map((n) => api(`/deployment-group/${encodeURIComponent(n)}/status`)))
  const rows = statuses.map((s) => {
    const r = s.rollout
    return h(
      "tr",
      { dataset: { group: s.deploymentGroup.name, status: s.status } },
      h("td", {}, groupLink(s.deploymentGroup.name)),
      h("td", {}, (s.deploymentGroup.hostSelectors ?? []).map(selectorText).join(", ")),
      h("td", {}, s.deploymentGroup.jobId ? jobLink(s.deploymentGroup.jobId) : ""),
      h("td", {}, badge(s.status)),
      h("td", {}, r ? `${Math.min(r.nextStep, r.steps.length)} / ${r.steps.length} steps` : ""),
      h("td", {}, String(s.hostStatuses?.length ?? 0)),
    )
  })
  return h(
    "section",
    { dataset: { testid: "groups" } },
    h("h2", {}, "Deployment groups ", h("span", { class: "count" }, String(names.length))),
    ui.at !== null ? h("p", { class: "muted" }, "Deployment groups are shown live; the time slider applies to the fleet and job pages.") : null,
    table("group-table", ["Group", "Hosts matching", "Job", "Status", "Rollout", "Hosts"], rows, "no deployment groups"),
  )
}

/** When a step started and ended: times, positions (#), and how long it took. */
const stepWhen = ({ started, ended }) => {
  if (!started && !ended) return ""
  if (!ended) return `started ${timeText(started.timestamp)} (#${started.position})`
  if (!started) return `${timeText(ended.timestamp)} (#${ended.position})`
  const seconds = Math.max(0, (ended.timestamp - started.timestamp) / 1000)
  return `${timeText(started.timestamp)} → ${timeText(ended.timestamp).slice(11)} (#${started.position}–#${ended.position}, ${seconds.toFixed(1)} s)`
}

/** A step's status: done, running, failed or pending. */
const stepStatus = (rollout, status, i) => {
  if (rollout.failures.some((f) => f.step === i)) return "failed"
  if (i < rollout.nextStep) return "done"
  if (i === rollout.nextStep && status === "ROLLING_OUT") return "running"
  return "pending"
}

const groupView = async (name) => {
  const s = await api(`/deployment-group/${encodeURIComponent(name)}/status`)
  const r = s.rollout
  // When each step started and ended: the rollout's events in the job's history (GET /history/jobs/{id}).
  const stepEvents = new Map()
  if (r) {
    const history = await api(`/history/jobs/${encodeURIComponent(r.jobId)}`).catch(() => ({ audit: [] }))
    for (const a of history.audit ?? []) {
      if (a.group !== name || a.position < r.startedAt || typeof a.step !== "number") continue
      const x = stepEvents.get(a.step) ?? {}
      if (a.type === "RolloutStepStarted") x.started = a
      else x.ended = a
      stepEvents.set(a.step, x)
    }
  }
  const steps = r
    ? r.steps.map((step, i) => {
        const st = stepStatus(r, s.status, i)
        const ev = stepEvents.get(i) ?? {}
        const failure = r.failures.find((f) => f.step === i)
        return h(
          "li",
          { class: `step ${st}`, dataset: { step: String(i), status: st, host: step.host, kind: step.kind } },
          h("span", { class: "pos" }, `step ${i + 1}`),
          h("span", { class: "what" }, step.kind),
          h("span", { class: "where" }, step.host),
          badge(st.toUpperCase()),
          h("span", { class: "when" }, stepWhen(ev)),
          failure ? h("span", { class: "detail" }, `${failure.error}: ${failure.message}`) : null,
        )
      })
    : []
  const hostRows = (s.hostStatuses ?? []).map((x) =>
    h("tr", { dataset: { host: x.host } }, h("td", {}, x.host), h("td", {}, x.jobId ? jobLink(x.jobId) : ""), h("td", {}, badge(x.state ?? "—"))),
  )
  return h(
    "section",
    { dataset: { testid: "group", group: name, status: s.status } },
    h("h2", {}, "Deployment group ", h("span", { class: "mono" }, name), " ", badge(s.status)),
    ui.at !== null ? h("p", { class: "muted" }, "Deployment groups are shown live; the time slider applies to the fleet and job pages.") : null,
    h(
      "dl",
      { class: "job-def" },
      h("dt", {}, "Hosts matching"),
      h("dd", {}, (s.deploymentGroup.hostSelectors ?? []).map(selectorText).join(", ") || "every host"),
      h("dt", {}, "Job"),
      h("dd", {}, s.deploymentGroup.jobId ? jobLink(s.deploymentGroup.jobId, s.deploymentGroup.jobId) : "none yet"),
      r ? [h("dt", {}, "Rollout"), h("dd", {}, `started at position ${r.startedAt} (${r.reason}) · parallelism ${r.options.parallelism} · timeout ${r.options.timeout}s${r.options.migrate ? " · migrate" : ""}${r.options.overlap ? " · overlap" : ""}`)] : null,
      s.error ? [h("dt", {}, "Error"), h("dd", { class: "error-text" }, s.error)] : null,
    ),
    h("h3", {}, "Rollout steps"),
    h("ol", { class: "timeline steps", dataset: { testid: "steps" } }, steps.length > 0 ? steps : h("li", { class: "muted" }, "never rolled out")),
    h("h3", {}, "Hosts"),
    table("group-hosts", ["Host", "Job", "State"], hostRows, "no UP host matches"),
  )
}

// --- routing and rendering ---------------------------------------------------------------------------

const parseRoute = () => {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent)
  if (parts[0] === "jobs" && parts[1]) return { view: "job", id: parts.slice(1).join("/") }
  if (parts[0] === "groups" && parts[1]) return { view: "group", name: parts[1] }
  if (parts[0] === "groups") return { view: "groups" }
  if (parts[0] === "events") return { view: "events" }
  return { view: "fleet" }
}

const render = async () => {
  ui.route = parseRoute()
  const seq = ++ui.renderSeq
  for (const a of document.querySelectorAll("nav a[data-nav]"))
    a.classList.toggle("active", a.dataset.nav === (ui.route.view === "job" ? "fleet" : ui.route.view === "group" ? "groups" : ui.route.view))
  try {
    const view =
      ui.route.view === "job"
        ? await jobView(ui.route.id)
        : ui.route.view === "group"
          ? await groupView(ui.route.name)
          : ui.route.view === "groups"
            ? await groupsView()
            : ui.route.view === "events"
              ? await eventsView()
              : await fleetView()
    if (seq !== ui.renderSeq) return // a newer render started meanwhile
    const main = $("#main")
    // Keep the events page's filter (and its focus) across live refreshes.
    if (ui.route.view === "events" && main.querySelector("[data-testid=events]")) renderEventRows()
    else main.replaceChildren(view)
    if (ui.route.view === "events") renderEventRows()
    main.dataset.rendered = String(seq)
    main.dataset.view = ui.route.view
    showError(undefined)
    updateSlider()
  } catch (e) {
    if (seq === ui.renderSeq) showError(e)
  }
}

const start = async () => {
  document.body.prepend(header())
  window.addEventListener("hashchange", () => void render())
  // The first render learns the head, so the stream starts with the last events, then follows.
  await render()
  void follow()
  setInterval(() => ui.route?.view === "fleet" && ui.at === null && void render(), 30_000) // "since" ages, hosts' liveness
}

void start()
