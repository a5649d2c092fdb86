export declare const SECRET_VARIABLES: readonly string[];
export declare function applySecretFiles(env: Record<string, string | undefined>): string[];
