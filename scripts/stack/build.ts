/*
 * Builds the collector (with the OpenTelemetry Collector Builder, from
 * deploy/collector/builder-config.yaml) and Jaeger v2 (from the tools module in
 * deploy/jaeger/build) into the cache when they are not there yet. Everything comes from the
 * Go module proxy through the go command; the Go module and build caches are the go
 * command's own (outside the clone), so a second build of a changed manifest is quick too.
 *
 * A build goes to a temporary directory that is renamed into place when complete, and a lock
 * file keeps two builders (CI's test setup and `npm run stack`) from building the same thing.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import {
  BUILDER_MODULE,
  COLLECTOR_MANIFEST,
  JAEGER_MODULE_DIR,
  JAEGER_PACKAGE,
  cacheRoot,
  collectorProgram,
  jaegerProgram,
  readCollectorManifest,
  type BuiltProgram,
} from './programs.ts';

export type Log = (line: string) => void;

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; logFile: string }): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    let output = '';
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (d: Buffer) => (output += d.toString('utf8'));
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (err) => reject(new Error(`cannot run ${command}: ${err.message} (is Go installed and on PATH?)`)));
    child.on('close', async (code) => {
      await writeFile(options.logFile, output).catch(() => {});
      if (code === 0) return resolvePromise();
      const tail = output.trim().split('\n').slice(-15).join('\n');
      reject(new Error(`${command} ${args.join(' ')} failed (exit ${code}); the full log is ${options.logFile}:\n${tail}`));
    });
  });
}

/** Whether a process with this pid is running (the lock holder's here; run.ts's programs too). */
export function isAlive(pid: number): boolean {
  // 0 and negative pids address process groups: never probe or signal those.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `fn` holding `<cache>/<name>.lock`; waits for a live holder, takes over from a dead one. */
async function withLock<T>(name: string, log: Log, fn: () => Promise<T>): Promise<T> {
  const lock = join(cacheRoot(), `${name}.lock`);
  await mkdir(cacheRoot(), { recursive: true });
  let told = false;
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch {
      const holder = Number(await readFile(lock, 'utf8').catch(() => '0'));
      if (!holder || !isAlive(holder)) {
        await rm(lock, { force: true });
        continue;
      }
      if (!told) log(`waiting for another build of ${name} (pid ${holder})`);
      told = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

async function buildOnce(program: BuiltProgram, log: Log, build: (tmp: string) => Promise<string>): Promise<BuiltProgram> {
  if (existsSync(program.binary)) {
    const first = await readFile(join(program.dir, 'build-seconds'), 'utf8').catch(() => '?');
    log(`${program.name} ${program.release}: reusing ${program.binary} (its build took ${first.trim()} s)`);
    return program;
  }
  return withLock(program.key, log, async () => {
    if (existsSync(program.binary)) return program;
    const tmp = `${program.dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    log(`building ${program.name} ${program.release} into ${program.dir} (the first build takes minutes; later runs reuse it)`);
    const started = performance.now();
    try {
      const binary = await build(tmp);
      if (!existsSync(binary)) throw new Error(`the ${program.name} build finished without producing ${binary}`);
      await writeFile(join(tmp, 'build-seconds'), `${((performance.now() - started) / 1000).toFixed(0)}\n`);
      await rm(program.dir, { recursive: true, force: true });
      await rename(tmp, program.dir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
    log(`built ${program.name} ${program.release} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    return program;
  });
}

/** The collector, built with the Builder at the manifest's release. */
export async function ensureCollector(log: Log = () => {}): Promise<BuiltProgram> {
  const program = collectorProgram();
  return buildOnce(program, log, async (tmp) => {
    const manifest = readCollectorManifest();
    const gobin = join(cacheRoot(), 'tools', `builder-${manifest.version}`);
    const builder = join(gobin, 'builder');
    if (!existsSync(builder)) {
      await mkdir(gobin, { recursive: true });
      await run('go', ['install', `${BUILDER_MODULE}@v${manifest.version}`], { env: { GOBIN: gobin }, logFile: join(tmp, 'builder-install.log') });
    }
    // The manifest as committed, with the output inside this build's directory.
    const doc = parse(await readFile(COLLECTOR_MANIFEST, 'utf8')) as { dist: Record<string, unknown> };
    doc.dist.output_path = join(tmp, 'src');
    const config = join(tmp, 'builder-config.yaml');
    await writeFile(config, stringify(doc));
    await run(builder, ['--config', config], { cwd: tmp, logFile: join(tmp, 'build.log') });
    // The Builder compiles into its output directory; the binary sits beside the sources.
    await rename(join(tmp, 'src', manifest.name), join(tmp, manifest.name));
    return join(tmp, manifest.name);
  });
}

/** Jaeger v2 (`cmd/jaeger`) from the tools module's pinned version. */
export async function ensureJaeger(log: Log = () => {}): Promise<BuiltProgram> {
  const program = jaegerProgram();
  return buildOnce(program, log, async (tmp) => {
    const binary = join(tmp, 'jaeger');
    await run('go', ['build', '-trimpath', '-o', binary, JAEGER_PACKAGE], { cwd: JAEGER_MODULE_DIR, logFile: join(tmp, 'build.log') });
    return binary;
  });
}

/** Both builds, one after the other (two Go builds at once would only fight over the cores). */
export async function ensureBuilt(log: Log = () => {}): Promise<{ collector: BuiltProgram; jaeger: BuiltProgram }> {
  const collector = await ensureCollector(log);
  const jaeger = await ensureJaeger(log);
  return { collector, jaeger };
}
