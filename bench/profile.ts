/*
 * Sums up V8 CPU profiles (`BENCH_CPU_PROF=<dir> npm run bench -- …` writes one per benchmark
 * process): self time per package or Memento source file, and optionally the hottest functions
 * whose location contains a given text. This is how the causes in bench/history/ were found.
 *
 *   node bench/profile.ts <dir or .cpuprofile> [top=30] [function filter]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  startTime: number;
  endTime: number;
}

function category(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native/builtin)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/((?:src|bench)\/[^?#]+)$/.exec(url);
  if (own) return own[1]!;
  if (url.startsWith('node:')) return url.split('/')[0]!;
  return url.slice(0, 60);
}

const [target, topArg, filter] = process.argv.slice(2);
if (!target) {
  process.stderr.write('usage: node bench/profile.ts <dir or .cpuprofile> [top] [function filter]\n');
  process.exit(2);
}
/** The profiles in `dir` and in its subdirectories (one per benchmark process, see bench/lib/child.ts). */
function profilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? profilesUnder(join(dir, e.name)) : e.name.endsWith('.cpuprofile') ? [join(dir, e.name)] : [],
  );
}
const files = statSync(target).isDirectory() ? profilesUnder(target) : [target];
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const usPerSample = (profile.endTime - profile.startTime) / profile.samples.length;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const hits = new Map<number, number>();
  for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, n] of hits) {
    const node = byId.get(id)!;
    const cat = category(node.callFrame.url, node.callFrame.functionName);
    categories.set(cat, (categories.get(cat) ?? 0) + n * usPerSample);
    const fn = `${cat} ${node.callFrame.functionName || '(anonymous)'}:${node.callFrame.lineNumber}`;
    functions.set(fn, (functions.get(fn) ?? 0) + n * usPerSample);
  }
  const busy = [...categories].filter(([k]) => k !== '(idle)').reduce((s, [, v]) => s + v, 0);
  process.stdout.write(`\n${file}: ${(busy / 1000).toFixed(0)} ms busy\n`);
  for (const [k, v] of [...categories].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 30))) {
    process.stdout.write(`${(v / 1000).toFixed(1).padStart(9)} ms  ${k}\n`);
  }
  if (filter) {
    process.stdout.write(`  functions matching "${filter}":\n`);
    for (const [k, v] of [...functions].filter(([k]) => k.includes(filter)).sort((a, b) => b[1] - a[1]).slice(0, 30)) {
      process.stdout.write(`${(v / 1000).toFixed(1).padStart(9)} ms  ${k}\n`);
    }
  }
}
