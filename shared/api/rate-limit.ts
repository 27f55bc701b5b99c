/**
 * Per-caller rate limiting: a token bucket per caller (the token's subject, or the source
 * address of an anonymous request). `burst` requests can be sent at once; the bucket refills
 * at `perSecond`. Every answer carries the IETF draft `RateLimit-*` headers, and a refusal is
 * a 429 with `Retry-After`.
 */
export interface RateLimitConfig {
  /** Steady-state requests per second per caller. */
  perSecond: number;
  /** Requests a caller may send at once (the bucket's size). */
  burst: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitConfig = { perSecond: 50, burst: 100 };

export interface RateDecision {
  allowed: boolean;
  /** The bucket's size. */
  limit: number;
  /** Requests left right now. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until the next request is allowed (0 when allowed). */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  take(caller: string): RateDecision;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** How many callers' buckets are kept before idle ones are dropped (memory stays bounded). */
const MAX_CALLERS = 10_000;

/**
 * An in-process token bucket. Locally one process serves every request, so it is exact; on
 * Lambda each execution environment keeps its own buckets and the API Gateway stage throttling
 * caps the whole API (README: rate limits).
 */
export class TokenBucketLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly config: RateLimitConfig = DEFAULT_RATE_LIMIT,
    private readonly now: () => number = Date.now,
  ) {}

  take(caller: string): RateDecision {
    const { perSecond, burst } = this.config;
    const at = this.now();
    const previous = this.buckets.get(caller);
    const tokens = previous
      ? Math.min(burst, previous.tokens + ((at - previous.at) / 1000) * perSecond)
      : burst;
    const allowed = tokens >= 1;
    const left = allowed ? tokens - 1 : tokens;
    // Re-inserting keeps the map in least-recently-used order for eviction.
    this.buckets.delete(caller);
    this.buckets.set(caller, { tokens: left, at });
    if (this.buckets.size > MAX_CALLERS) this.evict();
    return {
      allowed,
      limit: burst,
      remaining: Math.floor(left),
      resetSeconds: Math.ceil((burst - left) / perSecond),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - left) / perSecond)),
    };
  }

  /** Drop the least recently seen callers; their buckets have refilled the most. */
  private evict(): void {
    for (const caller of this.buckets.keys()) {
      if (this.buckets.size <= MAX_CALLERS) return;
      this.buckets.delete(caller);
    }
  }
}

/** The response headers of a decision (lower case, as API Gateway and the gateway send them). */
export const rateLimitHeaders = (decision: RateDecision): Record<string, string> => ({
  'ratelimit-limit': String(decision.limit),
  'ratelimit-remaining': String(decision.remaining),
  'ratelimit-reset': String(decision.resetSeconds),
  ...(decision.allowed ? {} : { 'retry-after': String(decision.retryAfterSeconds) }),
});

/** The limiter of an API function on Lambda, from its environment (shared/config/env.ts). */
export const rateLimiterFromEnv = (env: {
  API_RATE_LIMIT_PER_SECOND: number;
  API_RATE_LIMIT_BURST: number;
}) => new TokenBucketLimiter({ perSecond: env.API_RATE_LIMIT_PER_SECOND, burst: env.API_RATE_LIMIT_BURST });
