import fc from "fast-check"

/*
 * Run counts and seeds for the property tests.
 *
 * `npm test` runs every property with a FIXED seed and a modest number of runs, so the suite is
 * deterministic and quick. `npm run test:properties -- --runs N [--seed S]` (properties/run.ts)
 * sets HELIOS_PROPERTY_RUNS / HELIOS_PROPERTY_SEED and runs the same tests longer.
 *
 * A failure throws fast-check's report (shrunk counterexample, seed and path) prefixed with a line
 * that names the seed and the command that replays it.
 */

const envInt = (name: string): number | undefined => {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === "") return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`)
  return n
}

/** Runs requested on the command line, if any. */
export const requestedRuns = (): number | undefined => envInt("HELIOS_PROPERTY_RUNS")

export interface PropertyBudget {
  /** Runs in the normal `npm test`. */
  readonly runs: number
  /** Fixed seed in the normal `npm test` (HELIOS_PROPERTY_SEED overrides it). */
  readonly seed: number
  /**
   * For expensive properties (real ZooKeeper): the fraction of HELIOS_PROPERTY_RUNS to use, never
   * fewer than `runs`. Default 1.
   */
  readonly scale?: number
}

export interface RunParameters {
  readonly seed: number
  readonly numRuns: number
}

export const parameters = (budget: PropertyBudget): RunParameters => {
  const requested = requestedRuns()
  const numRuns =
    requested === undefined ? budget.runs : Math.max(budget.runs, Math.round(requested * (budget.scale ?? 1)))
  return { seed: envInt("HELIOS_PROPERTY_SEED") ?? budget.seed, numRuns }
}

/** True when running long (`--runs N`): tests then lift their timeouts. */
export const longRun = (): boolean => requestedRuns() !== undefined

/** vitest timeout for a property: generous in long runs, `normalMs` otherwise. */
export const timeoutFor = (normalMs: number): number => (longRun() ? 24 * 3600_000 : normalMs)

const explain = (error: unknown, p: RunParameters): Error => {
  const message = error instanceof Error ? error.message : String(error)
  const header =
    `Property failed with seed ${p.seed} (numRuns ${p.numRuns}). Replay: ` +
    `npm run test:properties -- --seed ${p.seed} --runs ${p.numRuns}`
  return new Error(`${header}\n${message}`, { cause: error })
}

/** fc.assert with the budget's seed and runs; a failure names the seed (and fast-check's path). */
export const check = <Ts>(
  property: fc.IProperty<Ts>,
  budget: PropertyBudget,
  extra: Omit<fc.Parameters<Ts>, "seed" | "numRuns"> = {},
): void => {
  const p = parameters(budget)
  try {
    fc.assert(property, { ...extra, seed: p.seed, numRuns: p.numRuns })
  } catch (error) {
    throw explain(error, p)
  }
}

export const checkAsync = async <Ts>(
  property: fc.IAsyncProperty<Ts> | fc.IAsyncPropertyWithHooks<Ts>,
  budget: PropertyBudget,
  extra: Omit<fc.Parameters<Ts>, "seed" | "numRuns"> = {},
): Promise<void> => {
  const p = parameters(budget)
  try {
    await fc.assert(property, { ...extra, seed: p.seed, numRuns: p.numRuns })
  } catch (error) {
    throw explain(error, p)
  }
}
