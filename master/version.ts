import { readFileSync } from "node:fs"

/** Set by scripts/build.mjs (esbuild `define`) in the compiled programs, whose files are not next to package.json. */
declare const HELIOS_BUNDLED_VERSION: string | undefined

/** This build's version, from package.json. */
export const HELIOS_VERSION: string =
  typeof HELIOS_BUNDLED_VERSION === "string"
    ? HELIOS_BUNDLED_VERSION
    : (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version
