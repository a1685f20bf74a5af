/**
 * A bound on how many tasks run at once; the others wait their turn, first come first served.
 */
export class Seats {
  private taken = 0
  private readonly queue: Array<() => void> = []

  constructor(readonly size: number) {}

  get waiting(): number {
    return this.queue.length
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.taken >= this.size) await new Promise<void>((resolve) => this.queue.push(resolve))
    else this.taken++
    try {
      return await task()
    } finally {
      const next = this.queue.shift()
      if (next) next()
      else this.taken--
    }
  }
}
