/**
 * A small RFC 4180 CSV reader: quoted fields (with `""` escapes, commas and line breaks
 * inside), CRLF or LF line ends, a leading UTF-8 BOM. Each record keeps the line number it
 * started on so an import can report "line 7: …" the way a spreadsheet user counts.
 */

export interface CsvRecord {
  /** 1-based line number where the record starts. */
  line: number;
  fields: string[];
}

export interface CsvProblem {
  line: number;
  message: string;
}

export interface CsvResult {
  records: CsvRecord[];
  /** Records that could not be read (an unterminated quote); they are not in `records`. */
  problems: CsvProblem[];
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const CR = 0x0d;
const LF = 0x0a;

/** Parse CSV text. Blank lines are skipped; the delimiter is the comma. */
export function parseCsv(input: string): CsvResult {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const records: CsvRecord[] = [];
  const problems: CsvProblem[] = [];
  const len = text.length;
  let pos = 0;
  let line = 1;
  while (pos < len) {
    const startLine = line;
    const fields: string[] = [];
    let field = "";
    let bad: string | null = null;
    let quotedAny = false;
    // One record: fields until an unquoted line break or the end of the text.
    for (;;) {
      if (pos < len && text.charCodeAt(pos) === QUOTE) {
        quotedAny = true;
        pos++;
        let closed = false;
        while (pos < len) {
          const c = text.charCodeAt(pos);
          if (c === QUOTE) {
            if (text.charCodeAt(pos + 1) === QUOTE) {
              field += '"';
              pos += 2;
              continue;
            }
            pos++;
            closed = true;
            break;
          }
          if (c === LF) line++;
          field += text[pos];
          pos++;
        }
        if (!closed) {
          bad = "unterminated quoted field";
          break;
        }
        // Text between the closing quote and the next delimiter is kept, as spreadsheets do.
      }
      while (pos < len) {
        const c = text.charCodeAt(pos);
        if (c === COMMA || c === CR || c === LF) break;
        field += text[pos];
        pos++;
      }
      fields.push(field);
      field = "";
      if (pos >= len) break;
      const c = text.charCodeAt(pos);
      if (c === COMMA) {
        pos++;
        continue;
      }
      // Line end: CRLF, LF or a lone CR.
      pos += c === CR && text.charCodeAt(pos + 1) === LF ? 2 : 1;
      line++;
      break;
    }
    if (bad !== null) {
      problems.push({ line: startLine, message: bad });
      break;
    }
    const blank = !quotedAny && fields.length === 1 && fields[0]!.trim() === "";
    if (!blank) records.push({ line: startLine, fields });
  }
  return { records, problems };
}
