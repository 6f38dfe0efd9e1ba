/*
 * Just enough PromQL reading to list what an expression depends on: the metrics it selects
 * (with their label matchers), the labels it aggregates by, and its comparison thresholds.
 * No PromQL parser ships with the project's dependencies; the expressions in
 * deploy/prometheus/alerts.yml are plain selectors, aggregations and comparisons, and
 * promtool (scripts/check-prometheus.sh) checks that they parse at all.
 */

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface Selector {
  metric: string;
  matchers: Matcher[];
}

const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
]);

export function parseMatchers(body: string): Matcher[] {
  const matchers: Matcher[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;
  for (const m of body.matchAll(re)) {
    matchers.push({ label: m[1] as string, op: m[2] as Matcher['op'], value: (m[3] as string).replace(/\\(.)/g, '$1') });
  }
  const rest = body.replace(re, '').replace(/[\s,]/g, '');
  if (rest) throw new Error(`unrecognised label matchers: {${body}}`);
  return matchers;
}

/** Metric selectors, with and without `{…}`. */
export function selectors(expr: string): Selector[] {
  const found: Selector[] = [];
  let rest = expr.replace(/([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}/g, (_m, metric: string, body: string) => {
    found.push({ metric, matchers: parseMatchers(body) });
    return ' ';
  });
  rest = rest
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  for (const m of rest.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const name = m[1] as string;
    if (m[2] || KEYWORDS.has(name) || /^(Inf|NaN)$/i.test(name)) continue;
    found.push({ metric: name, matchers: [] });
  }
  return found;
}

/** Labels named in `by (…)` / `without (…)` / `on (…)` / `ignoring (…)` clauses. */
export function groupingLabels(expr: string): string[] {
  const labels: string[] = [];
  for (const m of expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
    labels.push(...(m[1] as string).split(',').map((s) => s.trim()).filter(Boolean));
  }
  return labels;
}

/** The labels an aggregated result keeps: those of the outermost `sum by (…)`s, less `le`. */
export function resultLabels(expr: string): string[] {
  return [...new Set(groupingLabels(expr).filter((l) => l !== 'le'))];
}

/** Numbers an expression is compared against (`> 10000`, `>= 5`). */
export function thresholds(expr: string): number[] {
  return [...expr.matchAll(/(?:>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)/gi)].map((m) => Number(m[1]));
}

export function matches(matcher: Matcher, value: string | undefined): boolean {
  const v = value ?? '';
  switch (matcher.op) {
    case '=':
      return v === matcher.value;
    case '!=':
      return v !== matcher.value;
    case '=~':
      return new RegExp(`^(?:${matcher.value})$`).test(v);
    case '!~':
      return !new RegExp(`^(?:${matcher.value})$`).test(v);
  }
}

/** `name{a="b",c="d"}` as written in a promtool test's `series:` line. */
export function parseSeries(series: string): { metric: string; labels: Record<string, string> } {
  const m = /^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{([^}]*)\})?\s*$/.exec(series);
  if (!m) throw new Error(`not a series: ${series}`);
  const labels: Record<string, string> = {};
  for (const matcher of parseMatchers(m[2] ?? '')) {
    if (matcher.op !== '=') throw new Error(`a series has only label=value pairs: ${series}`);
    labels[matcher.label] = matcher.value;
  }
  return { metric: m[1] as string, labels };
}
