import type { MetricsWindow } from '../ports/metrics-source.ts';

/** The step a time (epoch seconds) falls in, or -1 outside the window. */
export const stepIndex = (window: MetricsWindow, time: number): number => {
  const index = Math.floor((time - window.from) / window.step);
  return index >= 0 && index < window.points ? index : -1;
};
