// The generations of a group of HELLOs taken in one transaction: a pure
// decision, apart from the PostgreSQL store that asks the database for each
// agency's newest generation.

/** How many of `agencies` (HELLOs in the order they came) are each agency's. */
export function connectionsPerAgency(agencies: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const agency of agencies) counts.set(agency, (counts.get(agency) ?? 0) + 1);
  return counts;
}

/**
 * Each HELLO's generation, in the order the HELLOs came, given each agency's
 * generation after all of them (`latest`): an agency's HELLOs take the last
 * generations up to it in turn, so its latest HELLO holds the newest.
 */
export function generationsInOrder(agencies: readonly number[], latest: ReadonlyMap<number, number>): number[] {
  const counts = connectionsPerAgency(agencies);
  const seen = new Map<number, number>();
  return agencies.map((agency) => {
    const last = latest.get(agency);
    if (last === undefined || last < counts.get(agency)!) {
      throw new Error(`the database answered agency ${agency}'s generation as ${last}, for ${counts.get(agency)} HELLOs`);
    }
    const before = seen.get(agency) ?? 0;
    seen.set(agency, before + 1);
    return last - counts.get(agency)! + 1 + before;
  });
}
