/** Node's longest timer (2^31 - 1 ms, ~24.8 days): setTimeout fires a longer one after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1
