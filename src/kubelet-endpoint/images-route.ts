/**
 * POST /images/pull and POST /images/push: what a migration asks of the two nodes when the target
 * may not reach the container's base image. The target is asked to pull it; if it cannot, the
 * source pushes its own copy, unchanged, to a registry both reach. Neither is a kubelet route.
 */
import { z } from "zod";
import { jsonResponse, type EndpointResponse } from "./http-types.js";
import { readJsonBody } from "./request-body.js";
import type { RouteContext } from "./route-context.js";

/** A non-empty string field; `what` is also the message when it is missing. */
const text = (what: string) => z.string({ error: what }).min(1, what);
const PullBody = z.object({ image: text("image: an image reference") }).strict();
const PushBody = z.object({ image: text("image: an image reference this node has"), target: text("target: a registry reference (HOST/REPO:TAG)") }).strict();

export async function pullImageRoute(ctx: RouteContext): Promise<EndpointResponse> {
  const { image } = await readJsonBody(ctx.req, ctx.settings.maxBodyBytes, PullBody);
  ctx.note.target = image;
  return jsonResponse(200, await ctx.backend.pullImage(image));
}

export async function pushImageRoute(ctx: RouteContext): Promise<EndpointResponse> {
  const { image, target } = await readJsonBody(ctx.req, ctx.settings.maxBodyBytes, PushBody);
  ctx.note.target = `${image} → ${target}`;
  return jsonResponse(200, await ctx.backend.pushImage(image, target));
}
