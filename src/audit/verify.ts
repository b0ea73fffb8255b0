// lottery-verify's check of a data dir: read-only (nothing is opened for
// writing and no lock is taken, so it is safe while a server runs). It
// replays the journal against bets.csv with the very check recovery makes
// (src/storage/data-replay.ts), recomputes results.json from what it found
// and compares them byte for byte, and, given the CA, checks results.json's
// signature and that its certificate chains to that CA. The first thing
// that differs is reported with where (file, byte or line, commit group).
// What it reads goes through StoredLottery, so another storage engine can
// plug in a reader of its own.
import { X509Certificate } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkFormat, replayDataDir, settleEnds, type ReadBets, type Replayed } from '../storage/data-replay.ts';
import { parseJournal, type JournalRecord } from '../storage/journal.ts';
import { buildResults, encodeResults, RESULTS_FILE, SIGNATURE_FILE, SIGNER_CERT_FILE, verifyResults } from './results.ts';
import { RESULTS_COMMON_NAME } from '../pki/identity.ts';

/** A stored lottery as the verifier reads it: a storage engine's journal records and its bets as bets.csv would lay them out. */
export type StoredLotteryReader = {
  /** Where the data is, for the report. */
  describe: string;
  /** `where` names record i in a report, where the records are not a journal file's bytes. */
  journal(): Promise<{ records: JournalRecord[]; starts: number[]; cut?: string; where?: (index: number) => string }>;
  bets(): Promise<{ read: ReadBets; size: number; close(): Promise<void> }>;
  /** A published file beside the data (results.json, its signature, its certificate), or undefined if absent. */
  published(name: string): Promise<Buffer | undefined>;
  /** The names the report gives the journal and the bets. */
  names: { journal: string; bets: string };
};

/** The data dir's files, read only. */
export function dataDirReader(dataDir: string): StoredLotteryReader {
  const maybe = (path: string) =>
    readFile(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
  return {
    describe: dataDir,
    names: { journal: join(dataDir, 'bets.journal'), bets: join(dataDir, 'bets.csv') },
    async journal() {
      const content = await readFile(join(dataDir, 'bets.journal'));
      const { records, starts, cut } = parseJournal(content);
      return { records, starts, ...(cut === undefined ? {} : { cut }) };
    },
    async bets() {
      const handle = await open(join(dataDir, 'bets.csv'), 'r');
      const { size } = await handle.stat();
      return {
        size,
        read: (buffer, length, position) => handle.read(buffer, 0, length, position).then((r) => r.bytesRead),
        close: () => handle.close(),
      };
    },
    published: (name) => maybe(join(dataDir, name)),
  };
}

export type AgencyReport = {
  agency: number;
  bets: number;
  offsets: number;
  state: 'finished' | 'closed' | 'open';
  winners: number | null;
  firstCommit: string | null;
  lastCommit: string | null;
};

export type VerifyReport = {
  ok: boolean;
  /** The first thing that differs, naming where; absent when everything holds. */
  problem?: string;
  /** What was not checked, and why (no --tls-ca, no draw yet...). */
  notes: string[];
  state: 'open' | 'closed' | 'drawn' | 'unknown';
  agencies: AgencyReport[];
  bets: number;
  groups: number;
  /** The digest of the draw's log line: the chain the draw was made at (or, undrawn, the chain so far). */
  chain: string | null;
  head: string | null;
  closedAt: string | null;
  drawnAt: string | null;
  signature: 'verified' | 'unsigned' | 'not checked';
};

/** Checks a stored lottery; `ca`: the PEM of the CA results.crt must chain to (checks the signature). */
export async function verifyStoredLottery(reader: StoredLotteryReader, ca?: string): Promise<VerifyReport> {
  const report: VerifyReport = {
    ok: false,
    notes: [],
    state: 'unknown',
    agencies: [],
    bets: 0,
    groups: 0,
    chain: null,
    head: null,
    closedAt: null,
    drawnAt: null,
    signature: 'not checked',
  };
  const fail = (problem: string) => ({ ...report, ok: false, problem });
  // bets.csv's size before the journal: a running server writes each
  // commit record before its bets, so every byte counted here has its
  // record in the journal read after (see settleEnds).
  const bets = await reader.bets().catch((error: Error) => error);
  if (bets instanceof Error) return fail(`${reader.names.bets}: ${bets.message}`);
  let replayed: Replayed;
  try {
    let journal;
    try {
      journal = await reader.journal();
    } catch (error) {
      return fail(`${reader.names.journal}: ${(error as Error).message}`);
    }
    if (journal.cut !== undefined)
      return fail(`${reader.names.journal}: ${journal.cut} at its end (a server writing it at this instant: run again)`);
    checkFormat(journal.records);
    const settled = settleEnds(journal.records, journal.starts, bets.size, reader.names.bets, false);
    if (settled.dropped !== undefined)
      report.notes.push(
        `${reader.names.journal}: ${settled.dropped}, not checked: a server writing it at this instant, or one stopped by a crash, which cuts it at start`,
      );
    replayed = await replayDataDir(settled.records, settled.starts, bets.read, reader.names.bets, journal.where);
  } catch (error) {
    return fail((error as Error).message);
  } finally {
    await bets.close();
  }
  const { ledger } = replayed;
  const times = ledger.times();
  report.groups = replayed.groups;
  report.bets = ledger.bets;
  report.closedAt = times.close;
  report.drawnAt = times.draw;
  report.state = ledger.drawn ? 'drawn' : ledger.closedAt !== null ? 'closed' : 'open';
  report.chain = replayed.drawChain ?? replayed.chain;
  report.head = replayed.chain;
  const count = ledger.winners !== null ? Object.keys(ledger.winners).length : Math.max(0, ...ledger.agencies().keys());
  for (let agency = 1; agency <= count; agency++) {
    const state = ledger.state(agency);
    const commits = times.agencies.get(agency);
    report.agencies.push({
      agency,
      bets: state.stored,
      offsets: state.next,
      state: state.finished ? 'finished' : ledger.closedAt !== null ? 'closed' : 'open',
      winners: ledger.winners === null ? null : (ledger.winners[agency] ?? []).length,
      firstCommit: commits?.first ?? null,
      lastCommit: commits?.last ?? null,
    });
  }
  if (!ledger.drawn) {
    report.notes.push('no draw yet: results.json is not checked');
    return { ...report, ok: true };
  }
  const written = await reader.published(RESULTS_FILE);
  if (written === undefined) return fail(`${RESULTS_FILE} is missing beside a drawn lottery`);
  const expected = encodeResults(
    buildResults(ledger, count, (agency) => replayed.digests.get(agency)?.hex() ?? emptyDigest, replayed.drawChain!, replayed.chain),
  );
  if (!written.equals(expected))
    return fail(`${RESULTS_FILE} ${firstLineDiffering(written, expected)} differs from the results recomputed from the journal and bets`);
  const signature = await reader.published(SIGNATURE_FILE);
  if (signature === undefined) {
    report.signature = 'unsigned';
    report.notes.push(`${RESULTS_FILE} is not signed (the server ran without --results-cert)`);
    return ca === undefined
      ? { ...report, ok: true }
      : fail(`${SIGNATURE_FILE} is missing, and --tls-ca asks for the signature to be checked`);
  }
  if (ca === undefined) {
    report.notes.push(`${SIGNATURE_FILE} not checked: give --tls-ca to check it against the CA`);
    return { ...report, ok: true };
  }
  const certificate = await reader.published(SIGNER_CERT_FILE);
  if (certificate === undefined) return fail(`${SIGNER_CERT_FILE}, the certificate that signed ${RESULTS_FILE}, is missing`);
  const chained = chainsTo(certificate.toString('utf8'), ca);
  if (chained !== undefined) return fail(`${SIGNER_CERT_FILE}: ${chained}`);
  if (!verifyResults(written, signature, certificate.toString('utf8'))) {
    return fail(
      `${SIGNATURE_FILE} is not a signature of ${RESULTS_FILE} by ${SIGNER_CERT_FILE}: the results were changed after they were signed, or signed by another key`,
    );
  }
  report.signature = 'verified';
  return { ...report, ok: true };
}

const emptyDigest = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Why `pem` is not a results-signing certificate issued by the CA `caPem`, or undefined if it is. */
function chainsTo(pem: string, caPem: string): string | undefined {
  let cert;
  let ca;
  try {
    cert = new X509Certificate(pem);
    ca = new X509Certificate(caPem);
  } catch (error) {
    return `not a readable certificate: ${(error as Error).message}`;
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return 'not issued by the CA given with --tls-ca';
  if (!cert.subject.split('\n').includes(`CN=${RESULTS_COMMON_NAME}`))
    return `its subject is ${cert.subject.replaceAll('\n', ', ')}, not the results-signing identity (CN=${RESULTS_COMMON_NAME})`;
  return undefined;
}

/** Where two texts first differ, as "line N". */
function firstLineDiffering(a: Buffer, b: Buffer): string {
  const left = a.toString('utf8').split('\n');
  const right = b.toString('utf8').split('\n');
  for (let i = 0; i < Math.max(left.length, right.length); i++) if (left[i] !== right[i]) return `line ${i + 1}`;
  return 'line 1';
}

/** The report as a short text for people. */
export function formatReport(report: VerifyReport): string {
  const lines: string[] = [];
  lines.push(`lottery: ${report.state}, ${report.bets} bets in ${report.groups} commit groups`);
  for (const a of report.agencies) {
    const winners = a.winners === null ? '' : `, ${a.winners} winners`;
    const when = a.firstCommit === null ? '' : `, commits ${a.firstCommit} to ${a.lastCommit}`;
    lines.push(`  agency ${a.agency}: ${a.bets} bets of ${a.offsets} offsets, ${a.state}${winners}${when}`);
  }
  if (report.closedAt !== null) lines.push(`sales closed: ${report.closedAt}`);
  if (report.drawnAt !== null) lines.push(`drawn: ${report.drawnAt}`);
  if (report.chain !== null) lines.push(`digest: ${report.chain}`);
  if (report.head !== null && report.head !== report.chain) lines.push(`chain head: ${report.head}`);
  lines.push(`signature: ${report.signature}`);
  for (const note of report.notes) lines.push(`note: ${note}`);
  lines.push(report.ok ? 'OK: everything holds' : `FAILED: ${report.problem}`);
  return `${lines.join('\n')}\n`;
}
