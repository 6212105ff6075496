// The PBX login (AppWebsocket, DESIGN.md): challenge, digest check in constant
// time, AppLoginResult with the instance domain, the session key, and
// throttling of failed logins per remote address. Pure; the webserver runs it.
export { digestMatches, loginDigest, newChallenge, sessionKey, type Identity } from './digest';
export { INITIAL_LOGIN, loginStep, type LoginConfig, type LoginOutcome, type LoginState } from './machine';
export { DEFAULT_THROTTLE, LoginThrottle, type ThrottleOptions } from './throttle';
