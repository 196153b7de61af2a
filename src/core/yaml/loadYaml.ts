// The one loader for YAML (and JSON) documents users send: VMFiles and VMCompose files get the same
// bounds — size, nesting, alias expansion — and every problem comes back as an Issue with its line,
// never as an exception (an exception here used to surface as UNKNOWN "Excessive alias count").
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { Issue } from '../errors.js';

export const YAML_LIMITS = {
  /** Bytes of text (UTF-8). Both formats are a few kilobytes; cloud-init payloads are files, not inline. */
  maxBytes: 1 << 20,
  /** Collections inside collections. Real documents nest below 10; deep nesting costs the parser quadratic time. */
  maxDepth: 64,
  /** Values created by expanding aliases ("billion laughs"), as the yaml package counts them. */
  maxAliasCount: 100,
  /** Syntax errors reported; the rest only repeat the first ones. */
  maxErrors: 20,
} as const;

export interface YamlOptions {
  /** What the text is, for messages: "a VMFile", "a VMCompose file". */
  what: string;
  /** false: any alias is an error (a VMFile has no use for them). */
  aliases: boolean;
}

export interface ParsedYaml {
  /** Absent when the text was refused before parsing (too large, too deep). */
  doc?: Document.Parsed;
  lineCounter: LineCounter;
  errors: Issue[];
  warnings: Issue[];
}

/** Step 1: text → YAML document, with the size, nesting and alias rules applied. */
export function parseYaml(text: string, opts: YamlOptions): ParsedYaml {
  const lineCounter = new LineCounter();
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  const refuse = (message: string, line?: number): ParsedYaml => ({ lineCounter, errors: [issue('', message, line, 'error')], warnings });
  if (typeof text !== 'string') return refuse(`${opts.what} must be text`);
  const bytes = Buffer.byteLength(text);
  if (bytes > YAML_LIMITS.maxBytes) return refuse(`${opts.what} is ${bytes} bytes; at most ${YAML_LIMITS.maxBytes} are accepted`);
  // Before parsing: the parser's own cost grows with the square of the nesting.
  const deep = nestingOverLimit(text);
  if (deep) return refuse(`${opts.what} nests deeper than ${YAML_LIMITS.maxDepth} levels`, deep.line);

  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true, stringKeys: true });
  } catch (err) {
    return refuse(`${opts.what} cannot be parsed: ${(err as Error).message}`);
  }
  const lineOf = (pos: number) => lineCounter.linePos(pos).line;
  for (const e of doc.errors.slice(0, YAML_LIMITS.maxErrors)) errors.push(issue('', `YAML: ${firstLine(e.message)}`, lineOf(e.pos[0]), 'error'));
  for (const w of doc.warnings.slice(0, YAML_LIMITS.maxErrors)) warnings.push(issue('', `YAML: ${firstLine(w.message)}`, lineOf(w.pos[0]), 'warning'));
  if (errors.length) return { doc, lineCounter, errors, warnings };

  const tooDeep = deepestNode(doc, lineCounter);
  if (tooDeep) errors.push(issue(tooDeep.path, `${opts.what} nests deeper than ${YAML_LIMITS.maxDepth} levels`, tooDeep.line, 'error'));
  if (!opts.aliases) {
    const a = firstAlias(doc, lineCounter);
    if (a) errors.push(issue(a.path, `YAML aliases (*${a.source}) are not supported in ${opts.what}; write the value out`, a.line, 'error'));
  }
  return { doc, lineCounter, errors, warnings };
}

/** Step 2: the document as plain data, alias expansion bounded. Call after any edits to the document. */
export function yamlValue(parsed: ParsedYaml & { doc: Document.Parsed }, what: string): { value?: unknown; error?: Issue } {
  try {
    return { value: parsed.doc.toJS({ maxAliasCount: YAML_LIMITS.maxAliasCount }) };
  } catch (err) {
    const a = firstAlias(parsed.doc, parsed.lineCounter);
    const excessive = /alias/i.test((err as Error).message);
    const message = excessive
      ? `YAML aliases in ${what} expand to more than ${YAML_LIMITS.maxAliasCount} values; write the values out`
      : `${what} cannot be read: ${firstLine((err as Error).message)}`;
    return { error: issue(a?.path ?? '', message, a?.line, 'error') };
  }
}

/** Both steps, for callers that do not edit the document in between. */
export function loadYaml(text: string, opts: YamlOptions): ParsedYaml & { value?: unknown } {
  const parsed = parseYaml(text, opts);
  if (parsed.errors.length || !parsed.doc) return parsed;
  const { value, error } = yamlValue(parsed as ParsedYaml & { doc: Document.Parsed }, opts.what);
  return error ? { ...parsed, errors: [error] } : { ...parsed, value };
}

const issue = (path: string, message: string, line: number | undefined, severity: 'error' | 'warning'): Issue =>
  (line === undefined ? { path, message, severity } : { path, message, line, severity });

const firstLine = (s: string) => s.split('\n')[0] ?? '';

/**
 * A cheap upper bound of the nesting, from the raw text: open flow brackets, and block indicators
 * ("- - - x") stacked on one line. Quoted brackets count too — an over-count only matters past 64.
 */
function nestingOverLimit(text: string): { line: number } | undefined {
  let flow = 0;
  let line = 1;
  let lineStart = true;
  let compact = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      lineStart = true;
      compact = 0;
      continue;
    }
    if (c === 91 || c === 123) {
      if (++flow > YAML_LIMITS.maxDepth) return { line };
    } else if (c === 93 || c === 125) {
      if (flow > 0) flow--;
    }
    if (lineStart) {
      if (c === 32 || c === 9) continue;
      // "- " and "? " at the start of a line (after other such indicators) each open a block collection.
      if ((c === 45 || c === 63) && (text.charCodeAt(i + 1) === 32 || text.charCodeAt(i + 1) === 9)) {
        if (++compact > YAML_LIMITS.maxDepth) return { line };
        continue;
      }
      lineStart = false;
    }
  }
  return undefined;
}

/** The first node nested deeper than the limit (indentation can still nest deep), walked without recursion. */
function deepestNode(doc: Document.Parsed, lc: LineCounter): { path: string; line?: number } | undefined {
  const stack: Array<{ node: unknown; depth: number }> = [{ node: doc.contents, depth: 0 }];
  while (stack.length) {
    const { node, depth } = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth >= YAML_LIMITS.maxDepth) return { path: '', line: node.range ? lc.linePos(node.range[0]).line : undefined };
    for (const item of node.items as unknown[]) {
      if (isPair(item)) {
        stack.push({ node: item.key, depth: depth + 1 });
        stack.push({ node: item.value, depth: depth + 1 });
      } else stack.push({ node: item, depth: depth + 1 });
    }
  }
  return undefined;
}

function firstAlias(doc: Document.Parsed, lc: LineCounter): { source: string; path: string; line?: number } | undefined {
  let found: { source: string; path: string; line?: number } | undefined;
  visit(doc, {
    Alias(_key, node, ancestors) {
      const range = (node as Node).range;
      found = { source: String(node.source).slice(0, 64), path: pathOf(ancestors, node), line: range ? lc.linePos(range[0]).line : undefined };
      return visit.BREAK;
    },
  });
  return found;
}

/** The field path (a.b[2].c) of a node from the visitor's ancestors. */
function pathOf(ancestors: readonly unknown[], node: unknown): string {
  let out = '';
  const chain = [...ancestors, node];
  for (let i = 0; i < chain.length - 1; i++) {
    const parent = chain[i];
    const child = chain[i + 1];
    if (isPair(parent) && child === parent.value) {
      const k = isScalar(parent.key) ? String(parent.key.value) : '?';
      out = out ? `${out}.${k}` : k;
    } else if (isSeq(parent)) {
      out += `[${parent.items.indexOf(child as never)}]`;
    }
  }
  return out;
}
