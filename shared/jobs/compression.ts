import type { Compression } from '../schemas/backup.ts';
import { type Tool, toolVersion } from './processes.ts';

/**
 * Artifacts are the engine's dump tool's uncompressed output run through an external compressor,
 * so the artifact is a plain .zst or .gz file anyone can decompress and hand to the engine's own
 * tools. Measured with PostgreSQL on a 1 GB database (2 vCPUs): the dump tool's own zlib (level 6)
 * takes 60 s, uncompressed | zstd -3 14 s (587 MB), | gzip -1 22 s (646 MB), | gzip -6 64 s
 * (609 MB), Node's zlib at level 1 29 s. A separate process also puts compression on another
 * core. zstd -T1 (one worker beside the I/O thread) beat -T0, whose extra threads only compete
 * with the dump tool and the server for the same cores. Level 1, not 3 (issue 13, the backup end
 * to end, docs/performance.md): on the dump benchmarks' hard-to-compress rows (570 MB uncompressed)
 * -1 takes 3.5 s of CPU for 276 MB, -3 6.2 s for 282 MB (2% smaller) and 46 MB of memory instead
 * of 14; --fast=1 halves the CPU again but the artifact grows by 80%. The compressor is the
 * largest CPU cost of a dump besides the server, and CPU is what a loaded 2-vCPU job lacks.
 */
interface CodecSpec {
  tool: string;
  install: string;
  compress: string[];
  decompress: string[];
  contentType: string;
}

/**
 * What a restore reads: a compressed artifact, or (an uploaded file) an uncompressed one, which
 * passes through `cat` so the pipeline keeps one shape.
 */
export type Decompression = Compression | 'none';

const CODECS: Record<Decompression, CodecSpec> = {
  zstd: {
    tool: 'zstd',
    install: 'apt-get install zstd',
    compress: ['-q', '-1', '-T1', '-c'],
    decompress: ['-d', '-q', '-c'],
    contentType: 'application/zstd',
  },
  gzip: {
    tool: 'gzip',
    install: 'apt-get install gzip',
    compress: ['-1', '-n', '-c'],
    decompress: ['-d', '-c'],
    contentType: 'application/gzip',
  },
  none: {
    tool: 'cat',
    install: 'apt-get install coreutils',
    compress: [],
    decompress: [],
    contentType: 'application/octet-stream',
  },
};

/**
 * Where the compressors are, when not on PATH (tests, odd images). The engine's own client tools
 * are found by its dump tool, from its own environment variables.
 */
export interface ToolPaths {
  zstd?: string;
  gzip?: string;
}

export interface Codec {
  tool: Tool;
  version: string;
  compressArgs: string[];
  decompressArgs: string[];
  contentType: string;
}

/** The compressor for `compression`, checked to be installed (MissingToolError otherwise). */
export const resolveCodec = async (compression: Decompression, paths: ToolPaths = {}): Promise<Codec> => {
  const codec = CODECS[compression];
  const path = compression === 'none' ? codec.tool : (paths[compression] ?? codec.tool);
  const tool: Tool = { name: codec.tool, path, install: codec.install };
  const version = await toolVersion(tool, ['--version']);
  return {
    tool,
    version,
    compressArgs: codec.compress,
    decompressArgs: codec.decompress,
    contentType: codec.contentType,
  };
};
