import { CliError } from '../errors.ts';

export interface ServeOptions {
  host: string;
  port: number;
  dataDir?: string;
  stdio?: boolean;
  tokens?: string;
}

export async function serve(_opts: ServeOptions): Promise<number> {
  throw new CliError('memento serve: not built yet');
}
