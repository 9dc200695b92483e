import { open, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';
import { tensor, type DType, type Tensor } from '../tensor/index.js';
import { describeNonFinite, firstNonFinite } from './finite.js';
import { assertRegularFile } from '../util/regular-file.js';

// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?},
// then the raw little-endian tensor bytes; offsets are relative to the end of the header.

const ITEM_SIZE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, BOOL: 1, U8: 1 };
const FILE_DTYPE: Record<DType, string> = { float32: 'F32', bfloat16: 'BF16', int64: 'I64', bool: 'BOOL' };
/** the file dtypes writeSafetensors writes */
export const WRITABLE_DTYPES: readonly string[] = Object.values(FILE_DTYPE);

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** byte offset of the data section in the file */
  dataStart: number;
}

/**
 * Parses and checks the header against the file size; every error names the path. `bytes` may
 * be the file's beginning only (length and header) when `fileSize` gives the whole size.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, path: string, fileSize = bytes.length): SafetensorsHeader {
  const bad = (why: string) => new Error(`${path}: not a valid safetensors file: ${why}`);
  if (fileSize < 8) throw bad(`file is ${fileSize} bytes, shorter than the 8-byte header length (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (8 + headerLen > fileSize) {
    throw bad(`header says ${headerLen} bytes of JSON but the file has ${fileSize - 8} after the length (truncated?)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (err) {
    throw bad(`header is not JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = fileSize - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const size = ITEM_SIZE[String(e?.dtype)];
    if (size === undefined) throw bad(`tensor '${name}' has unsupported dtype ${JSON.stringify(e?.dtype)}`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw bad(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[1] < off[0]) {
      throw bad(`tensor '${name}' has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    if (off[1] - off[0] !== numel * size) {
      throw bad(`tensor '${name}' ${e.dtype}${JSON.stringify(shape)} needs ${numel * size} bytes but data_offsets span ${off[1] - off[0]}`);
    }
    if (off[1] > dataLen) {
      throw bad(`tensor '${name}' ends at byte ${off[1]} of the data section, which has only ${dataLen} bytes (truncated?)`);
    }
    entries.set(name, { dtype: String(e.dtype), shape: shape as number[], begin: off[0], end: off[1] });
  }
  return { entries, metadata, dataStart };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Builds a tensor from one entry's bytes. F16 and F64 load as float32, I32/U8 as int64 (the dtypes the engine has). */
function entryToTensor(raw: Uint8Array, e: SafetensorsEntry): Tensor {
  // Copy into a fresh, aligned buffer: the data section need not be aligned for typed-array views.
  const buf = raw.slice(e.begin, e.end).buffer;
  const shape = e.shape;
  switch (e.dtype) {
    case 'F32':
      return tensor(new Float32Array(buf), { shape, dtype: 'float32' });
    case 'F64':
      return tensor(Float32Array.from(new Float64Array(buf)), { shape, dtype: 'float32' });
    case 'BF16': {
      const u16 = new Uint16Array(buf);
      const u32 = new Uint32Array(u16.length);
      for (let i = 0; i < u16.length; i++) u32[i] = u16[i] << 16;
      const f32 = tensor(new Float32Array(u32.buffer), { shape, dtype: 'float32' });
      const out = f32.to('bfloat16');
      f32.dispose();
      return out;
    }
    case 'F16': {
      const u16 = new Uint16Array(buf);
      const f32 = new Float32Array(u16.length);
      for (let i = 0; i < u16.length; i++) f32[i] = halfToFloat(u16[i]);
      return tensor(f32, { shape, dtype: 'float32' });
    }
    case 'I64':
      return tensor(new BigInt64Array(buf), { shape, dtype: 'int64' });
    case 'I32':
      return tensor(new Int32Array(buf), { shape, dtype: 'int64' });
    case 'U8':
      return tensor(Array.from(new Uint8Array(buf)), { shape, dtype: 'int64' });
    case 'BOOL':
      return tensor(Array.from(new Uint8Array(buf)), { shape, dtype: 'bool' });
    default:
      throw new Error(`unsupported safetensors dtype ${e.dtype}`);
  }
}

function readError(path: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  return new Error(code === 'ENOENT' ? `safetensors file not found: ${path}` : `cannot read ${path}: ${(err as Error).message}`);
}

async function readBytes(path: string): Promise<Uint8Array> {
  await assertRegularFile(path);
  try {
    return await readFile(path);
  } catch (err) {
    throw readError(path, err);
  }
}

/** Checks that a file is whole (its header against its size) without reading the tensors. */
export async function checkSafetensorsFile(path: string): Promise<void> {
  const fh = await open(path, 'r').catch((err) => {
    throw readError(path, err);
  });
  try {
    const size = (await fh.stat()).size;
    const len = Buffer.alloc(8);
    await fh.read(len, 0, 8, 0);
    const head = Buffer.alloc(Math.min(size, 8 + Number(size >= 8 ? len.readBigUInt64LE(0) : 0n)));
    await fh.read(head, 0, head.length, 0);
    parseSafetensorsHeader(head, path, size);
  } finally {
    await fh.close();
  }
}

/** Every tensor (caller owns them), the metadata, and each tensor's dtype as stored (F16 and F64 load as float32). */
export async function readSafetensorsFile(
  path: string,
): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string>; fileDtypes: Map<string, string> }> {
  const bytes = await readBytes(path);
  const header = parseSafetensorsHeader(bytes, path);
  // a plain Uint8Array view: Buffer#slice would not copy, and entryToTensor needs copies
  const data = new Uint8Array(bytes.buffer, bytes.byteOffset + header.dataStart, bytes.length - header.dataStart);
  const tensors = new Map<string, Tensor>();
  try {
    for (const [name, e] of header.entries) {
      const t = entryToTensor(data, e);
      tensors.set(name, t);
      // NaN or infinite weights make every output garbage (log-probs null, empty samples)
      const bad = firstNonFinite([[name, t]]);
      if (bad) throw new Error(`${path}: ${describeNonFinite(bad)}; the weights are corrupt (a diverged training run?)`);
    }
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  }
  return { tensors, metadata: header.metadata, fileDtypes: new Map([...header.entries].map(([n, e]) => [n, e.dtype])) };
}

/** Reads every tensor of a safetensors file (caller owns them); non-finite floats are refused, naming the tensor. */
export async function readSafetensors(path: string): Promise<Map<string, Tensor>> {
  return (await readSafetensorsFile(path)).tensors;
}

function tensorBytes(t: Tensor): Uint8Array {
  switch (t.dtype) {
    case 'float32':
      return new Uint8Array(t.toFloat32Array().buffer);
    case 'bfloat16': {
      // bf16 values are exactly representable in f32: the high 16 bits of each f32 are the bf16 bits.
      const u32 = new Uint32Array(t.toFloat32Array().buffer);
      const u16 = new Uint16Array(u32.length);
      for (let i = 0; i < u32.length; i++) u16[i] = u32[i] >>> 16;
      return new Uint8Array(u16.buffer);
    }
    case 'int64':
      return new Uint8Array(t.toBigInt64Array().buffer);
    case 'bool':
      return Uint8Array.from(t.toInt32Array());
    default:
      throw new Error(`cannot write dtype ${String(t.dtype)} to safetensors`);
  }
}

/** Writes tensors (in the given order) atomically: a temporary file renamed over `path`. */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const b = tensorBytes(t);
    header[name] = { dtype: FILE_DTYPE[t.dtype], shape: t.shape, data_offsets: [offset, offset + b.length] };
    chunks.push(b);
    offset += b.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // keep the data section 8-byte aligned
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  await writeFileAtomic(path, Buffer.concat([len, headerBytes, ...chunks]));
}
