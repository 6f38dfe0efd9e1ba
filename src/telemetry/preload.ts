/*
 * Loaded with `node --import` (see bin/memento) so that the SDK and its instrumentations are
 * in place before the CLI imports anything they instrument. Commands that make no spans
 * (`traces`, `--help`, `--version`) skip it and start faster.
 */
import { roleFromArgv, startTelemetry } from './setup.ts';

const role = roleFromArgv(process.argv.slice(2));
if (role) startTelemetry(role);
