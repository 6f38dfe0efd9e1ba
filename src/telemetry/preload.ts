/*
 * Loaded with `node --import` (see bin/memento) so that the SDK and its instrumentations are
 * in place before the CLI imports anything they instrument. The command table decides the
 * role (the same parse src/cli.ts then runs); commands that make no spans (`traces`,
 * `--help`, `--version`, a usage error) never load the SDK and start faster.
 */
import { parseCommandLine } from '../cli/program.ts';

const { role } = parseCommandLine(process.argv);
if (role) {
  const { startTelemetry } = await import('./setup.ts');
  startTelemetry(role);
}
