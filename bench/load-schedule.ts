// The open loop's schedule (--rate): when each batch of a load agency is due,
// whatever the server has answered. An agency that sent only once its
// window had room would wait for a slow server, send less, and record only
// the short waits of the batches it did send: coordinated omission, which
// hides queueing. Here each batch is due when an agency offering its share
// of the load would have filled it, and its latency runs from then, so a
// batch that could not even be written in time counts its wait as well.

/**
 * When each batch is due, ms after the agency's WELCOME: as its last bet
 * arrives at `betsPerSecond`, plus `phaseMs`, so that agencies started
 * together do not all send at the same instants. `ends`: each batch's ACK
 * offset (the bets up to and including it).
 */
export function sendSchedule(ends: readonly number[], betsPerSecond: number, phaseMs: number): Float64Array {
  if (!(betsPerSecond > 0)) throw new RangeError(`an agency's rate must be positive, got ${betsPerSecond}`);
  const due = new Float64Array(ends.length);
  for (let i = 0; i < ends.length; i++) due[i] = phaseMs + (ends[i] * 1000) / betsPerSecond;
  return due;
}

/**
 * Agency `agency` (1..agencies)'s schedule when `agencies` agencies offer
 * `totalBetsPerSecond` together, each an even share, their phases spread
 * evenly over one batch's interval.
 */
export function agencySchedule(ends: readonly number[], totalBetsPerSecond: number, agencies: number, agency: number): Float64Array {
  const share = totalBetsPerSecond / agencies;
  const firstInterval = ends.length === 0 ? 0 : (ends[0] * 1000) / share;
  return sendSchedule(ends, share, ((agency - 1) / agencies) * firstInterval);
}

/** The index of the first batch not yet due at `elapsedMs` (due is ascending), from `from` on. */
export function dueUpTo(due: Float64Array, elapsedMs: number, from: number): number {
  let next = from;
  while (next < due.length && due[next] <= elapsedMs) next++;
  return next;
}
