// Test-only OpenID Provider (panva/oidc-provider) for davgate's integration tests
// (tests/it/oidc_op.rs starts it). Never in production: any login signs in, the client secret
// is public, and POST /_test/* changes what it answers.
//
// Environment: OP_HOST (127.0.0.2), OP_PORT (0 = a free one), OP_CLIENT_ID (davgate),
// OP_CLIENT_SECRET (test-secret), OP_REDIRECT_URIS (comma-separated), OP_USERS (JSON: login ->
// claims; {"disabled":true} refuses the login), OP_CONFORM=1 (scope claims in userinfo only),
// OP_LIFETIME_SECONDS (900).
// The first stdout line is "test OP listening: <issuer>"; tests read the issuer there.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import { generateKeyPair, exportJWK, calculateJwkThumbprint, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';

// Bounded life: a killed test (no Drop run) must never leave this process behind. It ends when
// its standard input closes (the test process is gone) and after OP_LIFETIME_SECONDS anyway.
const lifetime = Number(process.env.OP_LIFETIME_SECONDS ?? 900);
setTimeout(() => process.exit(0), lifetime * 1000).unref();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

// 127.0.0.2, not davgate's 127.0.0.1: another site for the browser, as a real IdP is (SameSite
// ignores ports, so another port would hide the cookie bugs).
const host = process.env.OP_HOST ?? '127.0.0.2';
const server = createServer();
await new Promise((ok) => server.listen(Number(process.env.OP_PORT ?? 0), host, ok));
const issuer = `http://${host}:${server.address().port}`;
const users = JSON.parse(process.env.OP_USERS ?? '{}');
let tamper = null; // POST /_test/tamper: merged into the next ID token's payload, then re-signed

// A fresh RS256 key; its kid is its thumbprint, so a rotated key is an unknown kid to the RP.
async function newKey() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { privateKey, jwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

// One Provider per signing key. Rotating builds a new one with a new key and swaps it in.
// Sessions, codes, grants and refresh tokens must survive the swap, as they do across a real
// provider's key rotation: given its own MemoryAdapter class, oidc-provider would make a store
// per instance; a subclass uses the module-wide one (lib/adapters/memory_adapter.js of the
// pinned 9.13.3).
class SharedMemoryAdapter extends MemoryAdapter {}
function makeProvider(key) {
  const provider = new Provider(issuer, {
    clients: [{
      client_id: process.env.OP_CLIENT_ID ?? 'davgate',
      client_secret: process.env.OP_CLIENT_SECRET ?? 'test-secret',
      redirect_uris: (process.env.OP_REDIRECT_URIS ?? 'http://127.0.0.1:8080/auth/oidc/callback').split(','),
      grant_types: ['authorization_code', 'refresh_token'],
    }],
    adapter: SharedMemoryAdapter,
    jwks: { keys: [key.jwk] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'], groups: ['groups'] },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    conformIdTokenClaims: process.env.OP_CONFORM === '1', // default here: email/groups also in the ID token
    pkce: { required: () => true },
    ttl: { IdToken: 300, AccessToken: 300, RefreshToken: 86400, Session: 600 },
    cookies: { keys: ['test-only-not-secret'] },
    features: { devInteractions: { enabled: true } }, // login form: any login (= sub), any password
    // A refresh token at every sign-in, not tied to the OP's browser session, as Entra ID or
    // Keycloak give one for offline_access (oidc-provider keeps that scope only with
    // prompt=consent): the refresh-token check must see the OP's answer about the user.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    async loadExistingGrant(ctx) { // first-party client: consent implied
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
      await grant.save();
      return grant;
    },
    async findAccount(ctx, sub) {
      const claims = users[sub] ?? { email: `${sub}@example.com`, email_verified: true, groups: [] };
      if (claims.disabled) return undefined;
      return { accountId: sub, claims: async () => ({ sub, preferred_username: sub, name: sub, ...claims }) };
    },
  });
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path.startsWith('/_test/')) {
      let body = '';
      for await (const c of ctx.req) body += c;
      const data = JSON.parse(body || '{}');
      if (ctx.path === '/_test/tamper') tamper = data;                 // {"iss":"http://evil"}, {"exp":1000000000}
      else if (ctx.path === '/_test/user') users[data.login] = data.claims; // {"login":"bob","claims":{"disabled":true}}
      else if (ctx.path === '/_test/rotate') await rotate();           // a new signing key, the old one gone
      else { ctx.status = 404; return; }
      ctx.status = 204;
      return;
    }
    await next();
    if (ctx.path === '/token' && tamper && ctx.body?.id_token) {
      const payload = { ...decodeJwt(ctx.body.id_token), ...tamper };
      const header = decodeProtectedHeader(ctx.body.id_token);
      ctx.body = { ...ctx.body, id_token: await new SignJWT(payload).setProtectedHeader(header).sign(key.privateKey) };
      tamper = null;
    }
  });
  // Why the provider refused, on stderr (TestOp::log shows it in failure messages).
  provider.on('server_error', (ctx, err) => console.error('test OP server_error:', err));
  provider.on('grant.error', (ctx, err) => console.error('test OP grant.error:', err.error_detail ?? err.message));
  return provider.callback();
}

let handler = makeProvider(await newKey());
async function rotate() {
  handler = makeProvider(await newKey());
}
server.on('request', (req, res) => handler(req, res));
console.log(`test OP listening: ${issuer}`);
