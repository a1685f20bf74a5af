/**
 * An error the CLI reports as ONE line on stderr (exit 1). `json` is what `--json` prints on stdout
 * for it (default `{"status": "ERROR", "error": message}`), so scripts always get valid JSON.
 */
export class CliError extends Error {
  override readonly name: string = "CliError"
  constructor(
    message: string,
    readonly json?: Readonly<Record<string, unknown>>,
  ) {
    super(message)
  }
}

/** The master answered with a non-2xx status. */
export class ApiError extends CliError {
  override readonly name = "ApiError"
  constructor(
    message: string,
    /** HTTP status code. */
    readonly code: number,
    /** Helios status name from the body (`JOB_NOT_FOUND`...), or `HTTP_<code>`. */
    readonly status: string,
    readonly body: unknown,
  ) {
    super(message, typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : { status, error: message })
  }
}

/** The master could not be reached at any endpoint. */
export class UnreachableError extends CliError {
  override readonly name = "UnreachableError"
}

/** Collapses any message to one line. */
export const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, " ").trim()

/** The readable reason of any error: tagged errors carry `reason`, others a message. */
export const reasonOf = (e: unknown): string => {
  const reason = (e as { reason?: unknown } | null)?.reason
  if (typeof reason === "string" && reason !== "") return oneLine(reason)
  return oneLine((e as Error | null)?.message || String(e))
}
