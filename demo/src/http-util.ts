/**
 * Small HTTP helpers for the API: a size-limited body reader and JSON answers.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The body is larger than the limit: answer 413. */
export class BodyTooLargeError extends Error {
  readonly code = 'ERR_EPRO_BODY_TOO_LARGE';
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** The client went away before its body arrived: nobody to answer. */
export class BodyAbortedError extends Error {
  readonly code = 'ERR_EPRO_BODY_ABORTED';
  constructor() {
    super('the client closed the connection before sending its whole body');
    this.name = 'BodyAbortedError';
  }
}

/**
 * Reads a request body of at most `limit` bytes. Rejects with BodyTooLargeError as soon as more
 * arrives (a declared Content-Length above the limit rejects before reading anything), or with
 * BodyAbortedError when the client leaves first.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      if (err === undefined) resolve(Buffer.concat(chunks, size));
      else reject(err);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) done(new BodyTooLargeError(limit));
      else chunks.push(c);
    };
    const onEnd = (): void => done(undefined);
    const onClose = (): void => done(new BodyAbortedError());
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.on('error', onClose);
  });
}

/** Answers with a JSON body (no-op when the response can no longer be written). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/**
 * Refuses a request whose body we will not read (413): the connection closes after the answer,
 * and what the client still sends is read and dropped meanwhile, so it is not reset before it
 * could read the 413 (a reset would lose the answer in the client's receive buffer).
 */
export function refuseBody(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  res.shouldKeepAlive = false;
  req.resume();
  sendJson(res, status, body, { connection: 'close' });
}
