/**
 * vitest globalSetup (named in vitest.config.ts): runs once per `vitest run`, in the main process.
 * Makes sure dockerd runs and the test image exists, and starts ONE ZooKeeper for the whole run,
 * whose connect string test files get via `zkConnect()` from test/services.ts. Also brings the
 * bundled CLI up to date, so the tests that spawn `helios` run what users run, at its speed.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import type { TestProject } from "vitest/node"
import { ensureDocker, ensureTestImage } from "./docker.ts"
import { startZooKeeper, type ZooKeeperServer } from "./zookeeper.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** "127.0.0.1:PORT" of the run's ZooKeeper server. */
    zkConnect: string
  }
}

/** scripts/build.mjs (a no-op when dist/ is fresh). Not fatal: bin/helios.js then runs the sources. */
const buildCli = async (): Promise<void> => {
  const script = fileURLToPath(new URL("../scripts/build.mjs", import.meta.url))
  await promisify(execFile)(process.execPath, [script]).catch((e: Error) =>
    process.stderr.write(`global-setup: could not build the bundled CLI, helios runs from source: ${e.message}\n`),
  )
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cliBuilt = buildCli()
  const zkStarted = startZooKeeper()
  let zk: ZooKeeperServer
  try {
    const [server] = await Promise.all([zkStarted, ensureDocker().then(ensureTestImage), cliBuilt])
    zk = server
  } catch (err) {
    // Do not leave a ZooKeeper behind when Docker setup failed.
    await zkStarted.then((s) => s.destroy()).catch(() => undefined)
    throw err
  }
  project.provide("zkConnect", zk.connectString)
  return async () => {
    // Keep the data dir (and its zookeeper.log) for a post-mortem with HELIOS_KEEP_ZK=1.
    if (process.env["HELIOS_KEEP_ZK"]) await zk.stop()
    else await zk.destroy()
  }
}
