/*
 * The simulator's MEMENTO_SIMULATOR_* variables (rows of the settings table in config.ts)
 * as simulator options. They matter most for the embedded simulator, which `memento chat`/`ask`
 * start in-process with no command line of its own: these variables are how a user or a test
 * shapes it. `memento simulator` reads them too; its flags win.
 */
import { SETTINGS, setting, type Setting } from '../config.ts';
import { parseFaults } from './faults.ts';
import type { SimulatorOptions } from './types.ts';

/** Simulator options from MEMENTO_SIMULATOR_* variables; unset ones are left out. Throws on a malformed value. */
export function simulatorOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SimulatorOptions {
  // Only the variables that are set: the simulator's own defaults apply to the rest.
  const given = <T>(s: Setting<T>): T | undefined => (env[s.name]?.trim() ? setting(s, env) : undefined);
  const faults = given(SETTINGS.simFaults);
  const now = given(SETTINGS.simNow);
  const options: SimulatorOptions = {
    latencyMs: given(SETTINGS.simLatencyMs),
    jitterMs: given(SETTINGS.simJitterMs),
    timeoutMs: given(SETTINGS.simTimeoutMs),
    retryAfterMs: given(SETTINGS.simRetryAfterMs),
    failRate: given(SETTINGS.simFailRate),
    apiKey: given(SETTINGS.simApiKey),
    deployments: given(SETTINGS.simDeployments),
    now: now && (() => now),
  };
  if (faults !== undefined) {
    try {
      options.faults = parseFaults(faults);
    } catch (err) {
      throw new Error(`${SETTINGS.simFaults.name}: ${(err as Error).message}`);
    }
  }
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as SimulatorOptions;
}
