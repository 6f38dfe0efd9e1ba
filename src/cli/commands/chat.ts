import { CliError } from '../errors.ts';

export interface ChatOptions {
  user?: string;
  traffic?: boolean;
  waterfall?: boolean;
}

export async function chat(_opts: ChatOptions): Promise<number> {
  throw new CliError('memento chat: not built yet');
}
