import { CliError } from '../errors.ts';

export interface SimulatorOptions {
  host: string;
  port: number;
  latency: number;
  jitter: number;
  failRate: number;
}

export async function simulator(_opts: SimulatorOptions): Promise<number> {
  throw new CliError('memento simulator: not built yet');
}
