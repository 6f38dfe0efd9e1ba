import { CliError } from '../errors.ts';

export interface AskOptions {
  text: string;
  user?: string;
  json?: boolean;
  traffic?: boolean;
  waterfall?: boolean;
}

export async function ask(_opts: AskOptions): Promise<number> {
  throw new CliError('memento ask: not built yet');
}
