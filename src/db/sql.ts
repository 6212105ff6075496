// PostgreSQL helpers that instances and backup both use. Quoting for the
// statements PostgreSQL cannot take parameters in (CREATE DATABASE, ALTER
// USER … PASSWORD, GRANT): identifiers and literals are quoted the way libpq's
// PQescapeIdentifier and PQescapeLiteral do, so a name or password holding
// quotes or backslashes is data, never SQL. SQLSTATE: errors told apart by
// their code, never by their text.

/** "name" with embedded double quotes doubled; NUL is refused (PostgreSQL cannot store it). */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new Error('an SQL identifier cannot contain NUL');
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * 'value' with single quotes doubled; when it holds a backslash, an E'' string
 * with backslashes doubled, which reads the same whatever
 * standard_conforming_strings says.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('an SQL literal cannot contain NUL');
  const body = value.replace(/'/g, "''");
  return value.includes('\\') ? ` E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}

/** The SQLSTATE of a PostgreSQL error, or null. */
export function sqlState(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}

/** SQLSTATEs the provisioning branches on. */
export const SQLSTATE = {
  duplicateDatabase: '42P04',
  duplicateObject: '42710',
  uniqueViolation: '23505',
  invalidCatalogName: '3D000',
  undefinedObject: '42704',
  invalidPassword: '28P01',
  invalidAuthorization: '28000',
} as const;
