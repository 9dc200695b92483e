/**
 * Secrets in configs: which fields hold one, and copies of a config with their values replaced,
 * for everything that stores or prints a config (run.db, reports, --print-config, errors).
 */

/** What a secret's value becomes wherever a config is stored or printed. */
export const REDACTED = '[redacted]';

// Matched against the whole field name, lower-cased, separators dropped. References to a secret
// (apiKeyEnv, tokenFile) name where it lives and are kept; counts such as maxTokens end in "tokens".
const SECRET_NAME = /(apikey|accesskey|privatekey|secretkey|token|password|passwd|passphrase|secret|authorization|credentials?|cookie|bearer)$/;

/** Whether a field of this name holds a secret (apiKey, token, password, Authorization, client_secret, ...). */
export function isSecretField(name: string): boolean {
  return SECRET_NAME.test(name.toLowerCase().replace(/[-_\s]/g, ''));
}

/** A deep copy of `value` with every secret field's value (at any depth) replaced by REDACTED. */
export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretField(k) && v !== undefined && v !== null ? REDACTED : redactSecrets(v);
  return out as T;
}

/**
 * A command line with the value of every `PATH=VALUE` argument whose field is a secret
 * (`--set gold.apiKey=KEY`) replaced by REDACTED, quoted values included.
 */
export function redactCommandLine(command: string): string {
  return command.replace(/(^|[\s='"])([A-Za-z_][\w.-]*)=('[^']*'|"[^"]*"|[^\s'"]+)/g, (all, pre: string, path: string) =>
    isSecretField(path.split('.').pop()!) ? `${pre}${path}=${REDACTED}` : all,
  );
}
