import { describe, expect, it } from "vitest";
import { camelKeys, parsePodConfig, PodConfigError } from "../../src/cri/pod-config-file.js";

describe("pod config files as crictl reads them", () => {
  it("turns the proto's snake_case field names into the client's, map keys untouched", () => {
    expect(
      camelKeys({
        log_directory: "/l",
        dns_config: { servers: ["1.1.1.1"] },
        port_mappings: [{ container_port: 80, host_ip: "0.0.0.0" }],
        labels: { app_name: "x" },
        annotations: { "io.kubernetes.cri_o.thing": "y" },
        linux: { cgroup_parent: "/p", sysctls: { "net.ipv4.ip_forward": "1" }, security_context: { namespace_options: { pid: 1 } } },
      }),
    ).toEqual({
      logDirectory: "/l",
      dnsConfig: { servers: ["1.1.1.1"] },
      portMappings: [{ containerPort: 80, hostIp: "0.0.0.0" }],
      labels: { app_name: "x" },
      annotations: { "io.kubernetes.cri_o.thing": "y" },
      linux: { cgroupParent: "/p", sysctls: { "net.ipv4.ip_forward": "1" }, securityContext: { namespaceOptions: { pid: 1 } } },
    });
  });

  it("reads JSON and YAML alike", () => {
    const json = parsePodConfig(JSON.stringify({ metadata: { name: "a", namespace: "n", uid: "u" }, log_directory: "/l" }), "p.json");
    const yaml = parsePodConfig("metadata:\n  name: a\n  namespace: n\n  uid: u\nlog_directory: /l\n", "p.yaml");
    expect(json).toEqual(yaml);
    expect(json).toEqual({ metadata: { name: "a", namespace: "n", uid: "u" }, logDirectory: "/l" });
  });

  it("names the file and the field that is wrong", () => {
    expect(() => parsePodConfig("metadata:\n  name: a\n  namespace: n\n", "p.yaml")).toThrow(/^p\.yaml: metadata\.uid: /);
    expect(() => parsePodConfig("{ metadata: [", "q.json")).toThrow(PodConfigError);
    expect(() => parsePodConfig("{ metadata: [", "q.json")).toThrow(/^q\.json: not JSON or YAML: /);
    expect(() => parsePodConfig('{"metadata": {"name": "a", "namespace": "n", "uid": "u"}, "labels": {"k": 1}}', "r.json")).toThrow(/^r\.json: labels\.k: /);
  });
});
