import { createRequire } from 'node:module';

// The version lives only in package.json; everything else (resource attributes, /health,
// `--version`, the MCP server's serverInfo) reads it from here.
const pkg = createRequire(import.meta.url)('../package.json') as { name: string; version: string };

export const NAME: string = pkg.name;
export const VERSION: string = pkg.version;
