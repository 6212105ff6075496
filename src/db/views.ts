// A setting as GET /settings shows it: the schema with its type, one
// declaration (a leaf module: the Manager UI imports the type).
import { T, type Static } from '../api';

export const SettingView = T.Object({ label: T.String(), value: T.String({ description: 'secrets are shown masked' }), isDefault: T.Boolean(), choices: T.Optional(T.Array(T.String())) });
export type SettingView = Static<typeof SettingView>;
