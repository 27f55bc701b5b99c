/**
 * The clock schedules and retention run on. At speed 1 it is the wall clock; tests run it faster
 * (ADDONS_CLOCK_SPEED=3600 makes an hour pass every second) instead of waiting for an hour.
 */
export const scaledClock = (speed: number, origin = Date.now()): (() => Date) =>
  speed === 1 ? () => new Date() : () => new Date(origin + (Date.now() - origin) * speed);
