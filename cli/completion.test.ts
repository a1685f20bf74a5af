/**
 * `helios completion bash`: the script is sourced in a real bash and asked what completes a line,
 * as bash asks it (COMP_LINE / COMP_POINT); job ids and host names come from a real master through
 * the real `helios` binary named on the line.
 */
import { execFile } from "node:child_process"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { startMaster, type RunningMaster } from "../master/master.ts"
import { BIN, runInProcess, tempDir, removeTempDirs } from "../test/cli-helpers.ts"
import { COMMANDS } from "./commands/index.ts"
import { GLOBAL_FLAGS } from "./main.ts"

let master: RunningMaster
let log: SqliteEventLog
let script: string
let home: string

beforeAll(async () => {
  const dir = tempDir("completion")
  home = dir
  log = new SqliteEventLog(join(dir, "events.db"))
  master = await startMaster({ log, port: 0, bindAddress: "127.0.0.1", name: "m-completion" })
  const env = { HOME: home, HELIOS_MASTER: master.url }
  for (const id of ["web:v1", "web:v2", "api:v1"]) expect((await runInProcess(["create", "-q", id, "helios-test/web:latest"], { env })).code).toBe(0)
  expect((await runInProcess(["register", "node-a.example", "agent-a"], { env })).code).toBe(0)
  const generated = await runInProcess(["completion", "bash"], { env })
  expect(generated).toMatchObject({ code: 0, stderr: "" })
  script = join(dir, "helios.bash")
  await import("node:fs").then((fs) => fs.writeFileSync(script, generated.stdout))
})
afterAll(async () => {
  await master?.stop()
  await log?.close()
  removeTempDirs()
})

/** What the script offers for `line` with the cursor at its end, sorted. */
const complete = (line: string): Promise<string[]> =>
  new Promise((resolve, reject) => {
    const program = `source "$1"; COMP_LINE="$2"; COMP_POINT=\${#COMP_LINE}; COMPREPLY=(); _helios_complete; printf '%s\\n' "\${COMPREPLY[@]}"`
    execFile("bash", ["--norc", "--noprofile", "-c", program, "bash", script, line], { env: { PATH: process.env["PATH"] ?? "", HOME: home }, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`))
      else resolve(stdout.split("\n").filter((w) => w !== "").sort())
    })
  })

describe("helios completion bash", () => {
  it("offers every verb of the command table, and the verbs that start with the word", async () => {
    expect(await complete("helios ")).toEqual(["help", ...Object.keys(COMMANDS)].sort())
    expect(await complete("helios de")).toEqual(["deploy", "deployment-group-status", "deregister"])
    expect(await complete("helios -z http://127.0.0.1:1 --json un")).toEqual(["undeploy"])
    expect(await complete("helios help und")).toEqual(["undeploy"])
  })

  it("offers the verb's flags and the global ones, and the values a flag's metavar names", async () => {
    const deploy = await COMMANDS["deploy"]!()
    const globals = GLOBAL_FLAGS.filter((f) => !f.hidden).map((f) => `--${f.name}`)
    const longs = (await complete("helios deploy --")).filter((w) => w !== "--version")
    expect(longs).toEqual([...deploy.flags.map((f) => `--${f.name}`), ...globals].sort())
    expect(await complete("helios hosts --status ")).toEqual(["DOWN", "UP"])
    expect(await complete("helios completion ")).toEqual(["bash", "zsh"])
    expect(await complete(`helios create -f ${script.slice(0, -3)}`)).toEqual([script])
  })

  it("completes job ids and host names from the master the line names, colons and all", async () => {
    const line = `${BIN} -z ${master.url} deploy `
    const ids = await complete(line)
    expect(ids.map((id) => id.split(":").slice(0, 2).join(":"))).toEqual(["api:v1", "web:v1", "web:v2"])
    // Bash replaces only what follows the word's last colon, so that is what is offered.
    const v = await complete(`${line}web:v`)
    expect(v).toHaveLength(2)
    expect(v.every((rest) => /^v[12]:[0-9a-f]{40}$/.test(rest))).toBe(true)
    expect(await complete(`${line}web:v1 `)).toEqual(["node-a.example"])
    expect(await complete(`${line}web:v1 node-a.example no`)).toEqual(["node-a.example"])
    // A master that does not answer: nothing, and no error text among the candidates.
    expect(await complete(`${BIN} -z http://127.0.0.1:9 deploy `)).toEqual([])
    // After `--` nothing completes (the rest is create's container command).
    expect(await complete(`${BIN} -z ${master.url} create x:1 img -- `)).toEqual([])
  })
})
