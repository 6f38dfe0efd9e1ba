/*
 * The trace exporter's HTTP transport: otlp-exporter-base 0.301's node transport
 * (sendWithHttp + RetryingTransport), minus its per-export overhead. The SDK parses the URL
 * again for every export and streams the body through a fresh Readable piped into the
 * request (stream set-up, flowing, end-of-stream ticks); here the URL becomes request options
 * once and the body is written with write() + end(), which puts the same bytes on the wire
 * (chunked, as the pipe does: one write, then the end). Headers, user agent, agent
 * (keep-alive), timeout, response handling and retries are the SDK's; gzip compression keeps
 * the SDK's stream path. test/telemetry/otlp-json.test.ts sends through both exporters to one
 * receiver and compares what arrives.
 */
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { Readable } from 'node:stream';
import { urlToHttpOptions } from 'node:url';
import { createGzip } from 'node:zlib';
import { diag } from '@opentelemetry/api';
import { OTLPExporterError, type ExportResponse, type IExporterTransport } from '@opentelemetry/otlp-exporter-base';
import type { convertLegacyHttpOptions } from '@opentelemetry/otlp-exporter-base/node-http';

export type HttpExportOptions = ReturnType<typeof convertLegacyHttpOptions>;

/** otlp-exporter-base's own user agent (its VERSION is not exported; the test compares headers). */
const DEFAULT_USER_AGENT = 'OTel-OTLP-Exporter-JavaScript/0.301.0';
const MAX_RESPONSE_BODY_SIZE = 4 * 1024 * 1024;
const RETRYABLE_NETWORK_ERROR_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ENETUNREACH', 'EHOSTUNREACH']);

function isExportHTTPErrorRetryable(statusCode: number): boolean {
  return statusCode === 429 || statusCode === 502 || statusCode === 503 || statusCode === 504;
}

function parseRetryAfterToMills(retryAfter: string | undefined): number | undefined {
  if (retryAfter == null) return undefined;
  const seconds = Number.parseInt(retryAfter, 10);
  if (Number.isInteger(seconds)) return seconds > 0 ? seconds * 1000 : -1;
  const delay = new Date(retryAfter).getTime() - Date.now();
  return delay >= 0 ? delay : 0;
}

function isNetworkErrorRetryable(error: Error): boolean {
  return 'code' in error && typeof error.code === 'string' ? RETRYABLE_NETWORK_ERROR_CODES.has(error.code) : false;
}

type Request = (options: RequestOptions, callback: (res: IncomingMessage) => void) => ClientRequest;

/** sendWithHttp (otlp-exporter-base 0.301), with the URL's options made once. */
class HttpTransport implements IExporterTransport {
  private utils: { agent: RequestOptions['agent']; request: Request; target: RequestOptions } | undefined;
  private readonly params: HttpExportOptions;
  constructor(params: HttpExportOptions) {
    this.params = params;
  }

  private async load() {
    const url = new URL(this.params.url);
    const [agent, { request }] = await Promise.all([
      this.params.agentFactory(url.protocol),
      url.protocol === 'http:' ? import('node:http') : import('node:https'),
    ]);
    return (this.utils = { agent, request: request as Request, target: urlToHttpOptions(url) as RequestOptions });
  }

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    const { agent, request, target } = this.utils ?? (await this.load());
    const headers = await this.params.headers();
    const userAgent = this.params.userAgent;
    headers['User-Agent'] = userAgent ? `${userAgent} ${DEFAULT_USER_AGENT}` : DEFAULT_USER_AGENT;
    const compression = this.params.compression;
    return new Promise((resolve) => {
      const req = request({ ...target, method: 'POST', headers, agent }, (res) => {
        const responseData: Buffer[] = [];
        let responseSize = 0;
        res.on('data', (chunk: Buffer) => {
          responseSize += chunk.length;
          if (responseSize > MAX_RESPONSE_BODY_SIZE) {
            resolve({ status: 'failure', error: new Error(`OTLP export response body exceeded size limit of ${MAX_RESPONSE_BODY_SIZE} bytes`) });
            res.destroy();
            return;
          }
          responseData.push(chunk);
        });
        res.on('end', () => {
          if (res.statusCode && res.statusCode <= 299) resolve({ status: 'success', data: Buffer.concat(responseData) });
          else if (res.statusCode && isExportHTTPErrorRetryable(res.statusCode)) resolve({ status: 'retryable', retryInMillis: parseRetryAfterToMills(res.headers['retry-after']) });
          else resolve({ status: 'failure', error: new OTLPExporterError(res.statusMessage, res.statusCode, Buffer.concat(responseData).toString()) });
        });
        res.on('error', (error) => {
          if (res.statusCode && res.statusCode <= 299) resolve({ status: 'success' });
          else if (res.statusCode && isExportHTTPErrorRetryable(res.statusCode)) resolve({ status: 'retryable', error, retryInMillis: parseRetryAfterToMills(res.headers['retry-after']) });
          else resolve({ status: 'failure', error });
        });
      });
      req.setTimeout(timeoutMillis, () => {
        req.destroy();
        resolve({ status: 'retryable', error: new Error('Request timed out') });
      });
      req.on('error', (error) => {
        resolve(isNetworkErrorRetryable(error) ? { status: 'retryable', error } : { status: 'failure', error });
      });
      if (compression === 'gzip') {
        sendGzip(req, data, (error) => resolve({ status: 'failure', error }));
      } else {
        req.write(data);
        req.end();
      }
    });
  }

  shutdown(): void {}
}

/** compressAndSend's gzip path, as the SDK does it. */
function sendGzip(req: ClientRequest, data: Uint8Array, onError: (error: Error) => void): void {
  req.setHeader('Content-Encoding', 'gzip');
  const readable = new Readable();
  readable.push(data);
  readable.push(null);
  readable.on('error', onError).pipe(createGzip()).on('error', onError).pipe(req).on('error', onError);
}

const MAX_ATTEMPTS = 5;
const INITIAL_BACKOFF = 1000;
const MAX_BACKOFF = 5000;
const BACKOFF_MULTIPLIER = 1.5;
const JITTER = 0.2;

/** RetryingTransport (otlp-exporter-base 0.301), unchanged. */
class RetryingTransport implements IExporterTransport {
  private readonly transport: IExporterTransport;
  constructor(transport: IExporterTransport) {
    this.transport = transport;
  }

  private retry(data: Uint8Array, timeoutMillis: number, inMillis: number): Promise<ExportResponse> {
    return new Promise((resolve, reject) => {
      setTimeout(() => {
        this.transport.send(data, timeoutMillis).then(resolve, reject);
      }, inMillis);
    });
  }

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    let attempts = MAX_ATTEMPTS;
    let nextBackoff = INITIAL_BACKOFF;
    const deadline = Date.now() + timeoutMillis;
    let result = await this.transport.send(data, timeoutMillis);
    while (result.status === 'retryable' && attempts > 0) {
      attempts--;
      const backoff = Math.max(Math.min(nextBackoff * (1 + (Math.random() * (2 * JITTER) - JITTER)), MAX_BACKOFF), 0);
      nextBackoff = nextBackoff * BACKOFF_MULTIPLIER;
      const retryInMillis = result.retryInMillis ?? backoff;
      const remainingTimeoutMillis = deadline - Date.now();
      if (retryInMillis > remainingTimeoutMillis) {
        diag.info(`Export retry time ${Math.round(retryInMillis)}ms exceeds remaining timeout ${Math.round(remainingTimeoutMillis)}ms, not retrying further.`);
        return result;
      }
      diag.verbose(`Scheduling export retry in ${Math.round(retryInMillis)}ms`);
      result = await this.retry(data, remainingTimeoutMillis, retryInMillis);
    }
    if (result.status === 'success') diag.verbose(`Export succeeded after ${MAX_ATTEMPTS - attempts} retry attempts.`);
    else if (result.status === 'retryable') diag.info(`Export failed after maximum retry attempts (${MAX_ATTEMPTS}).`);
    else diag.info(`Export failed with non-retryable error: ${result.error}`);
    return result;
  }

  shutdown(): void {
    this.transport.shutdown();
  }
}

export function createHttpExportTransport(options: HttpExportOptions): IExporterTransport {
  return new RetryingTransport(new HttpTransport(options));
}
