// A small XML tree, parser and serializer: enough for libvirt's domain/network/capabilities XML
// (elements, attributes, text, comments, CDATA; no DTDs). Names keep their prefix (`vmr:labels`).
import { InvalidArgumentError } from '../../../plugin-api/index.js';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Builds an element; `undefined`/`null` attributes and children are dropped, numbers/booleans stringified. */
export function el(
  name: string,
  attrs: Record<string, string | number | boolean | undefined | null> = {},
  ...children: (XmlNode | undefined | null | false | (XmlNode | undefined | null | false)[])[]
): XmlElement {
  const a: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) a[k] = String(v);
  const kids: XmlNode[] = [];
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) kids.push(c);
  return { name, attrs: a, children: kids };
}

/** Serializes with two-space indentation (elements holding only text stay on one line). */
export function toXml(e: XmlElement, indent = 0): string {
  const pad = '  '.repeat(indent);
  const attrs = Object.entries(e.attrs).map(([k, v]) => ` ${k}="${escapeXml(v)}"`).join('');
  if (e.children.length === 0) return `${pad}<${e.name}${attrs}/>`;
  if (e.children.every((c) => typeof c === 'string')) {
    return `${pad}<${e.name}${attrs}>${escapeXml((e.children as string[]).join(''))}</${e.name}>`;
  }
  const inner = e.children
    .map((c) => (typeof c === 'string' ? (c.trim() ? `${pad}  ${escapeXml(c.trim())}` : '') : toXml(c, indent + 1)))
    .filter(Boolean)
    .join('\n');
  return `${pad}<${e.name}${attrs}>\n${inner}\n${pad}</${e.name}>`;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, ent: string) => {
    if (ent[0] === '#') {
      const cp = ent[1] === 'x' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return Number.isFinite(cp) ? String.fromCodePoint(cp) : m;
    }
    return ENTITIES[ent] ?? m;
  });
}

/** Parses a document and returns its root element; malformed input → InvalidArgumentError. */
export function parseXml(text: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`malformed XML at offset ${i}: ${why}`);
  };
  const addText = (t: string) => {
    const top = stack[stack.length - 1];
    if (top) top.children.push(t);
    else if (t.trim()) bad('text outside the root element');
  };
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt < 0) {
      addText(decodeEntities(text.slice(i)));
      break;
    }
    if (lt > i) addText(decodeEntities(text.slice(i, lt)));
    i = lt;
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      if (end < 0) bad('unterminated comment');
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i + 9);
      if (end < 0) bad('unterminated CDATA');
      addText(text.slice(i + 9, end));
      i = end + 3;
    } else if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i + 2);
      if (end < 0) bad('unterminated processing instruction');
      i = end + 2;
    } else if (text.startsWith('<!', i)) {
      const end = text.indexOf('>', i + 2);
      if (end < 0) bad('unterminated declaration');
      i = end + 1;
    } else if (text.startsWith('</', i)) {
      const end = text.indexOf('>', i + 2);
      if (end < 0) bad('unterminated end tag');
      const name = text.slice(i + 2, end).trim();
      const top = stack.pop();
      if (!top || top.name !== name) bad(`unexpected </${name}>${top ? `, expected </${top.name}>` : ''}`);
      i = end + 1;
    } else {
      const m = /^<([A-Za-z_][\w.:-]*)/.exec(text.slice(i, i + 256));
      if (!m) bad('bad start tag');
      const e: XmlElement = { name: m![1], attrs: {}, children: [] };
      i += m![0].length;
      for (;;) {
        while (/\s/.test(text[i] ?? '')) i++;
        if (text.startsWith('/>', i)) {
          i += 2;
          attach(e);
          break;
        }
        if (text[i] === '>') {
          i++;
          attach(e);
          stack.push(e);
          break;
        }
        const am = /^([A-Za-z_][\w.:-]*)\s*=\s*("([^"]*)"|'([^']*)')/.exec(text.slice(i, i + 65536));
        if (!am) bad(`bad attribute in <${e.name}>`);
        e.attrs[am![1]] = decodeEntities(am![3] ?? am![4]);
        i += am![0].length;
      }
    }
  }
  if (stack.length) bad(`unclosed <${stack[stack.length - 1].name}>`);
  if (!root) bad('no root element');
  return root!;

  function attach(e: XmlElement) {
    const top = stack[stack.length - 1];
    if (top) top.children.push(e);
    else if (root) bad('more than one root element');
    else root = e;
  }
}

/** Child elements, optionally only those named `name`. */
export function children(e: XmlElement | undefined, name?: string): XmlElement[] {
  if (!e) return [];
  return e.children.filter((c): c is XmlElement => typeof c !== 'string' && (name === undefined || c.name === name));
}

/** The first child element named `name`. */
export function child(e: XmlElement | undefined, name: string): XmlElement | undefined {
  return children(e, name)[0];
}

/** Follows a `a/b/c` path of child names; the first match at each step. */
export function find(e: XmlElement | undefined, path: string): XmlElement | undefined {
  let cur = e;
  for (const part of path.split('/').filter(Boolean)) cur = child(cur, part);
  return cur;
}

/** Every element matching a `a/b/c` path (all matches at every step). */
export function findAll(e: XmlElement | undefined, path: string): XmlElement[] {
  let cur: XmlElement[] = e ? [e] : [];
  for (const part of path.split('/').filter(Boolean)) cur = cur.flatMap((x) => children(x, part));
  return cur;
}

/** Concatenated text content (direct text children only), trimmed. */
export function text(e: XmlElement | undefined): string {
  if (!e) return '';
  return e.children.filter((c): c is string => typeof c === 'string').join('').trim();
}

export function attr(e: XmlElement | undefined, name: string): string | undefined {
  return e?.attrs[name];
}
