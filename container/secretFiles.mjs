/**
 * Secrets from files for the container image (Docker/Compose/Kubernetes secrets): for each
 * CTIBRIDGE_<NAME>_FILE, the file's content (trimmed, as ami.secretFile) becomes
 * CTIBRIDGE_<NAME>, which src/config.ts reads. Setting both the variable and its _FILE is
 * ambiguous and refused; an unreadable file is an error naming the variable and the path.
 */
import { readFileSync } from "node:fs";

export const SECRET_VARIABLES = ["CTIBRIDGE_AMI_SECRET", "CTIBRIDGE_JWT_SECRET", "CTIBRIDGE_METRICS_TOKEN"];

/** Fills `env` in place; returns the problems (empty: all good). */
export function applySecretFiles(env) {
  const problems = [];
  for (const name of SECRET_VARIABLES) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    if (env[name]) {
      problems.push(`${name} and ${name}_FILE are both set: use one`);
      continue;
    }
    try {
      env[name] = readFileSync(file, "utf8").trim();
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file} (${err.code ?? err.message})`);
    }
  }
  return problems;
}
