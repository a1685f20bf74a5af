import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Hono, type Context } from "hono"
import { html } from "hono/html"

/*
 * The dashboard at /ui (README, "Dashboard"): a page shell rendered here with hono/html (escaped
 * template literals, no JSX settings, nothing to build) and one plain ES module and stylesheet from
 * ui/, served as they are. The page reads the same JSON API as the CLI; nothing here touches the
 * read model, so the shell and its assets carry no fleet data and need no token (the data fetches
 * send one: ui/app.js).
 *
 * The assets are read once, at the first request, from the nearest `ui/` folder above this module:
 * ../../ui from master/routes/ in a checkout, and the same folder from a bundle or a compiled copy
 * (build/cli/, dist/...) as long as ui/ ships beside it.
 */

const ASSETS = { "app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8" } as const
type Asset = keyof typeof ASSETS

const uiFolder = (): string => {
  const here = dirname(fileURLToPath(import.meta.url))
  for (let dir = here, i = 0; i < 6; i++, dir = dirname(dir)) if (existsSync(join(dir, "ui", "app.js"))) return join(dir, "ui")
  throw new Error(`the dashboard's assets (ui/app.js) are not in any folder above ${here}`)
}

let cache: Map<Asset, string> | undefined
const asset = (name: Asset): string => {
  if (cache === undefined) {
    const folder = uiFolder()
    cache = new Map((Object.keys(ASSETS) as Asset[]).map((n) => [n, readFileSync(join(folder, n), "utf8")]))
  }
  return cache.get(name)!
}

/** Only this origin's script, style and API; no inline script, no framing (a pasted token lives in the page). */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

export interface UiOptions {
  /** This master's name and version, shown in the page title and footer. */
  readonly name: string
  readonly version: string
}

export const uiRoutes = (o: UiOptions) => {
  const app = new Hono()
  const page = () =>
    html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Helios · ${o.name}</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="/ui/app.css" />
    <script type="module" src="/ui/app.js"></script>
  </head>
  <body>
    <div id="error" role="alert" hidden></div>
    <main id="main"><p class="muted">Loading…</p></main>
    <noscript>The dashboard needs JavaScript; the same data is on the JSON API (GET /hosts, /jobs, /events...).</noscript>
    <footer class="muted">master ${o.name} · Helios ${o.version} · read-only view of this master's HTTP API</footer>
  </body>
</html>`
  const shell = (c: Context) => {
    c.header("Content-Security-Policy", CSP)
    c.header("X-Content-Type-Options", "nosniff")
    c.header("Referrer-Policy", "no-referrer")
    c.header("Cache-Control", "no-cache")
    return c.html(page())
  }
  app.get("/ui", shell)
  app.get("/ui/", shell)
  for (const name of Object.keys(ASSETS) as Asset[])
    app.get(`/ui/${name}`, (c) =>
      c.body(asset(name), 200, { "content-type": ASSETS[name], "cache-control": "no-cache", "x-content-type-options": "nosniff" }),
    )
  return app
}
