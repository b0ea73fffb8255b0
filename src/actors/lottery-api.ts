// What session workers may ask of the Lottery actor: the only methods the
// supervisor exposes to them (see actor-face.ts).
import type { Lottery } from './lottery.ts';

export const LOTTERY_API = ['finish', 'winners', 'withdraw', 'progress'] as const;
/** `progress` is optional for a Session: without it, a held WINNERS sends no WAITING. */
export type LotteryApi = Pick<Lottery, 'finish' | 'winners' | 'withdraw'> & Partial<Pick<Lottery, 'progress'>>;
