// Real local HTTP servers for the gold-source tests (127.0.0.1, port 0: nothing leaves the machine).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  url: string;
  headers: IncomingMessage['headers'];
  body: any;
  at: number;
}

export interface TestServer {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

/** `handle` gets the parsed JSON body and the 0-based request number; it may leave `res` unanswered to simulate a hang. */
export async function startServer(
  handle: (req: Recorded, res: ServerResponse, n: number) => void | Promise<void>,
): Promise<TestServer> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      const rec: Recorded = { url: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : undefined, at: Date.now() };
      requests.push(rec);
      void handle(rec, res, requests.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

/** A port that was just free and is now closed: connecting to it is refused. */
export async function closedPortUrl(): Promise<string> {
  const s = await startServer(() => {});
  const url = s.url;
  await s.close();
  return url;
}

/** Fast retry settings so the failure tests take milliseconds. */
export const FAST = { retries: 2, initialBackoffMs: 5, maxBackoffMs: 20, maxRetryAfterMs: 2000, timeoutMs: 2000 };
