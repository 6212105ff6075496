// The Manager transport's own answers: the schema with its type, one
// declaration (a leaf module: the Manager UI imports the type).
import { T, type Static } from '../api';

/** What logging in and GET /session answer. */
export const SessionView = T.Object({ csrf: T.String({ description: 'send it as X-CSRF-Token on every change' }), mustChangePassword: T.Boolean() });
export type SessionView = Static<typeof SessionView>;
