/**
 * A strict JSON parser for untrusted headers (safetensors). Unlike `JSON.parse` it rejects
 * duplicate object keys (which `JSON.parse` silently resolves to the last one), limits nesting
 * depth, and returns objects as `Map`s so no key can touch `Object.prototype`.
 *
 * Result types: object -> Map<string, JsonValue>, array -> JsonValue[], string, number, boolean, null.
 */

import { corrupt } from './errors';

export type JsonValue = null | boolean | number | string | JsonValue[] | Map<string, JsonValue>;

const MAX_DEPTH = 64;

/** Parses `text`; throws `ERR_CHECKPOINT_CORRUPT` prefixed with `what` on any error. */
export function parseJsonStrict(text: string, what: string): JsonValue {
  let pos = 0;
  const fail = (msg: string): never => corrupt(`${what}: ${msg} at character ${pos}`);
  const ws = (): void => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };
  const str = (): string => {
    pos++; // opening quote
    let out = '';
    let run = pos;
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(run, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(run, pos);
      const e = text[pos + 1];
      pos += 2;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const hex = text.slice(pos, pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 4;
          break;
        }
        default:
          fail('bad escape');
      }
      run = pos;
    }
  };
  const num = (): number => {
    const m = /-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y;
    m.lastIndex = pos;
    const r = m.exec(text);
    if (!r || r[0].length === 0 || r[0] === '-') fail('bad number');
    pos += (r as RegExpExecArray)[0].length;
    return Number((r as RegExpExecArray)[0]);
  };
  const value = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    ws();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj = new Map<string, JsonValue>();
      ws();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[pos] !== '"') fail('expected a key');
        const k = str();
        if (obj.has(k)) fail(`duplicate key "${k.slice(0, 80)}"`);
        ws();
        if (text[pos] !== ':') fail('expected ":"');
        pos++;
        obj.set(k, value(depth + 1));
        ws();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      pos++;
      const arr: JsonValue[] = [];
      ws();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith('false', pos)) {
      pos += 5;
      return false;
    }
    if (text.startsWith('null', pos)) {
      pos += 4;
      return null;
    }
    return num();
  };
  const v = value(0);
  ws();
  if (pos !== text.length) fail('trailing characters');
  return v;
}
