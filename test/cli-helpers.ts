/* Helpers for the CLI tests: run `helios` in-process or as a child process, find free ports. */
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { CliIo } from "../cli/command.ts"
import { run } from "../cli/main.ts"

export const BIN = fileURLToPath(new URL("../bin/helios.js", import.meta.url))

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const made: string[] = []

/** A fresh temporary directory (used as HOME, data dir, state dir...); see removeTempDirs. */
export const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `helios-${prefix}-`))
  made.push(dir)
  return dir
}

/** Removes every directory tempDir made in this test file (call in afterAll, after stopping what uses them). */
export const removeTempDirs = (): void => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })

/** `node bin/helios.js ARGS` with `env` added to a clean environment (HOME, HELIOS_MASTER...). */
export const spawnCli = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>>, timeoutMs = 60_000): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env["PATH"] ?? "", ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resolve({ code, stdout, stderr })
      },
    )
  })

export interface InProcessOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly interactive?: boolean
  /** What the user answers to a prompt. */
  readonly answer?: string
  readonly signal?: AbortSignal
  /** Called with everything printed on stdout so far, after each write (e.g. to abort a watch). */
  readonly onStdout?: (stdout: string) => void
}

/** `helios ARGS` in this process, capturing its output (fast: no process start-up). */
export const runInProcess = async (args: ReadonlyArray<string>, o: InProcessOptions = {}): Promise<CliResult> => {
  let stdout = ""
  let stderr = ""
  const io: CliIo = {
    stdout: (t) => {
      stdout += t
      o.onStdout?.(stdout)
    },
    stderr: (t) => (stderr += t),
    interactive: o.interactive ?? false,
    prompt: async (question) => {
      stderr += question
      return o.answer ?? ""
    },
    env: o.env ?? {},
    signal: o.signal ?? new AbortController().signal,
  }
  const code = await run(args, io)
  return { code, stdout, stderr }
}

/** The lines of a text, without the final empty one. */
export const lines = (text: string): string[] => text.split("\n").filter((l, i, all) => l !== "" || i < all.length - 1)

/** The cells of a table row (columns are separated by at least two spaces). */
export const cells = (line: string): string[] => line.trim().split(/\s{2,}/)
