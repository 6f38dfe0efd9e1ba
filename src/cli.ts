/*
 * `memento`: parses the command line with the command table (cli/program.ts), runs the chosen
 * command, flushes telemetry and exits. This is the only file that calls process.exit:
 * commands return an exit status or throw a CliError.
 */
import { runCommandLine } from './cli/program.ts';
import { telemetry } from './telemetry/handle.ts';

const code = await runCommandLine(process.argv);
await telemetry().shutdown();
process.exit(code);
