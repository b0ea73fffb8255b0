// The agency: uploads its bets file to the server, says it has finished and
// asks for its winners. It keeps a few batches in flight, and after any
// connection loss it reconnects with backoff and resumes from the offset the
// server's WELCOME gives, so every bet is stored exactly once.

import { setTimeout as sleep } from 'node:timers/promises';
import { logEvent, type Logger } from '../log/logger.ts';
import { Backoff } from '../timing/backoff.ts';
import type { Message, WireBet } from '../wire/messages.ts';
import { betsOfCanonicalLines, encodeCanonicalLines } from '../bets/canonical-bet.ts';
import { UploadDigest } from '../bets/upload-digest.ts';
import { Batcher, type BetsBatch } from './batcher.ts';
import { checkDataFile, fieldsAsSent, keptBetRows, readBetRows, type BetRow } from './bet-source.ts';
import { ServerConnection, TLS_HANDSHAKE_WAIT_MS } from './server-connection.ts';
import type { ClientTlsFiles } from '../transport/client-tls.ts';
import { AgencyError, ClientFailure, ConnectionError, CsvSyntaxError, ErrorCode, TlsFailure } from '../errors.ts';

export type AgencyOptions = {
  id: number;
  host: string;
  port: number;
  /** Other front-ends of the same lottery: after a failure the agency moves to the next, host:port first. */
  others?: ReadonlyArray<{ host: string; port: number }>;
  dataFile: string;
  /** The file's rows as its check read them (checkBetFile's `rows`): sent from, instead of reading the file again. */
  rows?: readonly BetRow[];
  /** The file's batches from offset 0 on, made from its bytes for batchMaxAmount (checkBetFile's `plain`): sent as they are. */
  batches?: readonly BetsBatch[];
  batchMaxAmount: number;
  winnersTimeoutMs: number;
  /** How long the server may leave a HELLO, batch, FINISH or PING unanswered: past that the connection counts as lost. */
  replyTimeoutMs: number;
  retryTimeoutMs: number;
  /** The CA, certificate and key for mutual TLS; plaintext without. */
  tls?: ClientTlsFiles;
  log: Logger;
  signal?: AbortSignal;
  /** Told each step, for a person watching: an agency that has it asks the server for WAITING, unless `progress` says otherwise. */
  onStatus?: (status: AgencyStatus) => void;
  /** Whether to ask the server for WAITING while it holds the winners; by default, whether onStatus is given. */
  progress?: boolean;
};

/** Where the agency is, as a progress display shows it. */
export type AgencyStatus =
  | { phase: 'uploading'; acknowledged: number }
  | { phase: 'finished'; total: number }
  | { phase: 'waiting'; finished: number; agencies: number }
  | { phase: 'retrying'; inMs: number; error: string };

export type AgencyResult = { winners: string[]; sent: number; stored: number; refused: number; badRows: number };

/** The upload digest of no stored bet: SHA-256 of nothing. */
const EMPTY_DIGEST = new UploadDigest().hex();

/** Batches sent and not yet acknowledged, at most. */
const WINDOW = 8;
/** Reconnecting waits 50–100 ms at first, doubling up to 2.5–5 s. */
const RECONNECT_BACKOFF = { firstMs: 100, maxMs: 5000, jitter: true } as const;

/** Errors that another try would only repeat. */
const FATAL_CODES = new Set<string>([
  ErrorCode.UNKNOWN_AGENCY,
  ErrorCode.TOTAL_MISMATCH,
  ErrorCode.DIGEST_MISMATCH,
  ErrorCode.AGENCY_FINISHED,
  ErrorCode.DRAW_DONE,
  ErrorCode.SALES_CLOSED,
  // Only another process's connection replaces this one: this agency never holds two.
  ErrorCode.REPLACED,
  ErrorCode.BAD_FRAME,
  ErrorCode.BAD_MESSAGE,
  ErrorCode.UNEXPECTED_MESSAGE,
  ErrorCode.UNAUTHORIZED,
  ErrorCode.TLS_REQUIRED,
  ...Object.values(TlsFailure),
]);

/** Failures to reach or keep the server, as opposed to the server answering ERROR. */
const UNREACHED_CODES = new Set<string>([
  ClientFailure.CONNECT_FAILED,
  ClientFailure.HOST_NOT_FOUND,
  ClientFailure.CONNECT_TIMEOUT,
  ClientFailure.CONNECTION_LOST,
  ClientFailure.TIMEOUT,
]);

export class Agency {
  readonly #options: AgencyOptions;
  readonly #log: Logger;
  #connection: ServerConnection | undefined;
  /** Bad rows are reported once, even when the file is read again after a reconnect. */
  #badRowsReportedTo = 0;
  #badRows = 0;
  #refused = 0;
  #sent = 0;
  /** Offsets of rows sent alone because this agency refused them: already logged, by line. */
  readonly #doubted = new Set<number>();
  /** The upload digest of the rows up to #digestedTo (see #catchUpDigest). */
  #digest = new UploadDigest();
  #digestedTo = 0;
  /** Set when WINNERS is first asked; holds across reconnects. */
  #winnersDeadline: number | undefined;
  /**
   * Whether the connection now ending did any good: the server acknowledged
   * bets or the FINISH, answered winners, or held the WINNERS request until
   * the connection was lost. Only that restarts the --retry-timeout clock: a
   * server that answers WELCOME and then fails every request (a full disk)
   * is not progress, and the agency must give up on it in time.
   */
  #progressed = false;

  /** The front-ends in the order tried, and the count of failures that moved on from one to the next. */
  get #servers(): ReadonlyArray<{ host: string; port: number }> {
    return [{ host: this.#options.host, port: this.#options.port }, ...(this.#options.others ?? [])];
  }
  #turn = 0;

  get #server(): { host: string; port: number } {
    const servers = this.#servers;
    return servers[this.#turn % servers.length];
  }

  constructor(options: AgencyOptions) {
    this.#options = options;
    this.#log = options.log;
  }

  async run(): Promise<AgencyResult> {
    const { signal, retryTimeoutMs } = this.#options;
    let failingSince: number | undefined;
    const backoff = new Backoff(RECONNECT_BACKOFF);
    // Before any connection: a missing file must not wait for the server to say so.
    await checkDataFile(this.#options.dataFile);
    while (true) {
      signal?.throwIfAborted();
      try {
        return await this.#session();
      } catch (error) {
        this.#connection?.close();
        this.#connection = undefined;
        if (signal?.aborted) throw signal.reason;
        if (!(error instanceof ConnectionError) || FATAL_CODES.has(error.code)) throw error;
        if (this.#progressed) {
          failingSince = undefined;
          backoff.reset();
          this.#progressed = false;
        }
        failingSince ??= Date.now();
        const waited = Date.now() - failingSince;
        if (waited >= retryTimeoutMs) {
          const seconds = Math.round(waited / 1000);
          throw new AgencyError(
            error.code === ClientFailure.HOST_NOT_FOUND
              ? `gave up after ${seconds} s: ${error.message} all that time; check the host in --server`
              : UNREACHED_CODES.has(error.code)
                ? `gave up after ${seconds} s without the server: ${error.message}`
                : `gave up after ${seconds} s: the server kept failing: ${error.message}`,
          );
        }
        const delay = backoff.next();
        const failed = this.#server;
        this.#turn++;
        logEvent(this.#log, 'warn', 'conexion', 'fail', {
          code: error.code,
          error: error.message,
          reintento_ms: Math.round(delay),
          ...(this.#servers.length > 1
            ? { servidor: `${failed.host}:${failed.port}`, siguiente: `${this.#server.host}:${this.#server.port}` }
            : {}),
        });
        this.#options.onStatus?.({ phase: 'retrying', inMs: Math.round(delay), error: error.message });
        await sleep(Math.min(delay, retryTimeoutMs - waited), undefined, { signal });
      }
    }
  }

  /** Closes the connection at once (used on SIGTERM). */
  close(): void {
    this.#connection?.close();
  }

  /** One connection's worth of work: resume, finish, ask the winners. */
  async #session(): Promise<AgencyResult> {
    const { id } = this.#options;
    const { host, port } = this.#server;
    // A single server is waited for in its line for a handshake turn (see server-connection.ts). Given others,
    // a front-end that takes the connection and never starts the handshake, frozen or busy, is left for the
    // next after the reply timeout: another can serve at once.
    const handshakeWaitMs = this.#servers.length > 1 ? Math.min(this.#options.replyTimeoutMs, TLS_HANDSHAKE_WAIT_MS) : undefined;
    const connection = await ServerConnection.connect(host, port, undefined, this.#options.tls, handshakeWaitMs);
    this.#connection = connection;
    const { onStatus } = this.#options;
    const progress = this.#options.progress ?? onStatus !== undefined;
    await connection.send({ type: 'HELLO', agency: id, ...(progress ? { progress: true } : {}) });
    const welcome = expect(await this.#reply(connection), 'WELCOME');
    logEvent(this.#log, 'info', 'conexion', 'success', { offset: welcome.offset, finalizada: welcome.finished, sorteo: welcome.drawn });
    let total = welcome.offset;
    if (welcome.finished) {
      await this.#checkFinished(welcome);
    } else {
      if (welcome.closedAt !== undefined) {
        throw new AgencyError(
          `sales closed at ${welcome.closedAt}: ${welcome.stored ?? 0} of this agency's bets were stored before it, and are in the draw`,
        );
      }
      if (welcome.drawn) throw new AgencyError('the draw took place without this agency: its bets can no longer be taken');
      await this.#catchUpDigest(welcome.offset);
      onStatus?.({ phase: 'uploading', acknowledged: welcome.offset });
      total = await this.#upload(connection, welcome.offset);
      await connection.send({ type: 'FINISH', total, digest: this.#digest.hex() });
      const ack = expect(await this.#reply(connection), 'ACK');
      if (ack.offset !== total) throw new AgencyError(`the server recorded ${ack.offset} bets at FINISH, the agency sent ${total}`);
      this.#progressed = true;
      onStatus?.({ phase: 'finished', total });
      logEvent(this.#log, 'info', 'finalizar', 'success', {
        total,
        enviadas: this.#sent,
        rechazadas: this.#refused,
        filas_invalidas: this.#badRows,
      });
    }
    await connection.send({ type: 'WINNERS' });
    const winners = await this.#receiveWinners(connection);
    logEvent(this.#log, 'info', 'consulta_ganadores', 'success', { cant_ganadores: winners.length });
    connection.close();
    return { winners, sent: this.#sent, stored: total - this.#refused, refused: this.#refused, badRows: this.#badRows };
  }

  /**
   * The upload digest (see FINISH in src/wire/messages.ts) covers the rows
   * of every batch up to the server's offset but those it refused. Rows the
   * server took without this run seeing its answer (a connection lost before
   * the ACK, or a previous run of the agency) are taken from the file: a row
   * that is a bet here as stored, one this agency refuses as refused (the
   * server checks with the same rules). If the server decided otherwise,
   * FINISH says so with DIGEST_MISMATCH rather than let the agency believe
   * its rows are all there.
   */
  async #catchUpDigest(upTo: number): Promise<void> {
    if (upTo < this.#digestedTo) {
      // The server holds fewer rows than it acknowledged to this run: start over, and let FINISH tell.
      this.#digest = new UploadDigest();
      this.#digestedTo = 0;
    }
    if (upTo === this.#digestedTo) return;
    // The prepared batches' canonical lines, as far as they go whole; the file for the rest.
    for (const batch of this.#options.batches ?? []) {
      if (batch.offset < this.#digestedTo) continue;
      if (batch.offset !== this.#digestedTo || batch.offset + batch.count > upTo) break;
      this.#digest.add(batch.canonical!, batch.count);
      this.#digestedTo += batch.count;
    }
    if (upTo === this.#digestedTo) return;
    for await (const chunk of readBetRows(this.#options.dataFile, { skip: this.#digestedTo })) {
      for (const row of chunk) {
        if (this.#digestedTo >= upTo) return;
        if (row.bet !== undefined) this.#digest.add(encodeCanonicalLines(this.#options.id, [row.bet]), 1);
        this.#digestedTo++;
      }
    }
  }

  /**
   * WELCOME says this agency has finished: the server holds the rows of the
   * file its FINISH was checked against. Going on to the winners is right
   * only if that file is this one.
   */
  async #checkFinished({ total, digest }: { total?: number; digest?: string }): Promise<void> {
    await this.#catchUpDigest(Number.POSITIVE_INFINITY);
    const own = { total: this.#digestedTo, digest: this.#digest.hex() };
    if (total === own.total && digest === own.digest) return;
    const stored = digest === EMPTY_DIGEST ? '0 bets stored' : `its stored bets' digest ${digest ?? '?'}`;
    throw new AgencyError(
      `this agency has already finished in this lottery: the server took ${total ?? '?'} rows from it (${stored}), ` +
        `but ${this.#options.dataFile} has ${own.total} rows (digest ${own.digest}): it is not the file that was uploaded ` +
        '(a digest is the SHA-256 of the bets stored, see docs/protocol.md). A new lottery needs a new data dir on the server',
    );
  }

  /**
   * Sends every row from `offset` on; resolves with the total once all are
   * acknowledged. A row this agency refuses still has its offset: it goes in
   * a batch of its own, so that the server's verdict on it takes no other bet
   * with it, and the numbering stays the file's.
   */
  async #upload(connection: ServerConnection, offset: number): Promise<number> {
    const { dataFile, batchMaxAmount, signal } = this.#options;
    const inFlight: BetsBatch[] = [];
    const settle = async () => this.#settle(inFlight, await this.#reply(connection));
    const send = async (batch: BetsBatch) => {
      while (inFlight.length >= WINDOW) await settle();
      signal?.throwIfAborted();
      await connection.sendFrame(batch.frame);
      inFlight.push(batch);
      // A row this agency refused goes alone for the server's verdict: it was reported as invalid, not as a bet sent.
      if (this.#log.isLevelEnabled('debug') && !this.#doubted.has(batch.offset)) {
        for (const bet of batch.canonical === undefined ? batch.bets : betsOfCanonicalLines(batch.canonical))
          logEvent(this.#log, 'debug', 'apuesta_enviada', 'success', { dni: bet[2], numero: bet[4] });
      }
      this.#sent += batch.count;
    };
    const prepared = this.#options.batches;
    const first = prepared?.findIndex((batch) => batch.offset === offset) ?? -1;
    if (prepared !== undefined && first >= 0) {
      for (let i = first; i < prepared.length; i++) await send(prepared[i]);
      while (inFlight.length > 0) await settle();
      const last = prepared.at(-1)!;
      return last.offset + last.count;
    }
    const batcher = new Batcher(batchMaxAmount, offset);
    const kept = this.#options.rows;
    const rows = kept === undefined ? readBetRows(dataFile, { skip: offset }) : keptBetRows(kept, offset);
    try {
      for await (const chunk of rows) {
        for (const row of chunk) {
          if (row.bet !== undefined) {
            const full = batcher.add(row.bet);
            if (full !== undefined) await send(full);
            continue;
          }
          if (row.line > this.#badRowsReportedTo) {
            this.#badRowsReportedTo = row.line;
            this.#badRows++;
            logEvent(this.#log, 'warn', 'leer_apuesta', 'fail', { linea: row.line, error: row.invalid });
          }
          this.#doubted.add(row.offset);
          for (const batch of batcher.alone(fieldsAsSent(row.fields))) await send(batch);
        }
      }
    } catch (error) {
      if (!(error instanceof CsvSyntaxError)) throw error;
      // What was read before the error is the agency's to deliver; then it stops, unfinished.
      const last = batcher.flush();
      if (last !== undefined) await send(last);
      while (inFlight.length > 0) await settle();
      const sent = batcher.nextOffset;
      throw new AgencyError(
        `the bets file ${dataFile} cannot be read at line ${error.line} (${error.message.replace(/^line \d+: /, '')}): ` +
          `the ${sent} rows before it were sent and acknowledged, the agency stopped there and did not finish`,
      );
    }
    const last = batcher.flush();
    if (last !== undefined) await send(last);
    while (inFlight.length > 0) await settle();
    return batcher.nextOffset;
  }

  /** Applies one answer to the batches in flight. */
  #settle(inFlight: BetsBatch[], message: Message): void {
    if (message.type === 'ACK') {
      this.#progressed = true;
      this.#options.onStatus?.({ phase: 'uploading', acknowledged: message.offset });
      while (inFlight.length > 0 && inFlight[0].offset + inFlight[0].count <= message.offset) this.#digestBatch(inFlight.shift()!, true);
      return;
    }
    if (message.type === 'ERROR' && message.code === ErrorCode.INVALID_BET && message.offset !== undefined) {
      // The server refused the batch as a whole; its offsets are used up and the upload goes on.
      this.#progressed = true;
      const index = inFlight.findIndex((batch) => batch.offset === message.offset);
      const batch = index >= 0 ? inFlight.splice(index, 1)[0] : undefined;
      if (batch !== undefined) this.#digestBatch(batch, false);
      this.#refused += batch?.count ?? 0;
      if (this.#doubted.has(message.offset)) return;
      logEvent(this.#log, 'warn', 'apuesta_enviada', 'fail', {
        cantidad: batch?.count ?? 0,
        offset: message.offset,
        error: message.message,
      });
      return;
    }
    throw unexpected(message, 'ACK');
  }

  /**
   * A batch the server answered: its rows go into the digest if it stored
   * them. Answers come in offset order. A stored batch only ever holds bets
   * this agency checked (a refused row goes alone), so its bets are WireBets.
   */
  #digestBatch(batch: BetsBatch, stored: boolean): void {
    if (batch.offset + batch.count <= this.#digestedTo) return;
    if (batch.offset !== this.#digestedTo)
      throw new AgencyError(`the server answered the batch at offset ${batch.offset} before the one at ${this.#digestedTo}`);
    if (stored) this.#digest.add(batch.canonical ?? encodeCanonicalLines(this.#options.id, batch.bets as WireBet[]), batch.count);
    this.#digestedTo = batch.offset + batch.count;
  }

  /**
   * The server's answer to a request it answers at once (HELLO, a batch, FINISH).
   * A server that took the connection and then says nothing, not even the
   * end of the connection, is a machine gone without a word (power lost, a
   * network cut off): its TCP connection would wait for minutes. Past
   * --reply-timeout it counts as lost, and the agency tries again, on the
   * next front-end if it has several.
   */
  async #reply(connection: ServerConnection): Promise<Message> {
    try {
      return await connection.receive(this.#options.replyTimeoutMs);
    } catch (error) {
      if (error instanceof ConnectionError && error.code === ClientFailure.TIMEOUT) throw this.#silent('answer');
      throw error;
    }
  }

  #silent(what: string): ConnectionError {
    const { host, port } = this.#server;
    return new ConnectionError(
      ClientFailure.TIMEOUT,
      `no ${what} from ${host}:${port} within ${this.#options.replyTimeoutMs / 1000} s (--reply-timeout): the connection is taken as lost`,
    );
  }

  /**
   * The winners, once the draw has taken place: the server holds the
   * request until then, up to --winners-timeout from the first time it was
   * asked. Held, the connection may be silent for long; after half the
   * reply timeout of silence the agency PINGs, which a live server answers
   * at once, and one that leaves the PING unanswered for the whole reply
   * timeout is taken as gone, as in #reply.
   */
  async #receiveWinners(connection: ServerConnection): Promise<string[]> {
    const deadline = (this.#winnersDeadline ??= Date.now() + this.#options.winnersTimeoutMs);
    const gaveUp = () => new AgencyError(`no winners within ${this.#options.winnersTimeoutMs / 1000} s: the draw has not taken place`);
    const { replyTimeoutMs } = this.#options;
    const winners: string[] = [];
    /** When the PING now unanswered was sent. */
    let pingedAt: number | undefined;
    while (true) {
      const now = Date.now();
      const left = deadline - now;
      if (left <= 0) throw gaveUp();
      const silence = pingedAt === undefined ? replyTimeoutMs / 2 : pingedAt + replyTimeoutMs - now;
      let message: Message;
      try {
        message = await connection.receive(Math.max(0, Math.min(left, silence)));
      } catch (error) {
        if (error instanceof ConnectionError && error.code === ClientFailure.TIMEOUT) {
          if (Date.now() >= deadline) throw gaveUp();
          if (pingedAt !== undefined) throw this.#silent('answer to PING, while it held the winners request,');
          // Not awaited: a connection that failed says so at the next receive, and one whose server stops
          // reading (the PING never leaving) is silent like any other, within the reply timeout.
          void connection.send({ type: 'PING' }).catch(() => undefined);
          pingedAt = Date.now();
          continue;
        }
        // The server held the request until the connection was lost or it stopped: it was working.
        if (error instanceof ConnectionError && (error.code === ClientFailure.CONNECTION_LOST || error.code === ErrorCode.SERVER_STOPPING))
          this.#progressed = true;
        throw error;
      }
      // Whatever the server says shows it is there.
      pingedAt = undefined;
      if (message.type === 'PONG') continue;
      if (message.type === 'WAITING') {
        this.#options.onStatus?.({ phase: 'waiting', finished: message.finished, agencies: message.agencies });
        continue;
      }
      if (message.type === 'ERROR' && message.code === ErrorCode.SERVER_STOPPING) this.#progressed = true;
      const result = expect(message, 'RESULT');
      this.#progressed = true;
      winners.push(...result.documents);
      if (result.last) return winners;
    }
  }
}

function expect<T extends Message['type']>(message: Message, type: T): Extract<Message, { type: T }> {
  if (message.type !== type) throw unexpected(message, type);
  return message as Extract<Message, { type: T }>;
}

function unexpected(message: Message, wanted: string): Error {
  if (message.type === 'ERROR') return new ConnectionError(message.code, `the server answered ${message.code}: ${message.message}`);
  return new ConnectionError(ErrorCode.UNEXPECTED_MESSAGE, `expected ${wanted} from the server, got ${message.type}`);
}
