import type { Command } from "../command.ts"

/**
 * Every verb, in help order, loaded on demand (a run imports only its own verb's module, which
 * keeps `helios` quick to start).
 */
export const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  create: async () => (await import("./create.ts")).default,
  inspect: async () => (await import("./inspect.ts")).default,
  jobs: async () => (await import("./jobs.ts")).default,
  deploy: async () => (await import("./deploy.ts")).default,
  undeploy: async () => (await import("./undeploy.ts")).default,
  start: async () => (await import("./start.ts")).default,
  stop: async () => (await import("./stop.ts")).default,
  remove: async () => (await import("./remove.ts")).default,
  status: async () => (await import("./status.ts")).default,
  history: async () => (await import("./history.ts")).default,
  events: async () => (await import("./events.ts")).default,
  watch: async () => (await import("./watch.ts")).default,
  hosts: async () => (await import("./hosts.ts")).default,
  register: async () => (await import("./register.ts")).default,
  deregister: async () => (await import("./deregister.ts")).default,
  masters: async () => (await import("./masters.ts")).default,
  version: async () => (await import("./version.ts")).default,
  solo: async () => (await import("./solo.ts")).default,
  completion: async () => (await import("./completion.ts")).default,
}
