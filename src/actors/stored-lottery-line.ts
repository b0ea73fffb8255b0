// The one line at start that says which lottery the server serves: a new
// one, one under way, or one already drawn. The store worker logs it from
// what recovery found, before a draw left pending by a restart runs, so the
// line never says `en_curso` after the `sorteo` of that same start.
import { logEvent, type Logger } from '../log/logger.ts';
import type { StoreSnapshot } from './store-api.ts';

/** One line at start that says which lottery is served: a new one, one under way, or one already drawn. */
export function logStoredLottery(log: Logger, snapshot: StoreSnapshot, dataDir: string): void {
  const finished = Object.values(snapshot.agencies).filter((state) => state.finished).length;
  if (snapshot.winners !== null) {
    const winners = Object.values(snapshot.winners).reduce((sum, documents) => sum + documents.length, 0);
    logEvent(log, 'warn', 'loteria', 'success', {
      estado: 'sorteada',
      agencias: Object.keys(snapshot.winners).length,
      apuestas: snapshot.bets,
      cant_ganadores: winners,
      aviso: `the lottery in ${dataDir} was drawn already: agencies are answered its winners and no bets are taken; a new lottery needs an empty --data-dir`,
    });
  } else if (snapshot.bets > 0 || finished > 0) {
    logEvent(log, 'info', 'loteria', 'success', { estado: 'en_curso', apuestas: snapshot.bets, finalizadas: finished, data_dir: dataDir });
  } else {
    logEvent(log, 'info', 'loteria', 'success', { estado: 'nueva', data_dir: dataDir });
  }
}
