/**
 * The one error type the codec throws for bad input. It always knows the file and, where the fault
 * sits at a place in the bytes (or in the JSON text for encode), the byte offset, so a caller can
 * print one line that points at the problem.
 */
export class ImageFormatError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number | undefined,
    readonly detail: string,
  ) {
    super(`${file}${offset === undefined ? "" : ` at offset ${offset}`}: ${detail}`);
    this.name = "ImageFormatError";
  }
}

/** Thrown inside the wire and payload codecs, which see only bytes; framing adds the file name. */
export class WireError extends Error {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`offset ${offset}: ${detail}`);
    this.name = "WireError";
  }
}

export function atFile(file: string, err: unknown): never {
  if (err instanceof WireError) throw new ImageFormatError(file, err.offset, err.detail);
  throw err;
}
