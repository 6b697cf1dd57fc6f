/**
 * A request body read whole, up to a limit: a manifest is small, and a client must not make the
 * endpoint buffer gigabytes. A declared Content-Length over the limit is refused before reading.
 */
import type { z } from "zod";
import { HttpError } from "./http-error.js";
import type { EndpointRequest } from "./http-types.js";

function tooLarge(limit: number): HttpError {
  // The rest of the body stays unread, so the connection cannot carry another request.
  return new HttpError(413, `request body too large (limit ${limit} bytes)`, { headers: { Connection: "close" } });
}

export async function readBody(req: EndpointRequest, limit: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && /^[0-9]+$/.test(declared) && Number(declared) > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge(limit);
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, size);
}

/** The body as UTF-8 text; bytes that are not UTF-8 are the client's mistake. */
export async function readTextBody(req: EndpointRequest, limit: number): Promise<string> {
  const bytes = await readBody(req, limit);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw new HttpError(400, "request body is not UTF-8 text", { cause: err });
  }
}

/** A JSON body checked against `schema`; a 400 names each field that is wrong. */
export async function readJsonBody<S extends z.ZodType>(req: EndpointRequest, limit: number, schema: S): Promise<z.infer<S>> {
  const text = await readTextBody(req, limit);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HttpError(400, "request body is not JSON");
  }
  const body = schema.safeParse(json);
  if (!body.success) throw new HttpError(400, body.error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message.replace(/^\w+: /, "")}` : i.message)).join("; "));
  return body.data;
}
