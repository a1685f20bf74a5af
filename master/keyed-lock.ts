/**
 * Runs tasks one at a time per key; a task holding several keys waits for all of them. Keys are
 * taken in sorted order, so two tasks can never wait for each other.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>()

  async run<T>(keys: ReadonlyArray<string>, task: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort()
    const releases: Array<() => void> = []
    for (const key of sorted) {
      const previous = this.tails.get(key) ?? Promise.resolve()
      let release!: () => void
      const mine = new Promise<void>((r) => (release = r))
      const tail = previous.then(() => mine)
      this.tails.set(key, tail)
      releases.push(() => {
        release()
        if (this.tails.get(key) === tail) this.tails.delete(key)
      })
      await previous
    }
    try {
      return await task()
    } finally {
      for (const r of releases) r()
    }
  }
}
