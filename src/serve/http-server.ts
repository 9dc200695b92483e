/**
 * The labelling service over HTTP: the JSON API annotators' pages (and the simulated crowd) use,
 * and the pages themselves. Routing is find-my-way's; everything else is node:http, so what is
 * checked before a label is stored (token, body size, body shape) is all in this file.
 *
 * A label's 200 is written only after LabelQueue.answer returned, that is after its transaction
 * is durable in run.db: a server killed at any moment has stored every label it acknowledged.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import FindMyWay from 'find-my-way';
import { z } from 'zod';
import { summarizeRun } from '../store/run-summary.js';
import type { Annotators } from './annotators.js';
import { QueueConflict, type LabelQueue } from './label-queue.js';
import { dashboardData } from './dashboard-data.js';

/** Pages may load scripts, styles and data from this server only, and nothing may be inlined. */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface LabelServerOptions {
  queue: LabelQueue;
  annotators: Annotators;
  /** the run folder, for /api/status */
  runDir: string;
  host?: string;
  /** 0: any free port */
  port?: number;
  /** largest request body accepted, in bytes */
  bodyLimit?: number;
  /** how long the labelling page holds a label, undoable, before sending it */
  undoMs?: number;
  /** longest a request may take to arrive, headers and body */
  requestTimeoutMs?: number;
}

export interface LabelServer {
  /** http://host:port */
  url: string;
  /** Stops accepting, lets requests in flight finish (at most `graceMs`, then cuts them), resolves when all are done. */
  close(graceMs?: number): Promise<void>;
}

const LabelBody = z.strictObject({
  id: z.string().min(1).max(100),
  choice: z.enum(['a', 'b', 'tie', 'skip']),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const PAGES: Record<string, { file: string; type: string }> = {
  '/': { file: 'label.html', type: 'text/html; charset=utf-8' },
  '/dashboard': { file: 'dashboard.html', type: 'text/html; charset=utf-8' },
  '/static/label.js': { file: 'label.js', type: 'text/javascript; charset=utf-8' },
  '/static/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/static/api.js': { file: 'api.js', type: 'text/javascript; charset=utf-8' },
  '/static/serve.css': { file: 'serve.css', type: 'text/css; charset=utf-8' },
};

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
}

/**
 * The request's body as text; a 413 HttpError past `limit` bytes (declared or sent). The rest
 * of an oversized body is read and dropped, so the client gets the 413 rather than a reset.
 */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new HttpError(413, `request body of ${declared} bytes is over the limit of ${limit}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const stop = (err: HttpError | null) => {
      if (done) return;
      done = true;
      req.off('data', onData).off('end', onEnd).off('close', onClose);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else stop(new HttpError(413, `request body is over the limit of ${limit} bytes`));
    };
    const onEnd = () => stop(null);
    const onClose = () => stop(new HttpError(400, 'the request ended before its body did'));
    // kept after stop: an aborted request emits 'error', which must not go unhandled
    req.on('error', onClose);
    req.on('data', onData).on('end', onEnd).on('close', onClose);
  });
}

/** zod's issues as one line naming each field. */
function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`).join('; ');
}

export async function startLabelServer(opts: LabelServerOptions): Promise<LabelServer> {
  const { queue, annotators, runDir } = opts;
  const bodyLimit = opts.bodyLimit ?? 16 * 1024;
  const undoMs = opts.undoMs ?? 5000;
  const pages = new Map(Object.entries(PAGES).map(([route, p]) => [route, { type: p.type, body: readFileSync(new URL(`./pages/${p.file}`, import.meta.url)) }]));
  let closing = false;

  const annotatorOf = (req: IncomingMessage): string => {
    const m = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(req.headers.authorization ?? '');
    const name = m ? annotators.authenticate(m[1]) : null;
    if (name === null) throw new HttpError(401, 'a valid annotator token is needed (Authorization: Bearer TOKEN)');
    return name;
  };

  type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
  const router = FindMyWay({
    ignoreTrailingSlash: true,
    defaultRoute: (_req, res) => send(res, 404, { error: 'no such page or API route' }),
  });
  const route = (method: 'GET' | 'POST', path: string, handler: Handler) =>
    router.on(method, path, async (req, res) => {
      try {
        await handler(req, res);
      } catch (e) {
        if (res.headersSent) return;
        if (e instanceof HttpError) {
          if (e.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
          if (e.status === 413) res.setHeader('Connection', 'close');
          send(res, e.status, { error: e.message });
        } else send(res, 500, { error: (e as Error).message });
      }
    });

  for (const [path, page] of pages) {
    route('GET', path, (_req, res) => {
      res.writeHead(200, { 'Content-Type': page.type, 'Content-Length': page.body.length }).end(page.body);
    });
  }
  // browsers ask for it on every page; there is none
  route('GET', '/favicon.ico', (_req, res) => send(res, 204));
  route('GET', '/api/next', (req, res) => {
    const q = queue.next(annotatorOf(req));
    if (q === null) send(res, 204);
    else send(res, 200, q);
  });
  route('POST', '/api/label', async (req, res) => {
    const name = annotatorOf(req);
    const text = await readBody(req, bodyLimit);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new HttpError(400, `body is not JSON: ${(e as Error).message}`);
    }
    const body = LabelBody.safeParse(json);
    if (!body.success) throw new HttpError(400, describeIssues(body.error));
    try {
      const r = queue.answer(name, body.data.id, body.data.choice);
      send(res, 200, { id: body.data.id, choice: body.data.choice, committed: r.committed });
    } catch (e) {
      if (e instanceof QueueConflict) throw new HttpError(409, e.message);
      throw e;
    }
  });
  route('GET', '/api/status', (req, res) => {
    annotatorOf(req);
    send(res, 200, summarizeRun(runDir));
  });
  route('GET', '/api/me', (req, res) => {
    const name = annotatorOf(req);
    const mine = queue.stats().by_annotator[name] ?? { labels: 0, skips: 0 };
    send(res, 200, { annotator: name, ...mine, undo_ms: undoMs });
  });
  route('GET', '/api/dashboard', (req, res) => {
    annotatorOf(req);
    send(res, 200, { status: summarizeRun(runDir), queue: queue.stats(), overlap: queue.overlap, conflict: queue.conflict, ...dashboardData(queue.store) });
  });

  const server: Server = createServer((req, res) => {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    if (closing) res.setHeader('Connection', 'close');
    router.lookup(req, res);
  });
  server.requestTimeout = opts.requestTimeoutMs ?? 30_000;
  server.headersTimeout = Math.min(server.requestTimeout, 10_000);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    close(graceMs = 10_000) {
      closing = true;
      return new Promise<void>((resolve) => {
        const cut = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
