/**
 * What `ckpt scan` looks for. A rule is plain data (it is sent to the scanning threads as it is): a
 * JavaScript regular expression over bytes read as latin1, whose named group `secret` (or the whole
 * match) is the secret, and the literal anchors that must occur in any match (found case-insensitively
 * in one pass before the expression runs; a rule without anchors runs its expression everywhere).
 * Where the pattern alone is weak, a minimum Shannon entropy of the secret keeps out words and
 * placeholders.
 */

export interface ScanRule {
  id: string;
  description: string;
  pattern: string;
  /** "" or "i". */
  flags: string;
  /**
   * Lower-case literals, one of which every match contains (empty: run the pattern everywhere).
   * Short ones cost: the single pass over the bytes slows down with each anchor under 4 characters
   * that has letters (those without letters, like "://", are searched apart, and cheaply).
   */
  anchors: string[];
  /** How far before its anchor a match may start. */
  back: number;
  /** Bits per character the secret must reach. */
  minEntropy?: number;
  /** Bits per character the secret must stay under (a rule for what another's floor keeps out). */
  maxEntropy?: number;
  /** Drop values that are obviously not secrets (placeholders, format strings, variables). */
  rejectPlaceholders?: boolean;
}

/**
 * The longest match a rule makes: the built-in rules' quantifiers are bounded to stay within it (a
 * JWT whose header carries a certificate chain, a 8192-bit RSA key in PEM is about 6.5 KB), and
 * every source is scanned in pieces that overlap by this much, so that no match is cut. A user
 * rule's longer match is cut here.
 */
export const MAX_MATCH = 16384;

export const BUILTIN_RULES: readonly ScanRule[] = [
  {
    id: "aws-access-key-id",
    description: "AWS access key ID",
    pattern: String.raw`(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Z0-9])`,
    flags: "",
    anchors: ["akia", "asia", "abia", "acca"],
    back: 0,
    minEntropy: 3,
  },
  {
    id: "aws-secret-access-key",
    description: "AWS secret access key next to its name",
    pattern: String.raw`(?:aws_?)?secret_?access_?key["']?\s*[:=]\s*["']?(?<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])`,
    flags: "i",
    anchors: ["secret_access_key", "secretaccesskey"],
    back: 4,
    minEntropy: 3.5,
  },
  {
    id: "gcp-service-account-key",
    description: "GCP service account private key (JSON key file)",
    pattern: String.raw`"private_key"\s*:\s*"(?<secret>-----BEGIN PRIVATE KEY-----\\n[A-Za-z0-9+/=\\n]{64,8000}?-----END PRIVATE KEY-----(?:\\n)?)"`,
    flags: "",
    anchors: ["private_key"],
    back: 1,
  },
  {
    id: "private-key",
    description: "PEM private key",
    pattern: String.raw`-----BEGIN (?<kind>(?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?)PRIVATE KEY-----\s*(?<secret>[A-Za-z0-9+/=][A-Za-z0-9+/=\s:,-]{63,8000}?)\s*-----END \k<kind>PRIVATE KEY-----`,
    flags: "",
    anchors: ["-----begin"],
    back: 0,
  },
  {
    id: "jwt",
    description: "JSON Web Token",
    // Header, payload and signature, each base64url; a header may carry a certificate chain (x5c).
    pattern: String.raw`(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,8000}\.eyJ[A-Za-z0-9_-]{8,6000}\.[A-Za-z0-9_-]{16,2000}`,
    flags: "",
    anchors: ["eyj"],
    back: 0,
    minEntropy: 3.5,
  },
  {
    id: "github-token",
    description: "GitHub token",
    pattern: String.raw`(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})(?![A-Za-z0-9_])`,
    flags: "",
    anchors: ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
    back: 0,
    minEntropy: 3,
  },
  {
    id: "gitlab-token",
    description: "GitLab personal access token",
    pattern: String.raw`(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,64}(?![A-Za-z0-9_-])`,
    flags: "",
    anchors: ["glpat-"],
    back: 0,
    minEntropy: 3,
  },
  {
    id: "slack-token",
    description: "Slack token",
    pattern: String.raw`(?<![A-Za-z0-9])xox[abposr]-(?:[0-9]{8,13}-){1,3}[A-Za-z0-9-]{8,64}(?![A-Za-z0-9-])`,
    flags: "",
    anchors: ["xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-"],
    back: 0,
    minEntropy: 3,
  },
  {
    id: "slack-webhook",
    description: "Slack incoming webhook URL",
    pattern: String.raw`https://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}`,
    flags: "",
    anchors: ["hooks.slack.com/services/"],
    back: 8,
  },
  {
    id: "password-assignment",
    description: "password=… or password: … assignment",
    // pwd= (connection strings: "Uid=app;Pwd=…") but not a path: PWD=/home/… is the working directory.
    pattern: String.raw`(?:(?:password|passwd|passphrase)["']?\s{0,4}[:=]|(?<![A-Za-z0-9])pwd["']?\s{0,4}=(?=\s{0,4}["']?[^\s"'/~.]))\s{0,4}["']?(?<secret>[^\s"'\x60&;,<>(){}\[\]\\\x00-\x1f\x7f-\xff]{6,128})`,
    flags: "i",
    anchors: ["passw", "passphrase", "pwd"],
    back: 0,
    // Docstrings hold "passwd: Results…"-like prose: a word is not a password.
    minEntropy: 3,
    rejectPlaceholders: true,
  },
  {
    id: "weak-password",
    description: "password=… with a short or simple value (a weak or default password)",
    // What password-assignment's entropy floor keeps out, where the key says it is a password: an
    // explicit password=, passwd= or pwd= (a command line, an environment variable, a URL query).
    // Not a path (PWD=/home/…) nor code (password=self.password, password=os.environ[…]).
    pattern: String.raw`(?:passw(?:or)?d|(?<![A-Za-z0-9])pwd)["']?\s{0,4}=\s{0,4}["']?(?<secret>(?![/~.])(?![A-Za-z_]\w*\.[A-Za-z_])[^\s"'\x60&;,<>(){}\[\]\\\x00-\x1f\x7f-\xff]{4,128})`,
    flags: "i",
    anchors: ["passw", "pwd"],
    back: 0,
    maxEntropy: 3,
    rejectPlaceholders: true,
  },
  {
    id: "authorization-bearer",
    description: "Authorization: Bearer credential",
    pattern: String.raw`(?<![A-Za-z])Bearer\s+(?<secret>[A-Za-z0-9._~+/-]{20,8000}={0,3})`,
    flags: "i",
    anchors: ["bearer"],
    back: 0,
    minEntropy: 3,
  },
  {
    id: "url-password",
    description: "password in a URL (scheme://user:password@host)",
    pattern: String.raw`(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:@/"'<>\x00-\x1f]{1,64}:(?<secret>[^\s:@/"'<>\x00-\x1f]{3,128})@[A-Za-z0-9.-]{1,253}`,
    flags: "",
    anchors: ["://"],
    back: 22,
    minEntropy: 2.5,
    rejectPlaceholders: true,
  },
];

const PLACEHOLDERS = new Set([
  ...["password", "passwd", "passphrase", "pass", "pwd", "secret", "changeme", "example", "xxxxxx", "null", "none", "undefined", "true", "false"],
  ...["required", "string", "hidden", "redacted", "placeholder", "dummy", "your_password", "yourpassword", "your-password", "default", "empty", "unset"],
]);

/** Values that look like a form, a variable or a template rather than a secret. */
export function isPlaceholder(value: string): boolean {
  if (/^[%$*<{#]/.test(value) || /^(.)\1+$/.test(value)) return true;
  return PLACEHOLDERS.has(value.toLowerCase());
}

/** A literal as a regular expression that matches just it. */
export function escapeRegex(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
