// API tokens (docs/api.md): what lets scripts, Prometheus and the PBX
// Manager's App Installer call the admin API without a browser session. The
// administrator makes them named, scoped, revocable and optionally expiring;
// the manager database keeps only their SHA-256; the Manager's transport
// checks them (Authorization: Bearer) and their scope before anything runs.
export { tokenRoutes } from './api';
export { readsMetrics, scopeRefusal } from './scopes';
export { ApiTokens, MAX_TOKENS, type ApiTokensOptions, type Grant, type TokenThrottle } from './store';
export { bearerToken, mintToken, parseToken, secretHash, secretMatches } from './token';
export { SCOPES, type Scope, type TokenCreated, type TokenView } from './views';
