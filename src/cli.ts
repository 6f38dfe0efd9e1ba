/*
 * `memento`: parses the command line with the command table (cli/program.ts), runs the chosen
 * command, flushes telemetry and exits. This is the only file that calls process.exit:
 * commands return an exit status or throw a CliError.
 */
import { runCommandLine } from './cli/program.ts';
import { telemetry } from './telemetry/handle.ts';

const code = await runCommandLine(process.argv);
await telemetry().shutdown();
// process.exit drops what a pipe has not taken yet: wait until stdout and stderr have
// passed on everything written so far (a long answer, its error line, the footer).
await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => (s.writableLength ? s.write('', () => resolve()) : resolve()))));
process.exit(code);
