// What a restore lets a dump do. The checksum of a backup proves only that the
// file is whole, not who wrote it: anyone can recompute it. So a restore reads
// the dump's table of contents (`pg_restore --list`) and its SQL (`pg_restore
// -f -`) first and refuses what an instance's own role could never have made,
// and pg_restore then runs as a role without rights (restore.ts): these checks
// name what is wrong; the role is what makes a missed trick harmless.
import { ApError } from '../errors';

/** One line of `pg_restore --list`: "<id>; <catalog oid> <oid> <TYPE> <schema> <name> <owner>". */
export interface TocEntry {
  readonly id: number;
  readonly type: string;
  /** Schema ("-" for none). */
  readonly schema: string;
  /** What follows the schema: the name and the owner, as pg_restore prints them. */
  readonly rest: string;
  /** The line as listed, for `pg_restore -L`. */
  readonly line: string;
}

// Longest first, so "TABLE DATA" is not read as "TABLE".
const KNOWN_TYPES = [
  'MATERIALIZED VIEW DATA', 'TEXT SEARCH CONFIGURATION', 'TEXT SEARCH DICTIONARY', 'TEXT SEARCH TEMPLATE', 'TEXT SEARCH PARSER',
  'FOREIGN DATA WRAPPER', 'PROCEDURAL LANGUAGE', 'PUBLICATION TABLES IN SCHEMA', 'PUBLICATION TABLE', 'SEQUENCE OWNED BY',
  'MATERIALIZED VIEW', 'DATABASE PROPERTIES', 'OPERATOR CLASS', 'OPERATOR FAMILY', 'CHECK CONSTRAINT', 'FK CONSTRAINT', 'EVENT TRIGGER',
  'FOREIGN TABLE', 'ACCESS METHOD', 'LARGE OBJECT', 'BLOB METADATA', 'INDEX ATTACH', 'ROW SECURITY', 'SEQUENCE SET', 'USER MAPPING',
  'DEFAULT ACL', 'SHELL TYPE', 'TABLE DATA', 'TABLE ATTACH', 'SUBSCRIPTION TABLE', 'SUBSCRIPTION', 'PUBLICATION', 'CONSTRAINT', 'CONVERSION',
  'STATISTICS', 'COLLATION', 'EXTENSION', 'AGGREGATE', 'PROCEDURE', 'TRANSFORM', 'SEARCHPATH', 'STDSTRINGS', 'ENCODING', 'FUNCTION',
  'SEQUENCE', 'OPERATOR', 'DATABASE', 'TRIGGER', 'COMMENT', 'DEFAULT', 'DOMAIN', 'SCHEMA', 'SERVER', 'POLICY', 'TABLE', 'INDEX', 'BLOBS',
  'BLOB', 'VIEW', 'RULE', 'TYPE', 'CAST', 'ACL', 'SECURITY LABEL',
].sort((a, b) => b.length - a.length);

/** Parses `pg_restore --list` output; comment lines are skipped. Unknown types are kept as "?<text>" so the audit refuses them. */
export function parseToc(text: string): TocEntry[] {
  const entries: TocEntry[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+); \d+ \d+ (.*)$/.exec(line);
    if (!match) continue;
    const body = match[2]!;
    const type = KNOWN_TYPES.find((t) => body === t || body.startsWith(`${t} `));
    const after = type ? body.slice(type.length + 1) : body;
    const space = after.indexOf(' ');
    entries.push({
      id: Number(match[1]),
      type: type ?? `?${body.split(' ')[0] ?? ''}`,
      schema: space < 0 ? after : after.slice(0, space),
      rest: space < 0 ? '' : after.slice(space + 1),
      line,
    });
  }
  return entries;
}

/**
 * Entry types a restore runs in an instance database: what pg_dump writes for
 * objects the database's owning role can make itself (tables and their data,
 * views, sequences, functions in trusted languages, triggers, types…).
 */
const INSTANCE_TYPES = new Set([
  'SCHEMA', 'TABLE', 'TABLE DATA', 'TABLE ATTACH', 'SEQUENCE', 'SEQUENCE SET', 'SEQUENCE OWNED BY', 'VIEW', 'MATERIALIZED VIEW',
  'MATERIALIZED VIEW DATA', 'INDEX', 'INDEX ATTACH', 'CONSTRAINT', 'CHECK CONSTRAINT', 'FK CONSTRAINT', 'DEFAULT', 'FUNCTION',
  'PROCEDURE', 'AGGREGATE', 'TRIGGER', 'RULE', 'COMMENT', 'TYPE', 'DOMAIN', 'COLLATION', 'OPERATOR', 'STATISTICS', 'POLICY',
  'ROW SECURITY', 'TEXT SEARCH CONFIGURATION', 'TEXT SEARCH DICTIONARY', 'BLOB', 'BLOBS', 'BLOB METADATA', 'LARGE OBJECT', 'EXTENSION',
]);

/** Left out of every restore (`--no-acl`, no --create): grants and the database itself are the supervisor's to set. */
const SKIPPED_TYPES = new Set(['ACL', 'DEFAULT ACL', 'DATABASE', 'DATABASE PROPERTIES', 'ENCODING', 'STDSTRINGS', 'SEARCHPATH', 'SECURITY LABEL']);

/** PostgreSQL's trusted extensions: those a database owner may create without being superuser. */
export const TRUSTED_EXTENSIONS = new Set([
  'plpgsql', 'btree_gin', 'btree_gist', 'citext', 'cube', 'dict_int', 'fuzzystrmatch', 'hstore', 'intarray', 'isn', 'lo', 'ltree',
  'pgcrypto', 'pg_trgm', 'seg', 'tablefunc', 'tcn', 'tsm_system_rows', 'tsm_system_time', 'unaccent', 'uuid-ossp',
]);

function refused(what: string, entries: readonly string[]): ApError {
  const shown = entries.slice(0, 5).join('; ') + (entries.length > 5 ? `; and ${entries.length - 5} more` : '');
  return new ApError('BAD_BACKUP', `${what}: ${shown}. Nothing was restored; a backup made by an App Platform never holds these, so the file was made or changed by someone else`);
}

/** The entries to restore from an instance dump (`pg_restore -L`); throws BAD_BACKUP naming every entry an instance role could not have made. */
export function auditInstanceToc(entries: readonly TocEntry[]): TocEntry[] {
  const bad: string[] = [];
  const keep: TocEntry[] = [];
  for (const entry of entries) {
    if (SKIPPED_TYPES.has(entry.type)) continue;
    const name = entry.rest.split(' ')[0] ?? '';
    if (!INSTANCE_TYPES.has(entry.type)) bad.push(`entry ${entry.id} ${entry.type} ${entry.schema} ${entry.rest}`.trim());
    else if (entry.type === 'EXTENSION' && !TRUSTED_EXTENSIONS.has(name)) bad.push(`entry ${entry.id} EXTENSION ${name} (not one an instance can install)`);
    else keep.push(entry);
  }
  if (bad.length) throw refused('the backup holds what an instance database cannot', bad);
  return keep;
}

/**
 * The entries to restore from a Manager dump: only the data of the manager
 * schema's own tables and sequences (`tables`, `sequences`, in schema public),
 * restored into tables the supervisor made itself. Everything else a Manager
 * dump holds (its tables' definitions, indexes, constraints) is not run;
 * entries of a kind it never holds are refused.
 */
export function auditManagerToc(entries: readonly TocEntry[], tables: ReadonlySet<string>, sequences: ReadonlySet<string>): TocEntry[] {
  const bad: string[] = [];
  const keep: TocEntry[] = [];
  const harmless = new Set(['TABLE', 'SEQUENCE', 'SEQUENCE OWNED BY', 'INDEX', 'CONSTRAINT', 'CHECK CONSTRAINT', 'FK CONSTRAINT', 'DEFAULT', 'COMMENT']);
  for (const entry of entries) {
    if (SKIPPED_TYPES.has(entry.type) || harmless.has(entry.type)) continue;
    const name = entry.rest.split(' ')[0] ?? '';
    if (entry.type === 'TABLE DATA' && entry.schema === 'public' && name === 'schema_migrations') continue; // the scratch database's own record is kept
    if (entry.type === 'TABLE DATA' && entry.schema === 'public' && tables.has(name)) keep.push(entry);
    else if (entry.type === 'SEQUENCE SET' && entry.schema === 'public' && sequences.has(name)) keep.push(entry);
    else bad.push(`entry ${entry.id} ${entry.type} ${entry.schema} ${entry.rest}`.trim());
  }
  if (bad.length) throw refused('the Manager backup holds what the manager schema does not', bad);
  return keep;
}

/**
 * Statements no dump of an instance or of the Manager contains and that a
 * restore must never run: a change of role back to the superuser, programs
 * and server files run or read by the database server, untrusted languages.
 */
const FORBIDDEN: readonly [RegExp, string][] = [
  [/\b(?:re)?set\s+(?:session\s+)?role\b/i, 'SET/RESET ROLE'],
  [/\b(?:re)?set\s+session\s+authorization\b/i, 'SET SESSION AUTHORIZATION'],
  [/\breset\s+all\b/i, 'RESET ALL'],
  [/\bset_config\s*\(\s*'(?:role|session_authorization)'/i, 'set_config of the role'],
  [/\b(?:to|from)\s+program\b/i, 'COPY … PROGRAM'],
  [/\bcopy\b[^;]*?\b(?:to|from)\s+(?:e?'|\$)/i, 'COPY to or from a server file'],
  [/\blo_(?:import|export)\s*\(/i, 'lo_import/lo_export'],
  [/\bpg_(?:read_file|read_binary_file|ls_dir|stat_file|file_write|reload|terminate_backend|signal_backend|promote)\b/i, 'a server administration function'],
  [/\blanguage\s+'?(?:c|internal)'?\b/i, 'a function in C or internal (untrusted)'],
  [/\bdblink\w*\s*\(|\bpostgres_fdw\b/i, 'dblink/postgres_fdw'],
  [/\balter\s+system\b/i, 'ALTER SYSTEM'],
  // pg_restore without --create prints no database entries; settings on the database would outlive the restore.
  [/\balter\s+database\b/i, 'ALTER DATABASE'],
  [/\b(?:create|alter)\s+(?:role|user|group)\b/i, 'CREATE/ALTER ROLE'],
];

/**
 * Scans the SQL that `pg_restore -f -` prints, line by line (never the whole
 * dump in memory); the rows of COPY data are data, not SQL, and are skipped.
 * Statements are matched across line breaks by keeping the previous line.
 */
export class ScriptScanner {
  private inCopy = false;
  private previous = '';
  private partial = '';
  readonly findings: string[] = [];
  /** Which TOC entry the lines belong to (pg_restore prints "-- Name: …; Type: …" before each). */
  private current = '';

  write(chunk: string): void {
    // `partial` always starts at the beginning of a line.
    const text = this.partial + chunk;
    this.partial = '';
    let pos = 0;
    while (pos < text.length) {
      if (this.inCopy) {
        // Rows are skipped without splitting them into lines: most of a dump is rows.
        let end = -1;
        if (text.startsWith('\\.\n', pos)) end = pos;
        else {
          const found = text.indexOf('\n\\.\n', pos);
          if (found >= 0) end = found + 1;
        }
        if (end < 0) {
          const last = text.lastIndexOf('\n');
          this.partial = last >= pos ? text.slice(last + 1) : text.slice(pos);
          return;
        }
        this.inCopy = false;
        pos = end + 3;
        continue;
      }
      const newline = text.indexOf('\n', pos);
      if (newline < 0) {
        this.partial = text.slice(pos);
        return;
      }
      this.line(text.slice(pos, newline));
      pos = newline + 1;
    }
  }

  end(): void {
    if (this.partial && !this.inCopy) this.line(this.partial);
    this.partial = '';
  }

  private line(line: string): void {
    if (line.startsWith('-- ')) {
      const name = /^-- (?:Data for )?Name: (.*?); Type: (.*?); Schema: (.*?);/.exec(line);
      if (name) this.current = `${name[2]} ${name[3] === '-' ? '' : `${name[3]}.`}${name[1]}`;
      this.previous = '';
      return;
    }
    const window = `${this.previous} ${line}`.replace(/\s+/g, ' ');
    for (const [pattern, what] of FORBIDDEN) {
      if (!pattern.test(window)) continue;
      const finding = `${what} in ${this.current || 'the dump'}`;
      if (!this.findings.includes(finding) && this.findings.length < 20) this.findings.push(finding);
    }
    this.previous = line;
    if (/^COPY \S+(?: \([^)]*\))? FROM stdin;$/.test(line)) {
      this.inCopy = true;
      this.previous = '';
    }
  }

  /** Throws BAD_BACKUP naming what was found. */
  check(): void {
    if (this.findings.length) throw refused('the backup holds statements a restore never runs', this.findings);
  }
}
