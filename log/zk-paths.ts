/** Every ZooKeeper path Helios uses, named in one place. `root` is the cluster's chroot, e.g. "/helios". */
export const zkPaths = (root: string) => {
  const pad = (n: number, width: number) => String(n).padStart(width, "0")
  const chain = (base: string) => ({
    base,
    segment: (segment: number) => `${base}/${pad(segment, 10)}`,
    entry: (segment: number, p: number) => `${base}/${pad(segment, 10)}/${pad(p, 16)}`,
    /** Sealed segments packed into chunks; its data says through which segment (a prefix) they are packed. */
    packed: `${base}-packed`,
    /** A packed segment: its data lists its chunks' first positions. */
    packedSegment: (segment: number) => `${base}-packed/${pad(segment, 10)}`,
    packedChunk: (segment: number, chunk: number) => `${base}-packed/${pad(segment, 10)}/${pad(chunk, 4)}`,
    /** Packed segments moved to archive files (a prefix): its data names them (log/zk-archive.ts). */
    archived: `${base}-archived`,
  })
  return {
    root,
    /** The global log: segments of fixed capacity, one child per position. */
    log: chain(`${root}/log`),
    /** Version nodes of the streams that guard optimistic concurrency. */
    streams: `${root}/streams`,
    stream: (id: string) => `${root}/streams/${encodeURIComponent(id)}`,
    hosts: `${root}/hosts`,
    host: (host: string) => `${root}/hosts/${host}`,
    /** Host H's stream: the same segmented chain, its entries pointing into the global log. */
    hostStream: (host: string) => chain(`${root}/hosts/${host}/stream`),
    /** The desired state host H's stream starts from once the events it points to are archived. */
    hostStreamBase: (host: string) => `${root}/hosts/${host}/stream-base`,
    /** Ephemeral: exists while the host's agent holds a session. */
    hostUp: (host: string) => `${root}/hosts/${host}/up`,
    /** Latest-value host facts (cpus, memory, load, docker version...), not events. */
    hostInfo: (host: string) => `${root}/hosts/${host}/info`,
    masters: `${root}/masters`,
    master: (name: string) => `${root}/masters/${name}`,
    election: `${root}/election`,
    /** The masters' shared snapshot: its manifest (position, chunk count, digest). */
    sharedSnapshot: `${root}/shared-snapshot`,
    /** Its chunks, `<id>-<k>`: a snapshot's id names its chunks, so a newer one never mixes with them. */
    sharedSnapshotChunks: `${root}/shared-snapshot-chunks`,
  }
}
export type ZkPaths = ReturnType<typeof zkPaths>
export type ChainPaths = ZkPaths["log"]
