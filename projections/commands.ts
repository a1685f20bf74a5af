/**
 * The command ids of the commands users and masters ran, for the command bus's idempotent retries:
 * does the log hold a command with this id, and where did its batch end?
 *
 * Kept as 32-bit hashes of the ids in one flat table, not as strings in a Map: a master folding a
 * long log adds an entry for every event of every command (150,000 in the 10^6-event benchmark
 * log), and a Map insert there cost as much as the rest of the event's history bookkeeping. A hash
 * only says "maybe": the command bus confirms a candidate by reading the event at its position (from
 * the history in memory, or the log) and comparing the id (master/command-bus.ts).
 */

const MIN_SLOTS = 1024

/** FNV-1a over the UTF-16 code units; never 0 (0 marks an empty slot). */
export const commandHash = (id: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
  return h >>> 0 || 1
}

export class CommandIndex {
  /**
   * Open addressing with linear probing: slot i is `table[2i]` (a hash, 0 for an empty slot) and
   * `table[2i + 1]` (the position of an event that carried an id with that hash). Half full at most.
   */
  table = new Float64Array(2 * MIN_SLOTS)
  /** Entries: one per event added. */
  size = 0

  /** Records that the event at `position` carried `commandId`. */
  add(commandId: string, position: number): void {
    if (2 * (this.size + 1) > this.table.length / 2) this.grow()
    this.put(commandHash(commandId), position)
    this.size++
  }

  /** Positions of events whose command id may be `commandId`, highest first (the batch's last event first). */
  candidates(commandId: string): number[] {
    const h = commandHash(commandId)
    const mask = this.table.length / 2 - 1
    const out: number[] = []
    for (let i = h & mask; this.table[2 * i] !== 0; i = (i + 1) & mask) if (this.table[2 * i] === h) out.push(this.table[2 * i + 1]!)
    return out.sort((a, b) => b - a)
  }

  private put(h: number, position: number): void {
    const mask = this.table.length / 2 - 1
    let i = h & mask
    while (this.table[2 * i] !== 0) i = (i + 1) & mask
    this.table[2 * i] = h
    this.table[2 * i + 1] = position
  }

  private grow(): void {
    const old = this.table
    this.table = new Float64Array(2 * old.length)
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) this.put(old[i]!, old[i + 1]!)
  }
}
