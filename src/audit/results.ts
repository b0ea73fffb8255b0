// results.json: the draw's outcome as published, written beside bets.csv at
// the draw, and its detached signature results.json.sig made with the
// results-signing identity (lottery-pki's results.crt/results.key, not the
// server's TLS key). What is signed is the file's bytes exactly as written;
// the signature is ECDSA with SHA-256, DER-encoded, as
//   openssl dgst -sha256 -verify <(openssl x509 -in results.crt -pubkey -noout) -signature results.json.sig results.json
// checks it (docs/storage.md). The chain head in it covers every record,
// the draw's included, so a rewrite of the data dir after the draw no longer
// matches what was signed.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { LedgerReader, Winners } from '../ledger/index.ts';
import { RESULTS_COMMON_NAME } from '../pki/identity.ts';

export const RESULTS_FILE = 'results.json';
export const SIGNATURE_FILE = 'results.json.sig';
/** The signature's digest: what `openssl dgst -sha256` names. */
export const SIGNATURE_HASH = 'sha256';

export type AgencyResult = {
  agency: number;
  /** Offsets the agency used, and bets stored of them. */
  offsets: number;
  bets: number;
  /** finished: its FINISH was checked; closed: sales closed before it finished, with what was stored. */
  state: 'finished' | 'closed';
  /** Upload digest of its stored rows (its FINISH's, when it finished). */
  digest: string;
  firstCommit: string | null;
  lastCommit: string | null;
  winners: string[];
};

export type Results = {
  format: 1;
  agencies: AgencyResult[];
  bets: number;
  winners: number;
  /** The hash chain the draw was made at: the digest of the draw's log line. */
  chain: string;
  /** The chain after the draw's own record: covers everything recorded. */
  head: string;
  closedAt: string | null;
  drawnAt: string;
};

/** The results of a drawn lottery of agencies 1..`agencies`, from its ledger. */
export function buildResults(
  ledger: LedgerReader,
  agencies: number,
  uploadDigest: (agency: number) => string,
  chain: string,
  head: string,
): Results {
  const winners = ledger.winners as Winners;
  const times = ledger.times();
  const list: AgencyResult[] = [];
  for (let agency = 1; agency <= agencies; agency++) {
    const state = ledger.state(agency);
    const commits = times.agencies.get(agency);
    list.push({
      agency,
      offsets: state.next,
      bets: state.stored,
      state: state.finished ? 'finished' : 'closed',
      digest: ledger.finishOf(agency)?.digest ?? uploadDigest(agency),
      firstCommit: commits?.first ?? null,
      lastCommit: commits?.last ?? null,
      winners: winners[agency] ?? [],
    });
  }
  return {
    format: 1,
    agencies: list,
    bets: ledger.bets,
    winners: list.reduce((sum, { winners }) => sum + winners.length, 0),
    chain,
    head,
    closedAt: times.close,
    drawnAt: times.draw ?? '',
  };
}

/** The file's bytes: the results as indented JSON and a final newline. */
export function encodeResults(results: Results): Buffer {
  return Buffer.from(`${JSON.stringify(results, null, 2)}\n`, 'utf8');
}

/** The results-signing identity: its certificate (PEM) and private key. */
export type ResultsSigner = { certificate: string; key: KeyObject };

/** Why a results signer's file is refused: which of the two, and why. */
export class ResultsSignerFileError extends Error {
  readonly file: 'cert' | 'key';
  constructor(file: 'cert' | 'key', message: string) {
    super(message);
    this.file = file;
  }
}

/** Loads the signer from PEM files; throws a ResultsSignerFileError naming the file if either does not read or they do not pair. */
export async function loadResultsSigner(certPath: string, keyPath: string): Promise<ResultsSigner> {
  const read = async <T>(file: 'cert' | 'key', path: string, parse: (text: string) => T): Promise<T> => {
    try {
      return parse(await readFile(path, 'utf8'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A file system code (ENOENT, EACCES) says it; a parser's says less than its message.
      const why =
        code !== undefined && !code.startsWith('ERR_')
          ? code
          : `not a PEM ${file === 'cert' ? 'certificate' : 'private key'} (${(error as Error).message})`;
      throw new ResultsSignerFileError(file, `${path}: ${why}`);
    }
  };
  const [certificate, cert] = await read('cert', certPath, (text) => [text, new X509Certificate(text)] as const);
  const key = await read('key', keyPath, (text) => createPrivateKey(text));
  if (!cert.subject.split('\n').includes(`CN=${RESULTS_COMMON_NAME}`)) {
    throw new ResultsSignerFileError(
      'cert',
      `${certPath} is not the results-signing identity (CN=${RESULTS_COMMON_NAME}; lottery-pki writes it as results.crt)`,
    );
  }
  if (!cert.checkPrivateKey(key)) throw new ResultsSignerFileError('key', `${keyPath} is not the key of the certificate ${certPath}`);
  return { certificate, key };
}

/** The detached signature of `bytes`. */
export function signResults(bytes: Uint8Array, signer: ResultsSigner): Buffer {
  return sign(SIGNATURE_HASH, bytes, signer.key);
}

/** Whether `signature` is `certificate`'s over `bytes`. */
export function verifyResults(bytes: Uint8Array, signature: Uint8Array, certificate: string): boolean {
  return verify(
    SIGNATURE_HASH,
    bytes,
    createPublicKey(new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'pem' })),
    signature,
  );
}

/** Writes results.json (and its signature, and the signing certificate as results.crt, if there is a signer) into `dataDir`, each file whole or not at all. */
/** The files published at the draw, in the order they are written: the signature and its certificate first, results.json last. */
export function resultsFiles(results: Results, signer: ResultsSigner | undefined): Array<{ name: string; data: Uint8Array }> {
  const bytes = encodeResults(results);
  const files: Array<{ name: string; data: Uint8Array }> = [];
  if (signer !== undefined) {
    files.push({ name: SIGNATURE_FILE, data: signResults(bytes, signer) });
    files.push({ name: SIGNER_CERT_FILE, data: Buffer.from(signer.certificate, 'utf8') });
  }
  files.push({ name: RESULTS_FILE, data: bytes });
  return files;
}

export async function writeResults(dataDir: string, results: Results, signer: ResultsSigner | undefined): Promise<void> {
  for (const { name, data } of resultsFiles(results, signer)) {
    const path = join(dataDir, name);
    await writeFile(`${path}.tmp`, data);
    await rename(`${path}.tmp`, path);
  }
}

/** The signing certificate, copied beside the results so that an auditor holding only the data dir and the CA can check them. */
export const SIGNER_CERT_FILE = 'results.crt';
