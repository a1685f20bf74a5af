/**
 * Docker helpers for tests: make sure the engine runs and the local test image exists, and clean up
 * containers by label.
 *
 *   await ensureDocker()                        // scripts/dockerd.sh, once per process
 *   await ensureTestImage()                     // scripts/build-test-image.sh, once per process
 *   afterAll(() => removeContainersByLabel("helios-test=my-suite"))
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import Docker from "dockerode"

/** Built by scripts/build-test-image.sh from busybox-static; no registry involved. */
export const TEST_IMAGE = "helios-test/web:latest"
/** Text served at `/` by TEST_IMAGE's default command (busybox httpd on port 80, or $PORT). */
export const TEST_IMAGE_TEXT = "Hello from Helios test image"
/** Label put on every container created by tests; use `${TEST_LABEL}=<suite>`. */
export const TEST_LABEL = "helios-test"

const scriptsDir = fileURLToPath(new URL("../scripts/", import.meta.url))

function runScript(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("bash", [scriptsDir + name], { timeout: 180_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`scripts/${name} failed: ${err.message}\n${stdout}${stderr}`))
      else resolve()
    })
  })
}

let dockerReady: Promise<void> | undefined
let imageReady: Promise<void> | undefined

/** Start dockerd if it is not running (scripts/dockerd.sh). Runs the script once per process. */
export function ensureDocker(): Promise<void> {
  dockerReady ??= runScript("dockerd.sh").catch((err: unknown) => {
    dockerReady = undefined
    throw err
  })
  return dockerReady
}

/** Build TEST_IMAGE if missing or stale (scripts/build-test-image.sh). Runs once per process. */
export function ensureTestImage(): Promise<void> {
  imageReady ??= ensureDocker()
    .then(() => runScript("build-test-image.sh"))
    .catch((err: unknown) => {
      imageReady = undefined
      throw err
    })
  return imageReady
}

let client: Docker | undefined
/** A shared dockerode client on the default socket. */
export function docker(): Docker {
  client ??= new Docker()
  return client
}

function statusCode(err: unknown): number | undefined {
  return typeof err === "object" && err !== null && "statusCode" in err && typeof err.statusCode === "number" ? err.statusCode : undefined
}

/**
 * Force-remove (with anonymous volumes) every container carrying `label`, given as "key" or
 * "key=value" like `docker ps --filter label=...`. Returns how many were removed.
 */
export async function removeContainersByLabel(label: string): Promise<number> {
  const d = docker()
  const containers = await d.listContainers({ all: true, filters: { label: [label] } })
  await Promise.all(
    containers.map(async (c) => {
      try {
        await d.getContainer(c.Id).remove({ force: true, v: true })
      } catch (err) {
        // 404: already gone; 409: removal already in progress.
        const code = statusCode(err)
        if (code !== 404 && code !== 409) throw err
      }
    }),
  )
  return containers.length
}
