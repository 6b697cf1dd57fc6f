/**
 * CSV records as Go's encoding/csv reads them with its defaults (the Kubernetes static token file
 * is read that way): comma-separated, double-quoted fields may hold commas, newlines and "" for a
 * quote, a bare quote in an unquoted field is an error, blank lines are skipped, \r\n ends a line
 * too, spaces are kept. Small enough that a dependency would be larger than the code.
 */

export class CsvError extends Error {
  override name = "CsvError";
}

export interface CsvRecord {
  /** 1-based line where the record starts. */
  line: number;
  fields: string[];
}

export function parseCsv(text: string): CsvRecord[] {
  const src = text.replace(/\r\n/g, "\n");
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  while (i < src.length) {
    if (src[i] === "\n") {
      line++;
      i++;
      continue;
    }
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let field = "";
      if (src[i] === '"') {
        i++;
        for (;;) {
          if (i >= src.length) throw new CsvError(`line ${start}: quoted field is not closed`);
          const c = src[i]!;
          if (c === '"') {
            if (src[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === "\n") line++;
          field += c;
          i++;
        }
        if (i < src.length && src[i] !== "," && src[i] !== "\n") {
          throw new CsvError(`line ${line}: extraneous or missing " in quoted field`);
        }
      } else {
        while (i < src.length && src[i] !== "," && src[i] !== "\n") {
          if (src[i] === '"') throw new CsvError(`line ${line}: bare " in non-quoted field`);
          field += src[i];
          i++;
        }
      }
      fields.push(field);
      if (src[i] === ",") {
        i++;
        continue;
      }
      break;
    }
    records.push({ line: start, fields });
  }
  return records;
}
