// Whether a stored lottery can be served with the number of agencies the
// server is set for. Pure: decided from what recovery found.
import type { AgencyState, Winners } from './records.ts';

/** What is decided from: each agency's state, and the draw if there was one. */
export type StoredLottery = { agencies: Record<string, AgencyState>; winners: Winners | null };

/**
 * Why the stored lottery in the data dir cannot be served with `agencies`
 * agencies, if it cannot: a draw made for another number of agencies, or an
 * agency past N that has bets or has finished (it would be refused as
 * unknown). Starting anyway would serve wrong answers.
 */
export function contradictsStoredLottery(stored: StoredLottery, agencies: number, dataDir: string): string | undefined {
  const remedy = `start with that number of agencies, or with an empty --data-dir for a new lottery`;
  if (stored.winners !== null) {
    const drawnFor = Object.keys(stored.winners).length;
    if (drawnFor !== agencies)
      return `${dataDir} holds a lottery drawn for ${drawnFor} agencies, but this server is set for ${agencies} (--agencies): ${remedy}`;
  }
  const beyond = Object.entries(stored.agencies)
    .filter(([agency, state]) => Number(agency) > agencies && (state.finished || state.next > 0))
    .map(([agency]) => Number(agency))
    .sort((a, b) => a - b);
  if (beyond.length > 0) {
    const most = beyond.at(-1)!;
    return `${dataDir} holds bets from agency ${beyond.join(', ')}, but this server is set for ${agencies} agencies (--agencies): ${remedy.replace('that number of agencies', `--agencies ${most} or more`)}`;
  }
  return undefined;
}

/**
 * Why a lottery kept in a database, made for `stored` agencies, cannot be
 * served with `agencies`, if it cannot: its agency count is stored with it.
 */
export function contradictsStoredAgencies(stored: number, agencies: number, lottery: string): string | undefined {
  if (stored === agencies) return undefined;
  return `lottery ${lottery} in --store was made for ${stored} agencies, but this server is set for ${agencies} (--agencies): start with --agencies ${stored}, or name a new lottery with --lottery`;
}
