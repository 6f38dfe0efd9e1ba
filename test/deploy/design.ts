/*
 * The spans docs/design.md promises ("The trace of one turn"), read from the document itself,
 * so the alert checks follow the contract rather than a copy of it.
 */
import { modelSettings } from '../../src/config.ts';
import { readText } from './stack.ts';

export interface DesignSpan {
  service: string;
  /** As docs/design.md writes it, placeholders included: `chat {deployment}`. */
  name: string;
  /** INTERNAL, CLIENT, SERVER … */
  kind: string;
}

function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}`);
  if (start < 0) throw new Error(`docs/design.md has no "## ${heading}" section`);
  const next = markdown.indexOf('\n## ', start + 4);
  return markdown.slice(start, next < 0 ? undefined : next);
}

/** The rows of the span tree: `[service]  ├─ name   KIND   notes`. */
export function designSpans(markdown = readText('docs/design.md')): DesignSpan[] {
  const body = section(markdown, 'The trace of one turn');
  const tree = /```[^\n]*\n([\s\S]*?)```/.exec(body)?.[1];
  if (!tree) throw new Error('docs/design.md, "The trace of one turn": no span tree');
  const spans: DesignSpan[] = [];
  for (const line of tree.split('\n')) {
    const m = /^\[([a-z0-9-]+)\][\s│├└─]*(\S.*?)\s{2,}(INTERNAL|CLIENT|SERVER|PRODUCER|CONSUMER)\b/.exec(line);
    if (m) spans.push({ service: m[1] as string, name: m[2] as string, kind: m[3] as string });
  }
  if (spans.length === 0) throw new Error('docs/design.md, "The trace of one turn": no span rows recognised');
  return spans;
}

/** The MCP server's tools, from docs/design.md's "Tools (MCP server)". */
export function designTools(markdown = readText('docs/design.md')): string[] {
  const firstParagraph = section(markdown, 'Tools (MCP server)').split(/\n\s*\n/)[1] ?? '';
  const tools = [...firstParagraph.matchAll(/`([a-z_]+)`/g)].map((m) => m[1] as string);
  if (tools.length === 0) throw new Error('docs/design.md, "Tools (MCP server)": no tool names');
  return tools;
}

/**
 * Every concrete span a running Memento can produce from docs/design.md's rows: `{deployment}`
 * becomes the default deployment, and the example tool of a `tools/call` row becomes each
 * of the server's tools (the MCP convention names the span `{method} {tool}`).
 */
export function concreteSpans(markdown = readText('docs/design.md')): DesignSpan[] {
  const deployment = modelSettings({}).deployment;
  const tools = designTools(markdown);
  const out: DesignSpan[] = [];
  for (const span of designSpans(markdown)) {
    const name = span.name.replaceAll('{deployment}', deployment);
    if (name.startsWith('tools/call ')) {
      for (const tool of tools) out.push({ ...span, name: `tools/call ${tool}` });
    } else {
      out.push({ ...span, name });
    }
  }
  return out;
}
