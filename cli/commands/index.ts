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
  "create-deployment-group": async () => (await import("./create-deployment-group.ts")).default,
  "list-deployment-groups": async () => (await import("./list-deployment-groups.ts")).default,
  "inspect-deployment-group": async () => (await import("./inspect-deployment-group.ts")).default,
  "deployment-group-status": async () => (await import("./deployment-group-status.ts")).default,
  "watch-deployment-group": async () => (await import("./watch-deployment-group.ts")).default,
  "rolling-update": async () => (await import("./rolling-update.ts")).default,
  promote: async () => (await import("./promote.ts")).default,
  rollback: async () => (await import("./rollback.ts")).default,
  rollout: async () => (await import("./rollout.ts")).default,
  "stop-deployment-group": async () => (await import("./stop-deployment-group.ts")).default,
  "remove-deployment-group": async () => (await import("./remove-deployment-group.ts")).default,
  hosts: async () => (await import("./hosts.ts")).default,
  register: async () => (await import("./register.ts")).default,
  deregister: async () => (await import("./deregister.ts")).default,
  masters: async () => (await import("./masters.ts")).default,
  version: async () => (await import("./version.ts")).default,
  solo: async () => (await import("./solo.ts")).default,
  completion: async () => (await import("./completion.ts")).default,
}
