import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { Result, Schema } from "effect"
import zookeeper, { type Acl } from "node-zookeeper-client"
import { decodeInput, formatFieldErrors } from "../core/decode.ts"
import { zkPaths } from "./zk-paths.ts"

/*
 * ZooKeeper ACLs: who may read and write which znodes. Without them every node Helios creates is
 * world-readable and world-writable (`OPEN_ACL_UNSAFE`): anyone who reaches ZooKeeper reads jobs'
 * env and tokens, and one bad write at the log's next position stops every master. With them
 * (`--zk-auth-file` on masters and agents) each process authenticates with a digest identity and
 * every node it creates carries an ACL chosen by its path, the same for every creator:
 *
 *   under <root>/hosts/<h>/up and /info   masters ALL, agents ALL (the agent's latest-value facts)
 *   <root>/hosts and <root>/hosts/<h>     masters ALL, agents READ + CREATE + DELETE (agents make and
 *                                         take back their `up` node, write `info`)
 *   <root>/shared-snapshot(-chunks)       masters ALL only (the masters' read model: jobs' env included)
 *   everything else (log, streams, host   masters ALL, agents READ: agents read their host stream and
 *   streams, masters, election...)        the log; they append nothing (their facts go through a
 *                                         master's relay, POST /hosts/{host}/events)
 *
 * Nobody else gets anything: an unauthenticated client is refused (NoAuth) every read and write
 * (`exists` is not checked by ZooKeeper: node names stay visible to whoever guesses them).
 * Agents share one identity, so ZooKeeper does not stop one agent writing another host's `info`;
 * the relay's `agent:<host>` capability is what keeps an agent to its own host's facts.
 */

const { ACL, Id, Permission } = zookeeper

/** A digest identity as ZooKeeper stores it: `user:base64(sha1("user:password"))`. */
export const zkDigest = (user: string, password: string): string =>
  `${user}:${createHash("sha1").update(`${user}:${password}`, "utf8").digest("base64")}`

export interface ZkAuth {
  /** This process's identity (added to its session). */
  readonly user: string
  readonly password: string
  /** The masters' digest identity (`user:digest`), given ALL everywhere. */
  readonly masters: string
  /** The agents' digest identity. */
  readonly agents: string
}

const Digest = Schema.String.pipe(Schema.check(Schema.isPattern(/^[^:\s]+:[A-Za-z0-9+/]{27}=$/)))
const ZkAuthFile = Schema.Struct({
  user: Schema.String.pipe(Schema.check(Schema.isPattern(/^[^:\s]+$/))),
  password: Schema.String.pipe(Schema.check(Schema.isMinLength(16))),
  masters: Digest,
  agents: Digest,
})

/**
 * `--zk-auth-file FILE`: JSON `{"user", "password", "masters": "USER:DIGEST", "agents": "USER:DIGEST"}`
 * (a digest: `echo -n USER:PASSWORD | openssl dgst -binary -sha1 | base64`). An Error naming the problem.
 */
export const readZkAuthFile = (file: string): ZkAuth | Error => {
  let value: unknown
  try {
    value = JSON.parse(readFileSync(file, "utf8"))
  } catch (e) {
    return new Error(`${file}: ${(e as Error).message}`)
  }
  const decoded = decodeInput(ZkAuthFile, value)
  if (Result.isFailure(decoded)) return new Error(`${file}: ${formatFieldErrors(decoded.failure)}`)
  const auth = decoded.success
  const own = zkDigest(auth.user, auth.password)
  if (own !== auth.masters && own !== auth.agents) return new Error(`${file}: user and password are neither the masters' nor the agents' identity`)
  return auth
}

/** The ACL of a node by its path, for the cluster under `root`. */
export const aclPolicy = (root: string, auth: Pick<ZkAuth, "masters" | "agents">) => {
  const paths = zkPaths(root)
  const digest = (text: string) => new Id("digest", text)
  const masters = new ACL(Permission.ALL, digest(auth.masters))
  const agentsOwn = [masters, new ACL(Permission.ALL, digest(auth.agents))]
  const hostDirs = [masters, new ACL(Permission.READ | Permission.CREATE | Permission.DELETE, digest(auth.agents))]
  const readOnly = [masters, new ACL(Permission.READ, digest(auth.agents))]
  const hostsPrefix = paths.hosts + "/"
  const mastersOnly = [masters]
  return (path: string): ReadonlyArray<Acl> => {
    if (path === paths.sharedSnapshot || path === paths.sharedSnapshotChunks || path.startsWith(paths.sharedSnapshotChunks + "/")) return mastersOnly
    if (path === paths.hosts) return hostDirs
    if (path.startsWith(hostsPrefix)) {
      const rest = path.slice(hostsPrefix.length).split("/")
      if (rest.length === 1) return hostDirs
      if (rest[1] === "up" || rest[1] === "info") return agentsOwn
    }
    return readOnly
  }
}
