/**
 * A small iCalendar (RFC 5545) writer: only what feeds need. Written here because the rules are short and exact
 * (TEXT escaping, folding at 75 octets without splitting a UTF-8 character, UTC times) and no iCalendar library
 * is a runtime dependency (ical.js, which the tests parse feeds with, is a dev dependency only).
 */

/** TEXT value escaping (RFC 5545 §3.3.11): backslash, semicolon, comma, and every newline as `\n`. */
export function escapeText(value: string): string {
  return (
    value
      .replace(/\\/g, '\\\\')
      .replace(/;/g, '\\;')
      .replace(/,/g, '\\,')
      .replace(/\r\n|\r|\n/g, '\\n')
      // TEXT may hold no control character but tab (§3.3.11); newlines were escaped just above.
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '')
  );
}

/** DATE-TIME in UTC, the form every client accepts without a VTIMEZONE: 20260501T093000Z. */
export function utc(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

const encoder = new TextEncoder();
const LIMIT = 75;

/**
 * Folds a content line so no physical line exceeds 75 octets (RFC 5545 §3.1), continuation lines starting with
 * one space; a multi-byte UTF-8 character is never split (so Hangul, 3 octets each, stays whole).
 */
export function foldLine(line: string): string {
  if (encoder.encode(line).length <= LIMIT) return line;
  const out: string[] = [];
  let current = '';
  let octets = 0;
  // The leading space of a continuation line counts towards its 75 octets.
  let room = LIMIT;
  for (const char of line) {
    const size = encoder.encode(char).length;
    if (octets + size > room) {
      out.push(current);
      current = ' ';
      octets = 1;
      room = LIMIT;
    }
    current += char;
    octets += size;
  }
  out.push(current);
  return out.join('\r\n');
}

/** A property whose value is already in its final form (escaped TEXT, a UTC time, a number). */
export interface Property {
  name: string;
  params?: Record<string, string>;
  value: string;
}

export const text = (name: string, value: string): Property => ({ name, value: escapeText(value) });
export const dateTime = (name: string, value: Date): Property => ({ name, value: utc(value) });
export const raw = (name: string, value: string | number): Property => ({ name, value: String(value) });

function contentLine(p: Property): string {
  const params = Object.entries(p.params ?? {})
    .map(([k, v]) => `;${k}=${v}`)
    .join('');
  return foldLine(`${p.name}${params}:${p.value}`);
}

export interface Component {
  name: string;
  properties: Property[];
  components?: Component[];
}

/** Serializes a component tree with CRLF line endings, the last line terminated too. */
export function serialize(root: Component): string {
  const lines: string[] = [];
  const walk = (c: Component) => {
    lines.push(`BEGIN:${c.name}`);
    for (const p of c.properties) lines.push(contentLine(p));
    for (const child of c.components ?? []) walk(child);
    lines.push(`END:${c.name}`);
  };
  walk(root);
  return `${lines.join('\r\n')}\r\n`;
}
