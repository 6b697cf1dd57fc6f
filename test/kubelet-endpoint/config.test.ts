/** The endpoint configuration schema: kubelet defaults and refusals that name the field. */
import { describe, expect, it } from "vitest";
import { EndpointConfigError, resolveEndpointConfig } from "../../src/kubelet-endpoint/config.js";
import { captureLog } from "./log-capture.js";

describe("endpoint configuration", () => {
  it("defaults to the kubelet's port, address and timeout, anonymous off, 1 MiB bodies", () => {
    expect(resolveEndpointConfig({})).toEqual({
      address: "0.0.0.0",
      port: 10250,
      certDir: "/var/lib/ckpt/pki",
      anonymousAuth: false,
      runtimeRequestTimeoutSeconds: 120,
      maxBodyBytes: 1024 * 1024,
    });
  });

  it("keeps a pino logger", () => {
    const { logger } = captureLog();
    expect(resolveEndpointConfig({ port: 0, logger }).logger).toBe(logger);
  });

  it("refuses what cannot work, naming the field", () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ port: 70000 }, /port/],
      [{ port: 1.5 }, /port/],
      [{ tlsCertFile: "/x.crt" }, /tlsCertFile and tlsKeyFile must be given together/],
      [{ runtimeRequestTimeoutSeconds: 0 }, /runtimeRequestTimeoutSeconds/],
      [{ anonymousAuth: "yes" }, /anonymousAuth/],
      [{ clientCaFile: "/ca.crt" }, /Unrecognized key: "clientCaFile"/],
      [{ logger: console }, /expected a pino logger/],
    ];
    for (const [config, message] of bad) {
      expect(() => resolveEndpointConfig(config as never), JSON.stringify(config)).toThrow(EndpointConfigError);
      expect(() => resolveEndpointConfig(config as never), JSON.stringify(config)).toThrow(message);
    }
  });
});
