/**
 * Compares dotted version numbers part by part, as numbers: `10.11` is newer than `10.6`, `8.4`
 * than `8.0`, `17` than `9.6` (a float comparison gets the first wrong). Non-numeric suffixes
 * (`10.11.19-MariaDB`) are ignored. Negative, zero or positive, like a sort comparator.
 */
export const compareVersions = (a: string, b: string): number => {
  const parts = (version: string) =>
    (/^\d+(?:\.\d+)*/.exec(version.trim())?.[0] ?? '').split('.').filter(Boolean).map(Number);
  const left = parts(a);
  const right = parts(b);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
};
