import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Passes bytes through unchanged while counting them and computing their SHA-256. */
export class Sha256Counter extends Transform {
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private hex: string | undefined;

  /**
   * `beforeEnd` runs when the input has ended (the digest is known) and before the output ends; an
   * error it throws fails the stream instead. `onBytes` sees the running count.
   */
  constructor(
    private readonly hooks: {
      beforeEnd?: (counter: Sha256Counter) => Promise<void>;
      onBytes?: (bytes: number) => void;
    } = {},
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.hooks.onBytes?.(this.bytes);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.hex = this.hash.digest('hex');
    const { beforeEnd } = this.hooks;
    if (!beforeEnd) {
      callback();
      return;
    }
    beforeEnd(this).then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  /** The hex digest, once the input has ended. */
  get sha256(): string | undefined {
    return this.hex;
  }
}

/**
 * Passes bytes through but holds back the last `holdBytes` until the input has ended and
 * `release` resolves; if it rejects, the held bytes are never passed on and the stream fails.
 * The restore puts it in front of the loader so that the script's end (a final COMMIT) only
 * reaches the server once the artifact's checksum has been verified.
 */
export class TailGate extends Transform {
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(
    private readonly holdBytes: number,
    private readonly release: (tail: Buffer) => Promise<void>,
    /** Passed on after the tail once released (a plain SQL script's closing COMMIT). */
    private readonly epilogue?: Buffer,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    // Pass on the oldest chunks while what stays behind is still at least holdBytes.
    while (this.held.length > 1 && this.heldBytes - (this.held[0]?.length ?? 0) >= this.holdBytes) {
      const oldest = this.held.shift() as Buffer;
      this.heldBytes -= oldest.length;
      this.push(oldest);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const tail = Buffer.concat(this.held);
    this.held = [];
    this.release(tail).then(
      () => callback(null, this.epilogue ? Buffer.concat([tail, this.epilogue]) : tail),
      (error: Error) => callback(error),
    );
  }
}
