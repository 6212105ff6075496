// What the API says of the served certificate: the schema with its type, one
// declaration (a leaf module: the Manager UI imports the type).
import { T, type Static } from '../api';

export const CertificateView = T.Object({
  subject: T.String({ description: 'one line' }),
  issuer: T.String({ description: 'one line' }),
  validTo: T.String({ format: 'date-time' }),
  custom: T.Boolean({ description: 'uploaded, not the self-signed default' }),
  fingerprint256: T.String(),
});
export type CertificateView = Static<typeof CertificateView>;
