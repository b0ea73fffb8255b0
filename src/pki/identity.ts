// Who a certificate speaks for. lottery-pki writes the identity as the
// certificate's common name; the server's session reads it back from the
// verified peer certificate, and nothing the peer sends can change it.

export const SERVER_COMMON_NAME = 'lottery-server';
export const MONITOR_COMMON_NAME = 'monitor';
export const CA_COMMON_NAME = 'Loteria Nacional CA';
/** The results-signing identity: signs results.json, and is no identity on the wire (it names neither an agency nor the monitor). */
export const RESULTS_COMMON_NAME = 'lottery-results';

export type Identity = { kind: 'agency'; agency: number } | { kind: 'monitor' };

export const agencyCommonName = (agency: number): string => `agency-${agency}`;

/** The identity a client certificate's common name gives, or undefined for a name that is neither. */
export function identityFromCommonName(commonName: string | undefined): Identity | undefined {
  if (commonName === MONITOR_COMMON_NAME) return { kind: 'monitor' };
  const match = /^agency-([1-9]\d{0,8})$/.exec(commonName ?? '');
  return match === null ? undefined : { kind: 'agency', agency: Number(match[1]) };
}

export function describeIdentity(identity: Identity): string {
  return identity.kind === 'monitor' ? MONITOR_COMMON_NAME : agencyCommonName(identity.agency);
}
