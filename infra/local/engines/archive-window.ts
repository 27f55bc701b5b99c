import type { ArchiveWindow } from './driver.ts';

/** The newest part of the window that holds `at`. */
export const partAt = (window: ArchiveWindow, at: number): ArchiveWindow['parts'][number] | undefined =>
  [...window.parts]
    .reverse()
    .find((part) => at >= Date.parse(part.earliest) && at <= Date.parse(part.latest));

/** "A to B", or "A to B and C to D" when restores left gaps. */
export const describeWindow = (window: ArchiveWindow): string =>
  window.parts.map((part) => `${part.earliest} to ${part.latest}`).join(' and ');
