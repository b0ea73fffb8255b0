// The --store URL: a PostgreSQL connection URL as libpq reads it, several
// hosts included. Its password must never reach a log line, so what is
// shown of it is always masked here.

/** Whether `value` is a PostgreSQL URL (postgres:// or postgresql://). */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\/[^\s]*$/.test(value);
}

/** `url` with its password, if any, shown as ***: for the config line and every message. */
export function maskedStoreUrl(url: string): string {
  // The userinfo ends at the last @ before the hosts; a password in the query (?password=) is masked too.
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/, '$1:***@').replace(/([?&]password=)[^&]*/i, '$1***');
}
