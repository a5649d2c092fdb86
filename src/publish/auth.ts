/**
 * Authentication on upgrade (DESIGN §5, pitfall 12): a JWT the CRM back end signs (HS256 with a
 * shared secret, or RS256/ES256 with a public key) or a per-user API key. Routing later trusts
 * only what this returns, never a client-chosen extension.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { importSPKI, jwtVerify, type CryptoKey } from "jose";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import type { DirectoryUser } from "../directory/users.js";
import { isApiTokenLive, looksLikeApiToken, verifyApiToken, type Role } from "./apiTokens.js";

export { createApiToken, listApiTokens, revokeApiToken, type ApiTokenInfo, type Role } from "./apiTokens.js";

export type { DirectoryUser };

/** What the server needs of the user directory (directory/users.ts implements it). */
export interface Directory {
  getUser(id: string): DirectoryUser | undefined;
  listUsers(): DirectoryUser[];
  /** Pick up changes another process wrote (the CLI); called before authenticating and on each heartbeat. */
  refresh?(): void;
}

export interface AuthedUser {
  userId: string;
  role: Role;
  /** Epoch ms of the token's `exp`; null for API keys (they live until revoked). */
  expiresAt: number | null;
  /** The API key id when authenticated by one (re-checked for revocation during the session). */
  tokenId: string | null;
  /** The user record (`uid`) the token was accepted for; the session ends when that record goes. */
  userUid?: string | null;
}

export type AuthResult = { ok: true; user: AuthedUser } | { ok: false; status: 401 | 403; reason: string };

/** The cluster's API keys (directory/keyMirror.ts, mirrored from NATS KV on a gateway). */
export interface SharedKeys {
  verify(token: string): { id: string; userId: string; role: Role; createdAt: string } | null;
  isLive(id: string): boolean;
}

export interface AuthDeps {
  config: Config;
  db: Db;
  directory: Directory;
  /** Keys beside the database's (a cluster gateway): tried when the database does not know the key. */
  keys?: SharedKeys;
  now?: () => number;
}

const BEARER_PROTOCOL = "bearer.";

/** The token from `Authorization: Bearer`, the `bearer.<token>` subprotocol, or `?token=` when enabled. */
export function extractToken(req: IncomingMessage, allowQuery: boolean): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1]!;
  }
  const protocols = req.headers["sec-websocket-protocol"];
  if (typeof protocols === "string") {
    for (const p of protocols.split(",")) {
      const t = p.trim();
      if (t.startsWith(BEARER_PROTOCOL) && t.length > BEARER_PROTOCOL.length) return t.slice(BEARER_PROTOCOL.length);
    }
  }
  if (allowQuery && req.url) {
    const q = new URL(req.url, "http://localhost").searchParams.get("token");
    if (q) return q;
  }
  return null;
}

/** Browsers always send Origin; non-browser clients usually do not, and are let through. */
export function originAllowed(req: IncomingMessage, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  return allowed.includes(origin);
}

/**
 * A JWT issued (`iat`) before an earlier record of the same user id was removed was meant for
 * that record. `iat` has whole seconds: issued in the second of the removal counts as before.
 * No `iat`: not decided here (`auth.jwtRequireIat` makes it required).
 */
function issuedBeforeRecord(iat: unknown, notBefore: string | undefined): boolean {
  if (typeof iat !== "number" || notBefore === undefined) return false;
  const removed = Date.parse(notBefore);
  return Number.isFinite(removed) && iat <= Math.floor(removed / 1000);
}

export interface Authenticator {
  /** Origin, token, signature, expiry and user checks for an HTTP upgrade or REST request. */
  authenticateRequest(req: IncomingMessage, opts?: { checkOrigin?: boolean; allowQuery?: boolean }): Promise<AuthResult>;
  authenticateToken(token: string): Promise<AuthResult>;
  /** Whether a session may continue (API key not revoked, the same user record still in the directory). */
  stillValid(user: AuthedUser): boolean;
  /** Pick up directory changes written by another process (once per heartbeat). */
  refresh(): void;
}

export function createAuthenticator(deps: AuthDeps): Authenticator {
  const { config, db, directory } = deps;
  const now = deps.now ?? Date.now;
  // Derived from `config.auth` again when a reload replaced it (a cluster gateway's SIGHUP).
  let keys: { of: Config["auth"]; secret: Uint8Array | null; pem: string | null; publicKeys: Map<string, Promise<CryptoKey>> } | null = null;
  const current = () => {
    if (keys?.of !== config.auth) {
      const a = config.auth;
      keys = { of: a, secret: a.jwtSecret ? new TextEncoder().encode(a.jwtSecret) : null, pem: a.jwtPublicKeyFile ? readFileSync(a.jwtPublicKeyFile, "utf8") : null, publicKeys: new Map() };
    }
    return keys;
  };
  current();

  function keyFor(alg: string): Promise<CryptoKey | Uint8Array> | null {
    const { secret, pem, publicKeys } = current();
    if (alg === "HS256") return secret ? Promise.resolve(secret) : null;
    if ((alg === "RS256" || alg === "ES256") && pem !== null) {
      let k = publicKeys.get(alg);
      if (!k) {
        k = importSPKI(pem, alg);
        publicKeys.set(alg, k);
      }
      return k;
    }
    return null;
  }

  async function verifyJwt(token: string): Promise<AuthResult> {
    try {
      const { payload } = await jwtVerify(token, async (header) => {
        const k = keyFor(header.alg);
        if (!k) throw new Error(`algorithm ${header.alg} not configured`);
        return k;
      }, {
        algorithms: ["HS256", "RS256", "ES256"],
        requiredClaims: config.auth.jwtRequireIat ? ["sub", "exp", "iat"] : ["sub", "exp"],
        currentDate: new Date(now()),
        ...(config.auth.jwtIssuer ? { issuer: config.auth.jwtIssuer } : {}),
        ...(config.auth.jwtAudience ? { audience: config.auth.jwtAudience } : {}),
      });
      const user = typeof payload.sub === "string" ? directory.getUser(payload.sub) : undefined;
      if (!user) return { ok: false, status: 401, reason: "unknown_user" };
      const claimed = payload.role;
      if (claimed !== undefined && claimed !== "agent" && claimed !== "supervisor") return { ok: false, status: 401, reason: "bad_role" };
      if (issuedBeforeRecord(payload.iat, user.notBefore)) return { ok: false, status: 401, reason: "stale_token" };
      const auth: AuthedUser = { userId: user.id, role: claimed ?? user.role, expiresAt: (payload.exp as number) * 1000, tokenId: null, userUid: user.uid ?? null };
      return { ok: true, user: auth };
    } catch (err) {
      const code = (err as { code?: string }).code;
      return { ok: false, status: 401, reason: code === "ERR_JWT_EXPIRED" ? "expired" : "invalid_token" };
    }
  }

  async function authenticateToken(token: string): Promise<AuthResult> {
    directory.refresh?.();
    if (looksLikeApiToken(token)) {
      const info = verifyApiToken(db, token);
      if (!info) return deps.keys ? sharedKey(deps.keys, token) : { ok: false, status: 401, reason: "invalid_token" };
      const user = directory.getUser(info.userId);
      if (!user) return { ok: false, status: 401, reason: "unknown_user" };
      // A key made for an earlier record of this user id (removed since) never opens the new one.
      if ((user.uid ?? null) !== info.userUid) return { ok: false, status: 401, reason: "stale_token" };
      // A key narrows the user's rights, never widens them: a supervisor key of a user who is
      // (or was demoted to) an agent in the directory acts as an agent.
      const role = info.role === "supervisor" && user.role === "supervisor" ? "supervisor" : "agent";
      return { ok: true, user: { userId: info.userId, role, expiresAt: null, tokenId: info.id, userUid: info.userUid } };
    }
    if (!current().secret && current().pem === null) return { ok: false, status: 401, reason: "jwt_not_configured" };
    return verifyJwt(token);
  }

  /**
   * A cluster key is bound to the user id, and like a JWT's `iat` to the records after its
   * creation: one created at or before an earlier record of this id was removed is refused.
   */
  function sharedKey(keys: SharedKeys, token: string): AuthResult {
    const k = keys.verify(token);
    if (!k) return { ok: false, status: 401, reason: "invalid_token" };
    const user = directory.getUser(k.userId);
    if (!user) return { ok: false, status: 401, reason: "unknown_user" };
    if (user.notBefore !== undefined && Date.parse(k.createdAt) <= Date.parse(user.notBefore)) return { ok: false, status: 401, reason: "stale_token" };
    const role = k.role === "supervisor" && user.role === "supervisor" ? "supervisor" : "agent";
    return { ok: true, user: { userId: k.userId, role, expiresAt: null, tokenId: k.id, userUid: user.uid ?? null } };
  }

  return {
    authenticateToken,
    async authenticateRequest(req, opts = {}) {
      if (opts.checkOrigin !== false && !originAllowed(req, config.server.allowedOrigins)) {
        return { ok: false, status: 403, reason: "origin" };
      }
      const token = extractToken(req, opts.allowQuery ?? config.server.allowQueryToken);
      if (!token) return { ok: false, status: 401, reason: "no_token" };
      return authenticateToken(token);
    },
    stillValid(user) {
      const u = directory.getUser(user.userId);
      if (!u || (u.uid ?? null) !== (user.userUid ?? null)) return false;
      // A supervisor session on an API key ends when the directory no longer says supervisor.
      if (user.tokenId !== null && user.role === "supervisor" && u.role !== "supervisor") return false;
      return user.tokenId === null || isApiTokenLive(db, user.tokenId) || (deps.keys?.isLive(user.tokenId) ?? false);
    },
    refresh() {
      directory.refresh?.();
    },
  };
}
