#!/usr/bin/env node
// CPIP development OpenID provider.
//
// Serves a Keycloak realm-export JSON file (security/realm/cpip-realm.json) with the npm package
// `oidc-provider` under Keycloak's URL layout (/realms/<realm>/...), so python-keycloak and the
// gateway talk to it exactly as they talk to Keycloak in production. oidc-provider does the OpenID
// work (discovery, JWKS, authorization code + PKCE, client_credentials, refresh, ID tokens); the
// middleware below only adds what Keycloak does and oidc-provider refuses by design: the password
// grant, introspection/userinfo of JWT access tokens, logout with a refresh token, the realm info
// document and Keycloak's claims. Development and tests only: secrets come from the realm file.
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: argv } = parseArgs({
  options: {
    'realm-file': { type: 'string' }, host: { type: 'string' }, port: { type: 'string' },
    'public-url': { type: 'string' }, 'jwks-file': { type: 'string' },
  },
});
const env = process.env;
const defaultRealmFile = path.join(here, '..', 'security', 'realm', 'cpip-realm.json');
const realmFile = path.resolve(argv['realm-file'] ?? env.CPIP_IDP_REALM_FILE ?? defaultRealmFile);
const host = argv.host ?? env.CPIP_IDP_HOST ?? '127.0.0.1';
const port = Number(argv.port ?? env.CPIP_IDP_PORT ?? 8180);
const publicUrl = argv['public-url'] ?? env.CPIP_IDP_PUBLIC_URL;
const jwksFile = argv['jwks-file'] ?? env.CPIP_IDP_JWKS_FILE;

// ---------------------------------------------------------------- realm file
const realm = JSON.parse(readFileSync(realmFile, 'utf8'));
if (!realm.realm || realm.enabled === false) throw new Error(`${realmFile}: realm missing or disabled`);
const REALM = realm.realm;
const PREFIX = `/realms/${REALM}`;
const OIDC = '/protocol/openid-connect';
const RESOURCE = `urn:cpip:realm:${REALM}`; // the one resource indicator: "access tokens of this realm"
const ACCESS_TTL = realm.accessTokenLifespan ?? 300;
const IDLE_TTL = realm.ssoSessionIdleTimeout ?? 1800;
const MAX_TTL = realm.ssoSessionMaxLifespan ?? 36000;
const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'roles'];
const DEFAULT_SCOPES = ['profile', 'email']; // Keycloak's default client scopes, always applied

const clients = new Map((realm.clients ?? []).filter((c) => c.enabled !== false).map((c) => [c.clientId, c]));
const users = (realm.users ?? []).filter((u) => u.enabled !== false);
const usersById = new Map(users.map((u) => [u.id, u]));
const usersByName = new Map(users.filter((u) => !u.serviceAccountClientId).map((u) => [u.username.toLowerCase(), u]));
const serviceAccounts = new Map(
  users.filter((u) => u.serviceAccountClientId).map((u) => [u.serviceAccountClientId, u]),
);
const roleDefs = new Map((realm.roles?.realm ?? []).map((r) => [r.name, r]));

function rolesOf(user) { // realm roles, composites expanded
  const out = new Set();
  const visit = (name) => {
    if (out.has(name)) return;
    out.add(name);
    for (const child of roleDefs.get(name)?.composites?.realm ?? []) visit(child);
  };
  for (const name of user?.realmRoles ?? []) visit(name);
  return [...out];
}

function mappers(clientId) {
  return (clients.get(clientId)?.protocolMappers ?? [])
    .filter((m) => (m.protocol ?? 'openid-connect') === 'openid-connect');
}

const FLAG = {
  access_token: 'access.token.claim', id_token: 'id.token.claim',
  userinfo: 'userinfo.token.claim', introspection: 'introspection.token.claim',
};
const on = (m, use) => (m.config?.[FLAG[use]] ?? 'true') === 'true';

function mapperClaims(clientId, user, use) { // hardcoded-claim and user-attribute mappers
  const claims = {};
  for (const m of mappers(clientId)) {
    if (!on(m, use) || !m.config?.['claim.name']) continue;
    if (m.protocolMapper === 'oidc-hardcoded-claim-mapper') {
      claims[m.config['claim.name']] = m.config['claim.value'];
    } else if (m.protocolMapper === 'oidc-usermodel-attribute-mapper') {
      const values = user?.attributes?.[m.config['user.attribute']];
      if (values?.length) claims[m.config['claim.name']] = m.config.multivalued === 'true' ? values : values[0];
    }
  }
  return claims;
}

function audienceOf(clientId) {
  const aud = mappers(clientId).filter((m) => m.protocolMapper === 'oidc-audience-mapper' && on(m, 'access_token'))
    .map((m) => m.config['included.client.audience'] || m.config['included.custom.audience']).filter(Boolean);
  return [...new Set(aud)];
}

function profileClaims(user) { // Keycloak's "profile" and "email" default scopes
  const name = [user.firstName, user.lastName].filter(Boolean).join(' ');
  return Object.fromEntries(Object.entries({
    preferred_username: user.username, name: name || undefined, given_name: user.firstName,
    family_name: user.lastName, email: user.email,
    email_verified: user.email ? user.emailVerified === true : undefined,
  }).filter(([, v]) => v !== undefined));
}

const PROFILE_CLAIMS = ['preferred_username', 'name', 'given_name', 'family_name'];
const EMAIL_CLAIMS = ['email', 'email_verified'];
const mapperClaimNames = [...clients.values()].flatMap((c) => mappers(c.clientId))
  .map((m) => m.config?.['claim.name']).filter(Boolean);
// Keycloak releases profile, email and mapper claims whatever scope is asked for.
const OPENID_CLAIMS = [...new Set(['sub', ...PROFILE_CLAIMS, ...EMAIL_CLAIMS, ...mapperClaimNames])];

function passwordMatches(user, password) {
  if (typeof password !== 'string') return false;
  const creds = (user.credentials ?? []).filter((c) => c.type === 'password' && typeof c.value === 'string');
  return creds.some((c) => {
    const [a, b] = [Buffer.from(c.value), Buffer.from(password)];
    return a.length === b.length && crypto.timingSafeEqual(a, b);
  });
}

// Keycloak wildcards: '*' at the end of a path, ':*' for "any port" (development patterns).
function uriPattern(pattern) {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/:\*/g, ':[0-9]{1,5}').replace(/\*/g, '.*')}$`);
}
function redirectAllowed(clientId, value) {
  const url = URL.parse(value);
  if (!url || url.username || url.password || url.hash) return false;
  return (clients.get(clientId)?.redirectUris ?? []).some((p) => uriPattern(p).test(value));
}
const placeholder = (p) => p.replace(/:\*/g, '').replace(/\*+$/, '');

function toOidcClient(c) {
  if (c.bearerOnly || (c.protocol ?? 'openid-connect') !== 'openid-connect') return undefined;
  const grant_types = [];
  const response_types = [];
  if (c.standardFlowEnabled !== false) { grant_types.push('authorization_code'); response_types.push('code'); }
  if (c.directAccessGrantsEnabled) grant_types.push('password');
  if (c.serviceAccountsEnabled && !c.publicClient) grant_types.push('client_credentials');
  const userFlows = c.standardFlowEnabled !== false || c.directAccessGrantsEnabled;
  if (userFlows && c.attributes?.['use.refresh.tokens'] !== 'false') grant_types.push('refresh_token');
  const redirect_uris = [...new Set((c.redirectUris ?? []).map(placeholder).filter((u) => URL.canParse(u)))];
  return {
    client_id: c.clientId, client_name: c.name, grant_types, response_types, redirect_uris,
    post_logout_redirect_uris: redirect_uris,
    ...(c.publicClient
      ? { token_endpoint_auth_method: 'none' }
      : { client_secret: c.secret, token_endpoint_auth_method: 'client_secret_basic' }), // post is accepted too
  };
}

// ---------------------------------------------------------------- store (Map with expiry, no size cap)
const store = new Map(); // key -> { value, expiresAt }
const grantMembers = new Map(); // grantId -> Set<key>
function storeGet(key) {
  const entry = store.get(key);
  if (entry && entry.expiresAt <= Date.now()) { storeDelete(key); return undefined; }
  return entry?.value;
}
function storeDelete(key) {
  const entry = store.get(key);
  if (!entry) return;
  store.delete(key);
  const { value } = entry;
  if (value && typeof value === 'object') {
    if (value.grantId) grantMembers.get(value.grantId)?.delete(key);
    if (key.startsWith('Session:') && value.uid) store.delete(`sessionUid:${value.uid}`);
    if (value.userCode) store.delete(`userCode:${value.userCode}`);
  }
}
setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of store) if (entry.expiresAt <= now) storeDelete(key);
  for (const [grantId, keys] of grantMembers) if (!keys.size) grantMembers.delete(grantId);
}, 60_000).unref();

class MapAdapter {
  constructor(name) { this.name = name; }

  key(id) { return `${this.name}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    storeDelete(key);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(key, { value: payload, expiresAt });
    if (this.name === 'Session' && payload.uid) store.set(`sessionUid:${payload.uid}`, { value: id, expiresAt });
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, { value: id, expiresAt });
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
  }

  async find(id) { return storeGet(this.key(id)); }

  async findByUid(uid) { const id = storeGet(`sessionUid:${uid}`); return id && this.find(id); }

  async findByUserCode(code) { const id = storeGet(`userCode:${code}`); return id && this.find(id); }

  async consume(id) {
    const value = storeGet(this.key(id));
    if (value) value.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { storeDelete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) storeDelete(key);
    grantMembers.delete(grantId);
  }
}
const issuedTokens = new MapAdapter('IssuedAccessToken'); // JWT access tokens: jti -> who/what, for revocation

// ---------------------------------------------------------------- keys
function loadKeys() {
  if (jwksFile) { // private RSA JWKs; the first one signs
    const keys = JSON.parse(readFileSync(jwksFile, 'utf8')).keys.filter((k) => k.kty === 'RSA' && k.d);
    if (!keys.length) throw new Error(`${jwksFile}: no private RSA key`);
    const kidOf = (k) => crypto.createHash('sha256').update(k.n).digest('base64url');
    return keys.map((k) => ({ ...k, alg: k.alg ?? 'RS256', use: k.use ?? 'sig', kid: k.kid ?? kidOf(k) }));
  }
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return [{ ...jwk, kid: crypto.randomBytes(16).toString('base64url'), alg: 'RS256', use: 'sig' }];
}
const signingKeys = loadKeys();
const publicJwks = { keys: signingKeys.map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use })) };
const verifyKeys = jose.createLocalJWKSet(publicJwks);
const publicKeyDer = crypto.createPublicKey({ key: publicJwks.keys[0], format: 'jwk' })
  .export({ type: 'spki', format: 'der' }).toString('base64'); // GET /realms/<realm> "public_key"

// ---------------------------------------------------------------- listen first: the issuer needs the port
const server = http.createServer();
await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
const bound = server.address();
const hostPart = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
const base = (publicUrl ?? `http://${hostPart}:${bound.port}`).replace(/\/+$/, '');
const issuer = `${base}${PREFIX}`;

// ---------------------------------------------------------------- provider
async function findAccount(ctx, sub) {
  const user = usersById.get(sub);
  if (!user) return undefined;
  return {
    accountId: sub,
    async claims(use) {
      const clientId = ctx?.oidc?.client?.clientId;
      const mapped = mapperClaims(clientId, user, use === 'userinfo' ? 'userinfo' : 'id_token');
      return { sub, ...profileClaims(user), ...mapped };
    },
  };
}

function resourceServerInfo(clientId) {
  const lifespan = Number(clients.get(clientId)?.attributes?.['access.token.lifespan']) || ACCESS_TTL;
  return {
    scope: SCOPES.join(' '), audience: audienceOf(clientId)[0] ?? clientId,
    accessTokenFormat: 'jwt', accessTokenTTL: lifespan, jwt: { sign: { alg: 'RS256' } },
  };
}

// Keycloak's access token claims; also records the token so that logout can revoke it.
async function keycloakClaims(ctx, token, jwt) {
  const clientId = token.clientId;
  const user = token.accountId ? usersById.get(token.accountId) : serviceAccounts.get(clientId);
  const aud = audienceOf(clientId);
  const scope = [...new Set([...(jwt.payload.scope?.split(' ') ?? []), ...DEFAULT_SCOPES])].join(' ');
  jwt.header = { typ: 'JWT' };
  Object.assign(jwt.payload, {
    typ: 'Bearer', azp: clientId, aud: aud.length === 1 ? aud[0] : (aud.length ? aud : clientId), scope,
    ...(user ? { sub: user.id, realm_access: { roles: rolesOf(user) }, ...profileClaims(user) } : {}),
    ...(token.sid || token.sessionUid ? { sid: token.sid ?? token.sessionUid } : {}), // user session id
    ...mapperClaims(clientId, user, 'access_token'),
  });
  if (token.accountId) delete jwt.payload.client_id; // Keycloak sets client_id only on service-account tokens
  const { jti, exp } = jwt.payload;
  const { grantId, sessionUid, expiresWithSession } = token;
  const ttl = Math.max(exp - Math.floor(Date.now() / 1000), 1);
  await issuedTokens.upsert(jti, { jti, exp, clientId, grantId, sessionUid, expiresWithSession }, ttl);
}

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [...clients.values()].map(toOidcClient).filter(Boolean),
  jwks: { keys: signingKeys },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  findAccount,
  scopes: SCOPES,
  claims: { openid: OPENID_CLAIMS, profile: PROFILE_CLAIMS, email: EMAIL_CLAIMS },
  routes: {
    authorization: `${OIDC}/auth`, token: `${OIDC}/token`, jwks: `${OIDC}/certs`, userinfo: `${OIDC}/userinfo`,
    end_session: `${OIDC}/logout`, revocation: `${OIDC}/revoke`, introspection: `${OIDC}/token/introspect`,
    pushed_authorization_request: `${OIDC}/ext/par/request`,
  },
  responseTypes: ['code', 'none'],
  discovery: { introspection_endpoint: `${issuer}${OIDC}/token/introspect` },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false }, // served below: oidc-provider will not introspect JWT access tokens
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => (oneOf ? oneOf[0] : RESOURCE),
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource, client) => {
        if (resource !== RESOURCE) throw new errors.InvalidTarget();
        return resourceServerInfo(client.clientId);
      },
    },
  },
  formats: { customizers: { jwt: keycloakClaims } },
  interactions: { url: async (ctx, interaction) => `${PREFIX}/login-actions/${interaction.uid}` },
  pkce: {
    required: (ctx, client) => client.clientAuthMethod === 'none'
      || !!clients.get(client.clientId)?.attributes?.['pkce.code.challenge.method'],
  },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => realm.revokeRefreshToken === true,
  clientBasedCORS: (ctx, origin, client) => {
    const origins = clients.get(client.clientId)?.webOrigins ?? [];
    return origins.includes('*') || origins.includes(origin)
      || (origins.includes('+') && redirectAllowed(client.clientId, `${origin}/`));
  },
  ttl: {
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TTL,
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TTL,
    IdToken: ACCESS_TTL,
    RefreshToken: IDLE_TTL,
    AuthorizationCode: realm.accessCodeLifespan ?? 60,
    Interaction: realm.accessCodeLifespanLogin ?? 1800,
    Session: MAX_TTL,
    Grant: MAX_TTL,
  },
});
// Keycloak-style wildcard redirect URIs (oidc-provider's documented way: override the Client prototype).
provider.Client.prototype.redirectUriAllowed = function allowed(uri) { return redirectAllowed(this.clientId, uri); };
provider.Client.prototype.postLogoutRedirectUriAllowed = provider.Client.prototype.redirectUriAllowed;

// ---------------------------------------------------------------- password grant (Keycloak "direct access grants")
function oauthError(status, error, description) {
  const err = new errors.CustomOIDCProviderError(error, description);
  err.status = err.statusCode = status;
  return err;
}

provider.registerGrantType('password', async (ctx) => {
  const { client, params } = ctx.oidc;
  const user = usersByName.get(String(params.username ?? '').toLowerCase());
  if (!user || !passwordMatches(user, params.password)) {
    throw oauthError(401, 'invalid_grant', 'Invalid user credentials');
  }
  const account = await findAccount(ctx, user.id);
  const scopes = new Set((params.scope ?? '').split(' ').filter((s) => SCOPES.includes(s)));
  const scope = [...scopes].join(' ') || undefined;
  const sid = crypto.randomUUID(); // Keycloak opens a user session per password login
  const grant = new provider.Grant({ accountId: user.id, clientId: client.clientId });
  if (scope) { grant.addOIDCScope(scope); grant.addResourceScope(RESOURCE, scope); }
  const grantId = await grant.save();
  ctx.oidc.entity('Account', account);
  ctx.oidc.entity('Grant', grant);

  const at = new provider.AccessToken({ accountId: user.id, client, grantId, gty: 'password', scope, sid });
  at.resourceServer = new provider.ResourceServer(RESOURCE, resourceServerInfo(client.clientId));
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  let refreshToken;
  if (client.grantTypeAllowed('refresh_token')) {
    const rt = new provider.RefreshToken({
      accountId: user.id, client, grantId, gty: 'password', resource: RESOURCE, scope, sid, rotations: 0,
      authTime: Math.floor(Date.now() / 1000),
    });
    ctx.oidc.entity('RefreshToken', rt);
    refreshToken = await rt.save();
  }

  let idToken;
  if (scopes.has('openid')) {
    const token = new provider.IdToken({ ...await account.claims('id_token'), sub: user.id }, { ctx });
    token.scope = scope;
    token.set('sid', sid);
    idToken = await token.issue({ use: 'idtoken' });
  }
  ctx.body = {
    access_token: accessToken, expires_in: at.expiration, refresh_token: refreshToken, id_token: idToken,
    scope, token_type: 'Bearer',
  };
}, ['username', 'password', 'scope']);

// ---------------------------------------------------------------- Keycloak endpoints oidc-provider does not serve
async function readForm(ctx) {
  if (!ctx.is('application/x-www-form-urlencoded')) return {};
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > 64 * 1024) ctx.throw(413);
    chunks.push(chunk);
  }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

function fail(ctx, status, error, description) {
  ctx.status = status;
  ctx.body = { error, error_description: description };
}

function authenticateClient(ctx, form) { // client_secret_basic or client_secret_post; public clients by id only
  let clientId = form.client_id;
  let secret = form.client_secret;
  const header = ctx.get('authorization');
  if (/^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const unform = (s) => decodeURIComponent(s.replace(/\+/g, '%20'));
    if (i > 0) [clientId, secret] = [unform(decoded.slice(0, i)), unform(decoded.slice(i + 1))];
  }
  const client = clients.get(clientId);
  if (!client) return undefined;
  if (client.publicClient) return secret ? undefined : client;
  const [a, b] = [Buffer.from(String(client.secret ?? '')), Buffer.from(String(secret ?? ''))];
  return a.length > 0 && a.length === b.length && crypto.timingSafeEqual(a, b) ? client : undefined;
}

// A JWT access token is active while its signature, issuer and expiry hold and logout has not revoked it.
async function activeAccessToken(token) {
  try {
    const { payload } = await jose.jwtVerify(token, verifyKeys, { issuer, algorithms: ['RS256'], typ: 'JWT' });
    const record = payload.typ === 'Bearer' ? await issuedTokens.find(payload.jti) : undefined;
    if (!record) return undefined;
    const { expiresWithSession, sessionUid } = record;
    if (expiresWithSession && sessionUid && !await provider.Session.findByUid(sessionUid)) return undefined;
    return payload;
  } catch {
    return undefined;
  }
}

async function introspect(ctx) {
  const form = await readForm(ctx);
  const client = authenticateClient(ctx, form);
  if (!client || client.publicClient) return fail(ctx, 401, 'unauthorized_client', 'Authentication failed.');
  if (!form.token) return fail(ctx, 400, 'invalid_request', 'Token not provided.');
  const claims = await activeAccessToken(form.token);
  if (claims) {
    const { azp, preferred_username: username } = claims;
    ctx.body = { ...claims, client_id: azp, username, token_type: 'Bearer', active: true };
    return undefined;
  }
  const rt = await provider.RefreshToken.find(form.token);
  if (rt?.isValid && await provider.Grant.find(rt.grantId)) {
    const user = usersById.get(rt.accountId);
    ctx.body = {
      active: true, typ: 'Refresh', iss: issuer, sub: rt.accountId, azp: rt.clientId, client_id: rt.clientId,
      exp: rt.exp, iat: rt.iat, jti: rt.jti, scope: rt.scope, sid: rt.sid, username: user?.username,
    };
    return undefined;
  }
  ctx.body = { active: false };
  return undefined;
}

async function userinfo(ctx) {
  const form = ctx.method === 'POST' ? await readForm(ctx) : {};
  const [scheme, value] = ctx.get('authorization').split(' ');
  const token = scheme?.toLowerCase() === 'bearer' ? value : form.access_token;
  const claims = token && await activeAccessToken(token);
  const user = claims && usersById.get(claims.sub);
  if (!user) {
    const challenge = `Bearer realm="${REALM}", error="invalid_token", error_description="Token verification failed"`;
    ctx.set('WWW-Authenticate', challenge);
    return fail(ctx, 401, 'invalid_token', 'Token verification failed');
  }
  ctx.body = { sub: user.id, ...profileClaims(user), ...mapperClaims(claims.azp, user, 'userinfo') };
  return undefined;
}

// Keycloak's back-channel logout: POST client_id (+secret) and refresh_token ends that user session.
async function logout(ctx) {
  const form = await readForm(ctx);
  const client = authenticateClient(ctx, form);
  if (!client) return fail(ctx, 401, 'unauthorized_client', 'Invalid client or Invalid client credentials');
  if (!form.refresh_token) return fail(ctx, 400, 'invalid_request', 'No refresh token');
  const rt = await provider.RefreshToken.find(form.refresh_token, { ignoreExpiration: true });
  if (!rt || rt.clientId !== client.clientId) return fail(ctx, 400, 'invalid_grant', 'Invalid refresh token');
  const grantIds = new Set([rt.grantId]);
  const session = rt.sessionUid && await provider.Session.findByUid(rt.sessionUid);
  if (session) {
    for (const { grantId } of Object.values(session.authorizations ?? {})) if (grantId) grantIds.add(grantId);
    await session.destroy();
  }
  for (const grantId of grantIds) {
    await provider.Grant.adapter.revokeByGrantId(grantId); // every token of the grant, any model
    await provider.Grant.adapter.destroy(grantId);
  }
  ctx.status = 204;
  return undefined;
}

const html = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function loginPage(ctx, uid, clientName, username = '', error = '') {
  ctx.type = 'html';
  const title = html(realm.displayName ?? REALM);
  ctx.body = `<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>登录 ${title}</title></head>
<body><h1>${title}</h1><p>登录以继续访问 ${html(clientName)}</p>
${error ? `<p id="error" role="alert">${html(error)}</p>` : ''}
<form id="kc-form-login" method="post" action="${PREFIX}/login-actions/${html(uid)}">
<label>用户名 <input name="username" value="${html(username)}" autocomplete="username" autofocus></label>
<label>密码 <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">登录</button></form></body></html>`;
}

// Login form (demo passwords from the realm file); consent is granted without a page, as for a
// Keycloak client with consentRequired=false.
async function loginActions(ctx, uid) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  const { prompt, params, session } = details;
  const clientName = clients.get(params.client_id)?.name ?? params.client_id;
  let result;
  if (prompt.name === 'login') {
    if (ctx.method !== 'POST') return loginPage(ctx, uid, clientName);
    const form = await readForm(ctx);
    const user = usersByName.get(String(form.username ?? '').toLowerCase());
    if (!user || !passwordMatches(user, form.password)) {
      ctx.status = 401;
      return loginPage(ctx, uid, clientName, form.username, '用户名或密码错误 (Invalid username or password)');
    }
    result = { login: { accountId: user.id } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    ctx.throw(501, `prompt ${prompt.name} not supported`);
  }
  const mergeWithLastSubmission = prompt.name !== 'login';
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission });
  ctx.status = 303;
  ctx.redirect(returnTo);
  return undefined;
}

provider.use(async (ctx, next) => {
  const { path: p, method } = ctx;
  if (p === '/' && method === 'GET') {
    ctx.body = {
      realm: REALM, public_key: publicKeyDer, 'token-service': `${issuer}${OIDC}`,
      'account-service': `${issuer}/account`, 'tokens-not-before': 0,
    };
    return undefined;
  }
  if (p === `${OIDC}/token/introspect` && method === 'POST') return introspect(ctx);
  if (p === `${OIDC}/userinfo` && (method === 'GET' || method === 'POST')) return userinfo(ctx);
  if (p === `${OIDC}/logout` && method === 'POST') return logout(ctx);
  const login = /^\/login-actions\/([\w-]+)$/.exec(p);
  if (login && (method === 'GET' || method === 'POST')) return loginActions(ctx, login[1]);
  await next();
  if (p === `${OIDC}/token` && ctx.status === 200 && ctx.body?.access_token) { // Keycloak's extra response members
    const at = jose.decodeJwt(ctx.body.access_token);
    const rt = ctx.body.refresh_token && await provider.RefreshToken.find(ctx.body.refresh_token);
    Object.assign(ctx.body, {
      refresh_expires_in: rt ? Math.max(rt.exp - Math.floor(Date.now() / 1000), 0) : 0,
      'not-before-policy': 0, scope: at.scope, ...(at.sid ? { session_state: at.sid } : {}),
    });
  }
  return undefined;
});

// ---------------------------------------------------------------- HTTP: /realms/<realm>/... goes to the provider
const callback = provider.callback();
server.on('request', (req, res) => {
  const url = req.url ?? '/';
  if (url === PREFIX || url.startsWith(`${PREFIX}/`) || url.startsWith(`${PREFIX}?`)) {
    req.originalUrl = url; // oidc-provider derives its mount path from originalUrl, as under express
    req.url = url.slice(PREFIX.length) || '/';
    if (req.url.startsWith('?')) req.url = `/${req.url}`;
    callback(req, res);
    return;
  }
  const ready = url === '/health/ready' || url === '/health';
  res.writeHead(ready ? 200 : 404, { 'content-type': 'application/json' });
  res.end(JSON.stringify(ready ? { status: 'UP' } : { error: 'Realm does not exist' }));
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
process.stdout.write(`CPIP_IDP_LISTENING ${base}\n`);
