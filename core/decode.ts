import { Result, Schema, SchemaIssue } from "effect"

/** One problem with one field of an input, named by its path (e.g. `ports.http.internalPort`). */
export interface FieldError {
  readonly field: string
  readonly message: string
}

// Excess properties are errors (a typo like `imgae` must not be dropped) and every problem is reported.
const strict = { errors: "all", onExcessProperty: "error" } as const
const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const fieldName = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined): string =>
  path === undefined || path.length === 0
    ? "(root)"
    : path.map((p) => String(typeof p === "object" ? p.key : p)).join(".")

/** Decodes input from outside (HTTP body, CLI flag, job file, log) and reports every bad field. */
export const decodeInput = <S extends Schema.Decoder<unknown>>(
  schema: S,
  input: unknown,
): Result.Result<S["Type"], ReadonlyArray<FieldError>> => {
  const result = Schema.decodeUnknownResult(schema)(input, strict)
  if (Result.isSuccess(result)) return Result.succeed(result.success)
  const issues = formatter(result.failure.issue).issues
  return Result.fail(issues.map((i) => ({ field: fieldName(i.path), message: i.message })))
}

export const formatFieldErrors = (errors: ReadonlyArray<FieldError>): string =>
  errors.map((e) => `${e.field}: ${e.message}`).join("; ")
