/**
 * PostgreSQL array text (`{1,2}`, `{{a,"b c"},{NULL,"\"q\""}}`, `[0:1]={1,2}`) → nested JS arrays, each
 * non-NULL element passed through the element type's parser.
 */
export function parsePgArray(text: string, parseElement: (element: string) => unknown): unknown[] {
  // A lower bound other than 1 is written as a dimension decoration before '='; JSON arrays start at 0 anyway.
  const start = text.charCodeAt(0) === 91 /* [ */ ? text.indexOf('=') + 1 : 0;
  if (text.charCodeAt(start) !== 123 /* { */) throw new Error(`not a PostgreSQL array: ${text.slice(0, 40)}`);
  return parseLevel(text, start, parseElement).value;
}

function parseLevel(text: string, open: number, parseElement: (element: string) => unknown): { value: unknown[]; end: number } {
  const out: unknown[] = [];
  let i = open + 1;
  if (text.charCodeAt(i) === 125 /* } */) return { value: out, end: i + 1 };
  const n = text.length;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 123 /* { */) {
      const sub = parseLevel(text, i, parseElement);
      out.push(sub.value);
      i = sub.end;
    } else if (c === 34 /* " */) {
      let j = i + 1;
      let start = j;
      let element = '';
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 92 /* \ */) {
          element += text.slice(start, j);
          start = j + 1;
          j += 2;
        } else if (d === 34) {
          break;
        } else {
          j++;
        }
      }
      element += text.slice(start, j);
      out.push(parseElement(element));
      i = j + 1;
    } else {
      let j = i;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 44 /* , */ || d === 125 /* } */) break;
        j++;
      }
      const element = text.slice(i, j);
      out.push(element === 'NULL' ? null : parseElement(element));
      i = j;
    }
    const sep = text.charCodeAt(i);
    if (sep === 44) {
      i++;
    } else if (sep === 125) {
      return { value: out, end: i + 1 };
    } else {
      throw new Error(`malformed PostgreSQL array near position ${i}: ${text.slice(0, 40)}`);
    }
  }
}
