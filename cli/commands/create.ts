import { readFileSync } from "node:fs"
import { Result } from "effect"
import { decodeJob } from "../../core/job.ts"
import { bool, list, pos, str } from "../args.ts"
import type { Command } from "../command.ts"
import { CliError, oneLine } from "../errors.ts"
import { mergeCreateFlags, withoutHash } from "../job-flags.ts"
import { resolveJob } from "../resolve.ts"
import { Created, OneJob } from "../answers.ts"

const readJobFile = (file: string): Record<string, unknown> => {
  let text: string
  try {
    text = file === "-" ? readFileSync(0, "utf8") : readFileSync(file, "utf8")
  } catch (e) {
    throw new CliError(`cannot read job file ${file}: ${oneLine((e as Error).message)}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw new CliError(`job file ${file} is not valid JSON: ${oneLine((e as Error).message)}`)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new CliError(`job file ${file}: expected a JSON object (a job)`)
  return value as Record<string, unknown>
}

const command: Command = {
  name: "create",
  summary: "create a job",
  usage: "[NAME:VERSION[:HASH]] [IMAGE] [-- COMMAND ARGS...]",
  description:
    "Prints 'Creating job: <json>', then 'Done.' and the job's full id. The job is validated before it is sent;\n" +
    "flags override the job file (-f) or template (-t). $GIT_COMMIT, when set, is stored as metadata GIT_COMMIT.\n" +
    "example: helios create web:v1 helios-test/web:latest -p http=80:8080 --http-check http:/",
  allowRest: true,
  positionals: [{ name: "ID" }, { name: "IMAGE" }],
  flags: [
    { name: "file", short: "f", type: "string", metavar: "FILE", help: "job configuration file (JSON; - for stdin)" },
    { name: "template", short: "t", type: "string", metavar: "JOB", help: "start from an existing job's configuration" },
    { name: "quiet", short: "q", type: "boolean", help: "print only the job id" },
    { name: "port", short: "p", type: "string", multiple: true, metavar: "NAME=[IP:]INTERNAL[:EXTERNAL][/PROTO]", help: "port mapping; no EXTERNAL: the agent picks one" },
    { name: "env", type: "string", multiple: true, metavar: "K=V", help: "environment variable" },
    { name: "metadata", short: "m", type: "string", multiple: true, metavar: "K=V", help: "metadata (stored, never acted on)" },
    { name: "label", type: "string", multiple: true, metavar: "K=V", help: "Docker container label" },
    { name: "labels", type: "string", multiple: true, metavar: "K=V", help: "same as --label", hidden: true },
    { name: "volume", type: "string", multiple: true, metavar: "[SRC:]PATH[:ro|rw]", help: "volume: host path or named volume SRC, or anonymous" },
    { name: "http-check", type: "string", metavar: "PORT:/PATH", help: "HTTP health check on a named port" },
    { name: "tcp-check", type: "string", metavar: "PORT", help: "TCP health check on a named port" },
    { name: "exec-check", type: "string", metavar: '"CMD ARGS"', help: "health check command run in the container" },
    { name: "liveness-http-check", type: "string", metavar: "PORT:/PATH", help: "HTTP liveness check, kept running after RUNNING: failing ones restart the container" },
    { name: "liveness-tcp-check", type: "string", metavar: "PORT", help: "TCP liveness check on a named port" },
    { name: "liveness-exec-check", type: "string", metavar: '"CMD ARGS"', help: "liveness check command run in the container" },
    { name: "liveness-interval", type: "string", metavar: "S", help: "seconds between liveness checks (default 10)" },
    { name: "liveness-failure-threshold", type: "string", metavar: "N", help: "liveness failures in a row that restart the container (default 3)" },
    { name: "hostname", type: "string", metavar: "NAME", help: "container hostname" },
    { name: "token", type: "string", metavar: "TOKEN", help: "insecure access token required to deploy/undeploy/start/stop/remove" },
    { name: "network-mode", type: "string", metavar: "MODE", help: "bridge, host or container:<id>" },
    { name: "grace-period", type: "string", metavar: "S", help: "seconds between unregistering and stopping the container" },
    { name: "expires", short: "e", type: "string", metavar: "ISO8601", help: "when the job is undeployed everywhere and removed" },
    { name: "add-capability", type: "string", multiple: true, metavar: "CAP", help: "Linux capability to add (the master must whitelist it)" },
    { name: "drop-capability", type: "string", multiple: true, metavar: "CAP", help: "Linux capability to drop" },
    { name: "security-opt", type: "string", multiple: true, metavar: "OPT", help: "docker run --security-opt" },
    { name: "runtime", type: "string", metavar: "NAME", help: "Docker runtime, e.g. nvidia" },
  ],

  async run(ctx) {
    const { args } = ctx
    const file = str(args, "file")
    const template = str(args, "template")
    if (file !== undefined && template !== undefined) throw new CliError("give a job file (-f) or a template (-t), not both")

    let base: Record<string, unknown> = {}
    if (file !== undefined) base = readJobFile(file)
    else if (template !== undefined) {
      const id = await resolveJob(ctx.client(), template)
      const { created: _c, creatingUser: _u, ...job } = await ctx.client().getDecoded(`/jobs/${encodeURIComponent(id)}`, OneJob)
      base = { ...job, id: withoutHash(job["id"]) }
    }
    const id = pos(args, "ID")
    const image = pos(args, "IMAGE")
    if (base["id"] === undefined && id === undefined)
      throw new CliError("no job id given: helios create NAME:VERSION IMAGE (or -f FILE, or -t JOB)")
    if (base["image"] === undefined && image === undefined) throw new CliError("no image given: helios create NAME:VERSION IMAGE")

    const input = mergeCreateFlags(
      base,
      {
        ...(id !== undefined ? { id } : {}),
        ...(image !== undefined ? { image } : {}),
        command: args.rest,
        env: list(args, "env"),
        metadata: list(args, "metadata"),
        labels: [...list(args, "labels"), ...list(args, "label")],
        ports: list(args, "port"),
        volumes: list(args, "volume"),
        addCapabilities: list(args, "add-capability"),
        dropCapabilities: list(args, "drop-capability"),
        securityOpt: list(args, "security-opt"),
        ...optional("hostname", str(args, "hostname")),
        ...optional("token", str(args, "token")),
        ...optional("networkMode", str(args, "network-mode")),
        ...optional("gracePeriod", str(args, "grace-period")),
        ...optional("expires", str(args, "expires")),
        ...optional("runtime", str(args, "runtime")),
        ...optional("httpCheck", str(args, "http-check")),
        ...optional("tcpCheck", str(args, "tcp-check")),
        ...optional("execCheck", str(args, "exec-check")),
        ...optional("livenessHttpCheck", str(args, "liveness-http-check")),
        ...optional("livenessTcpCheck", str(args, "liveness-tcp-check")),
        ...optional("livenessExecCheck", str(args, "liveness-exec-check")),
        ...optional("livenessInterval", str(args, "liveness-interval")),
        ...optional("livenessFailureThreshold", str(args, "liveness-failure-threshold")),
      },
      ctx.io.env,
    )

    const decoded = decodeJob(input)
    if (Result.isFailure(decoded)) {
      const errors = decoded.failure.map((e) => `${e.field}: ${e.message}`)
      throw new CliError(`invalid job: ${errors.join("; ")}`, {
        status: "INVALID_JOB_DEFINITION",
        errors,
        id: typeof input["id"] === "string" ? input["id"] : null,
      })
    }
    const job = decoded.success
    const quiet = bool(args, "quiet")
    if (!quiet && !ctx.json) ctx.print(`Creating job: ${JSON.stringify(job)}`)
    const response = await ctx.client().requestDecoded("POST", "/jobs", Created, { body: job })
    if (ctx.json) ctx.printJson(response)
    else {
      if (!quiet) ctx.print("Done.")
      ctx.print(response.id)
    }
  },
}

const optional = <K extends string>(key: K, value: string | undefined): { [P in K]?: string } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: string }

export default command
