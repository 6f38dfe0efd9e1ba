import { CliError } from '../errors.ts';

export interface TracesOptions {
  file?: string;
  jaeger?: string;
  json?: boolean;
  limit?: number;
  slow?: number;
  traceId?: string;
}

export async function traces(_view: 'list' | 'show' | 'stats', _opts: TracesOptions): Promise<number> {
  throw new CliError('memento traces: not built yet');
}
