/**
 * Reaching a service's debug endpoint: turning what the user typed into the endpoint's URLs, and
 * turning every way a request can fail into a message that says what to do.
 * @module
 */
import http from 'node:http';
import https from 'node:https';
import { CliError, UsageError } from './errors.js';

/** Where the debug endpoint lives under a service's base URL. */
export const DEBUG_PATH = '/debug/corral/';

/**
 * The endpoint's base URL (ending in `/debug/corral/`) for what the user typed: a base URL
 * (`http://127.0.0.1:9229`, with or without a path prefix), the endpoint itself or one of its
 * pages, `host:port`, or a bare port (loopback).
 */
export function endpointBase(input: string, command: string): URL {
  let text = input.trim();
  if (/^\d+$/.test(text)) text = `http://127.0.0.1:${text}`;
  else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${JSON.stringify(input)} is not a URL; give the service's base URL, e.g. http://127.0.0.1:9229`, command);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${JSON.stringify(input)}: only http and https URLs are supported`, command);
  }
  const at = url.pathname.indexOf(DEBUG_PATH.slice(0, -1));
  const prefix = at >= 0 ? url.pathname.slice(0, at) : url.pathname.replace(/\/+$/, '');
  url.pathname = prefix + DEBUG_PATH;
  url.search = '';
  url.hash = '';
  return url;
}

/** Options for {@link getText}. */
export interface FetchOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /** Milliseconds to wait for the whole answer. */
  timeoutMs: number;
}

/** An answer the endpoint does not have (404): the caller decides whether that is an error. */
export class NotFound {
  constructor(readonly url: string) {}
}

/**
 * GETs `url` and returns the body, or {@link NotFound} when `allow404`. Throws CliError with the
 * reason and the fix: unreachable, timed out, refused the token, not a corral endpoint.
 */
export async function getText(url: URL, options: FetchOptions, allow404 = false): Promise<string | NotFound> {
  const headers: Record<string, string> = { accept: 'application/json, text/plain;q=0.9' };
  if (options.token !== undefined && options.token !== '') headers.authorization = `Bearer ${options.token}`;
  let res: Answer;
  try {
    res = await get(url, headers, options.timeoutMs);
  } catch (err) {
    throw unreachable(url, err, options.timeoutMs);
  }
  const { status, statusText, body } = res;
  if (status >= 200 && status < 300) return body;
  if (status === 404 && allow404) return new NotFound(url.href);
  if (status === 401 || status === 403) {
    const how = options.token === undefined || options.token === '' ? 'pass it with --token or the CORRAL_TOKEN environment variable' : 'the token given was refused';
    throw new CliError(`${url.href} answered ${status} ${statusText}: the debug endpoint wants a token; ${how}`);
  }
  if (status === 404) {
    throw new CliError(`${url.href} answered 404: no corral debug endpoint there. Check the URL (the endpoint serves ${DEBUG_PATH}tasks) and that the service mounts debugHandler()`);
  }
  // The endpoint's 400 and 413 answers say what to change (a parameter, fewer rows): pass that on.
  const reason = status >= 400 && status < 500 ? (body.split('\n')[0] ?? '').trim().slice(0, 300) : '';
  throw new CliError(`${url.href} answered HTTP ${status} ${statusText}${reason === '' ? '' : `: ${reason}`}`);
}

interface Answer {
  status: number;
  statusText: string;
  body: string;
}

// node:http rather than fetch: fetch refuses the Fetch standard's "bad ports" (6000, 6665-6669,
// 10080, ...), and a debug endpoint may well listen on one. No agent: one connection per request,
// closed after it, so nothing pooled keeps the CLI alive.
function get(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).get(url, { headers, agent: false, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function unreachable(url: URL, err: unknown, timeoutMs: number): CliError {
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } } | undefined;
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') {
    return new CliError(`no answer from ${url.href} within ${timeoutMs} ms. Is the service busy or stopped? Raise --timeout to wait longer`);
  }
  const code = e?.cause?.code ?? e?.code ?? (err instanceof Error ? err.message : String(err));
  return new CliError(`could not reach ${url.href} (${code}). Is the service running with startDebugServer() or debugHandler()?`);
}

/** The token from `--token`, else the CORRAL_TOKEN environment variable. */
export function tokenFrom(flag: string | number | boolean | undefined): string | undefined {
  if (typeof flag === 'string') return flag;
  const env = process.env.CORRAL_TOKEN;
  return env === undefined || env === '' ? undefined : env;
}
