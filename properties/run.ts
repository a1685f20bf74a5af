/**
 * Long property runs: `npm run test:properties -- --runs N [--seed S] [vitest args...]`.
 *
 * Runs the same tests as `npm test` (properties/*.test.ts) with N runs per property (real
 * ZooKeeper properties use N/10, at least their normal count) and seed S (random when not given;
 * printed first so a failure can be replayed), with vitest's timeouts lifted. A failing property
 * prints its shrunk counterexample, the seed and fast-check's path. Extra arguments go to vitest,
 * e.g. `-t codec` to run only the codec properties.
 */
import { spawn } from "node:child_process"
import { randomInt } from "node:crypto"

const args = process.argv.slice(2)
let runs: string | undefined
let seed: string | undefined
const rest: string[] = []
for (let i = 0; i < args.length; i++) {
  const a = args[i]!
  const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined]
  if (flag === "--runs" || flag === "--seed") {
    const value = inline ?? args[++i]
    if (value === undefined || !/^-?\d+$/.test(value)) {
      console.error(`${flag} needs an integer`)
      process.exit(2)
    }
    if (flag === "--runs") runs = value
    else seed = value
  } else if (a === "--help" || a === "-h") {
    console.log("usage: npm run test:properties -- [--runs N] [--seed S] [vitest args...]")
    process.exit(0)
  } else rest.push(a)
}
runs ??= process.env["HELIOS_PROPERTY_RUNS"] ?? "1000"
seed ??= process.env["HELIOS_PROPERTY_SEED"] ?? String(randomInt(0, 2 ** 31 - 1))

console.log(`properties: ${runs} runs per property, seed ${seed}`)
console.log(`replay with: npm run test:properties -- --runs ${runs} --seed ${seed}`)

const child = spawn("npx", ["vitest", "run", "properties/", "--testTimeout=0", "--hookTimeout=0", ...rest], {
  stdio: "inherit",
  env: { ...process.env, HELIOS_PROPERTY_RUNS: runs, HELIOS_PROPERTY_SEED: seed },
})
child.on("exit", (code, signal) => {
  console.log(`properties: ${runs} runs per property, seed ${seed}: ${code === 0 ? "passed" : "FAILED"}`)
  process.exit(code ?? (signal ? 1 : 0))
})
