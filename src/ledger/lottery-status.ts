// The lottery's state as an operator sees it: which agencies are absent,
// uploading, finished or closed, how many bets each has stored, how fast bets
// arrive, and where the draw stands. One pure model, built on the store
// worker from the ledger, the agencies with a live connection and the
// draw; /status.json, the status page, the metrics and `lottery-admin
// status` all show it. Nothing in it names a bettor: counts, ids, digests.

/**
 * An agency's state. Adding one is a line here and a rule in phaseOf();
 * every reader lists the states from this table.
 */
export const AgencyPhase = {
  /** Not finished, and no live connection: the lottery waits for it. */
  ABSENT: 'absent',
  /** Not finished, connected now. */
  UPLOADING: 'uploading',
  /** Its FINISH is recorded. */
  FINISHED: 'finished',
  /** Not finished when sales closed: drawn with what it had stored. */
  CLOSED: 'closed',
} as const;
export type AgencyPhase = (typeof AgencyPhase)[keyof typeof AgencyPhase];
export const AGENCY_PHASES: readonly AgencyPhase[] = Object.values(AgencyPhase);

/** Per-agency detail is given for at most this many agencies (the first ids), so that a poll stays small. */
export const DETAIL_LIMIT = 1000;
/** The ids not finished are listed up to this many (the first ids); the counts are always whole. */
export const WAITING_LIMIT = 10_000;
/** Bets per second are over the samples of this many last milliseconds. */
export const RATE_WINDOW_MS = 5000;

export type AgencyDetail = { agency: number; state: AgencyPhase; stored: number; finished: boolean; winners?: number };

export type LotteryStatus = {
  /** Agencies 1..agencies make the lottery. */
  agencies: number;
  /** How many agencies are in each state; they sum to `agencies`. */
  counts: Record<AgencyPhase, number>;
  /** The ids not finished, ascending, by state (at most WAITING_LIMIT in all): who the draw waits for. */
  waiting: { absent: number[]; uploading: number[]; more: number };
  /** Each agency's detail, for agencies 1..DETAIL_LIMIT; `detailComplete` says whether that is every agency. */
  detail: AgencyDetail[];
  detailComplete: boolean;
  /** Bets stored over all agencies. */
  bets: number;
  /** Bets stored per second over the last few seconds. */
  betsPerSecond: number;
  /** `digest`: the hash chain the draw was made at (the `sorteo` line's); `winners`: how many in all. */
  draw: { state: 'waiting' | 'drawn'; digest?: string; winners?: number };
  /** When sales closed (ISO 8601), or null while they are open. */
  closedAt: string | null;
  /** A plain-text answer to "who are we waiting for?". */
  waitingFor: string;
};

/** What the model is built from: the ledger's agencies, who is connected, the draw. */
export type StatusInput = {
  agencies: number;
  states: ReadonlyMap<number, { stored: number; finished: boolean }>;
  connected: ReadonlySet<number>;
  bets: number;
  betsPerSecond: number;
  /** Winner documents per agency, once drawn; only their counts reach the status. */
  winners: Readonly<Record<string, readonly string[]>> | null;
  drawDigest: string | null;
  /** When sales closed, if they have. */
  closedAt?: string | null;
};

export function phaseOf(finished: boolean, connected: boolean, salesClosed = false): AgencyPhase {
  if (finished) return AgencyPhase.FINISHED;
  if (salesClosed) return AgencyPhase.CLOSED;
  return connected ? AgencyPhase.UPLOADING : AgencyPhase.ABSENT;
}

export function lotteryStatus(input: StatusInput): LotteryStatus {
  const counts = Object.fromEntries(AGENCY_PHASES.map((phase) => [phase, 0])) as Record<AgencyPhase, number>;
  const waiting = { absent: [] as number[], uploading: [] as number[], more: 0 };
  const detail: AgencyDetail[] = [];
  const closedAt = input.closedAt ?? null;
  for (let agency = 1; agency <= input.agencies; agency++) {
    const { stored = 0, finished = false } = input.states.get(agency) ?? {};
    const state = phaseOf(finished, input.connected.has(agency), closedAt !== null);
    counts[state]++;
    if (state === AgencyPhase.ABSENT || state === AgencyPhase.UPLOADING) {
      if (waiting.absent.length + waiting.uploading.length < WAITING_LIMIT) waiting[state].push(agency);
      else waiting.more++;
    }
    if (agency <= DETAIL_LIMIT) {
      const winners = input.winners?.[agency]?.length;
      detail.push({ agency, state, stored, finished, ...(input.winners === null ? {} : { winners: winners ?? 0 }) });
    }
  }
  const draw: LotteryStatus['draw'] =
    input.winners === null
      ? { state: 'waiting' }
      : {
          state: 'drawn',
          ...(input.drawDigest === null ? {} : { digest: input.drawDigest }),
          winners: Object.values(input.winners).reduce((sum, documents) => sum + documents.length, 0),
        };
  const status: Omit<LotteryStatus, 'waitingFor'> = {
    agencies: input.agencies,
    counts,
    waiting,
    detail,
    detailComplete: input.agencies <= DETAIL_LIMIT,
    bets: input.bets,
    betsPerSecond: input.betsPerSecond,
    draw,
    closedAt,
  };
  return { ...status, waitingFor: waitingSentence(status) };
}

/** A plain-text answer to "who are we waiting for?". */
export function waitingSentence(status: Omit<LotteryStatus, 'waitingFor'>): string {
  if (status.draw.state === 'drawn') return 'Nobody: the draw is done.';
  const { absent, uploading, more } = status.waiting;
  if (status.closedAt !== null) return `Nobody: sales closed at ${status.closedAt}; the draw is under way.`;
  if (absent.length + uploading.length === 0) return 'Nobody: every agency has finished; the draw is under way.';
  const parts: string[] = [];
  if (uploading.length > 0) parts.push(`${describeIds(uploading)} still uploading`);
  if (absent.length > 0) parts.push(`${describeIds(absent)} not connected`);
  const rest = more > 0 ? `, and ${more} more` : '';
  const notFinished = status.agencies - status.counts.finished;
  return `Waiting for ${notFinished} of ${status.agencies} ${status.agencies === 1 ? 'agency' : 'agencies'}: ${parts.join('; ')}${rest}.`;
}

function describeIds(ids: readonly number[]): string {
  const shown = ids.slice(0, 20).join(', ');
  const word = ids.length === 1 ? 'agency' : 'agencies';
  return ids.length > 20 ? `${word} ${shown} … (${ids.length})` : `${word} ${shown}`;
}

/**
 * Bets per second from samples of the bets stored: the rise over the
 * samples of the last RATE_WINDOW_MS, kept in a small ring. Pure but for
 * the samples given to it.
 */
export class BetRate {
  readonly #samples: Array<{ at: number; bets: number }> = [];

  sample(at: number, bets: number): number {
    this.#samples.push({ at, bets });
    // Keep one sample older than the window, as the window's start.
    while (this.#samples.length > 2 && this.#samples[1].at <= at - RATE_WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0];
    const seconds = (at - first.at) / 1000;
    return seconds <= 0 ? 0 : Math.max(0, (bets - first.bets) / seconds);
  }
}
