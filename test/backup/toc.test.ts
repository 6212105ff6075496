// The checks a restore makes on a dump before it runs any of it: the table of
// contents against what an instance or the Manager can hold, and the SQL
// against statements no backup of ours contains.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApError } from '../../src/errors';
import { auditInstanceToc, auditManagerToc, parseToc, ScriptScanner } from '../../src/backup/toc';

// pg_restore --list of a real instance dump (PostgreSQL 15).
const HONEST = `;
; Archive created at 2026-11-29 21:40:24 UTC
;     dbname: d
;
; Selected TOC Entries:
;
7; 2615 16451 SCHEMA - other u
2; 3079 16386 EXTENSION - pgcrypto 
3422; 0 0 COMMENT - EXTENSION pgcrypto 
894; 1247 16456 TYPE public mood u
897; 1247 16462 DOMAIN public posint u
258; 1255 16448 FUNCTION public f() u
221; 1259 16452 TABLE other x u
217; 1259 16424 TABLE public t u
3423; 0 0 COMMENT public TABLE t u
3424; 0 0 ACL public TABLE t u
219; 1259 16443 MATERIALIZED VIEW public mv u
216; 1259 16423 SEQUENCE public t_id_seq u
3425; 0 0 SEQUENCE OWNED BY public t_id_seq u
218; 1259 16439 VIEW public v u
3258; 2604 16427 DEFAULT public t id u
3414; 2613 16464 BLOB - 16464 u
3410; 0 16424 TABLE DATA public t u
3427; 0 0 SEQUENCE SET public t_id_seq u
3415; 0 0 BLOBS - BLOBS 
3261; 2606 16432 CONSTRAINT public t t_pkey u
3262; 1259 16438 INDEX public t_v_idx u
3264; 2620 16449 TRIGGER public t tr u
3263; 2606 16433 FK CONSTRAINT public t t_r_fkey u
2095; 826 16465 DEFAULT ACL - DEFAULT PRIVILEGES FOR TABLES u
3411; 0 16443 MATERIALIZED VIEW DATA public mv u
`;

const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApError && err.code === 'BAD_BACKUP', String(err));
    return err.message;
  }
  assert.fail('not refused');
};

describe('dump table of contents', () => {
  it('reads entry types that hold spaces, and keeps every honest instance entry but grants', () => {
    const toc = parseToc(HONEST);
    assert.equal(toc.length, 25);
    assert.deepEqual(toc.find((e) => e.id === 3410), { id: 3410, type: 'TABLE DATA', schema: 'public', rest: 't u', line: '3410; 0 16424 TABLE DATA public t u' });
    assert.equal(toc.find((e) => e.id === 3411)!.type, 'MATERIALIZED VIEW DATA');
    const keep = auditInstanceToc(toc).map((e) => e.id);
    assert.equal(keep.length, 23);
    assert.ok(!keep.includes(3424) && !keep.includes(2095), 'ACL and DEFAULT ACL are left out');
  });

  it('refuses, by name, entries an instance role could not have made', () => {
    const bad = `${HONEST}
9001; 3466 16500 EVENT TRIGGER - evil postgres
9002; 2612 16501 PROCEDURAL LANGUAGE - plperlu postgres
9003; 3079 16502 EXTENSION - dblink 
9004; 2328 16503 FOREIGN DATA WRAPPER - w postgres
9005; 0 0 SOMETHING NEW public x u
`;
    const message = refusal(() => auditInstanceToc(parseToc(bad)));
    for (const part of ['entry 9001 EVENT TRIGGER', 'entry 9002 PROCEDURAL LANGUAGE', 'entry 9003 EXTENSION dblink', 'entry 9004 FOREIGN DATA WRAPPER', 'entry 9005 ?SOMETHING']) {
      assert.ok(message.includes(part), `${part} in: ${message}`);
    }
    assert.match(message, /Nothing was restored/);
  });

  it('takes only the data of the manager tables from a Manager dump', () => {
    const manager = `
3300; 1259 16390 TABLE public config postgres
3301; 0 16390 TABLE DATA public config postgres
3302; 0 16399 TABLE DATA public instances postgres
3303; 0 16380 TABLE DATA public schema_migrations postgres
3304; 2606 16400 CONSTRAINT public config config_pkey postgres
`;
    const keep = auditManagerToc(parseToc(manager), new Set(['config', 'instances']), new Set());
    assert.deepEqual(keep.map((e) => e.id), [3301, 3302]);
    const older = refusal(() => auditManagerToc(parseToc(manager), new Set(['config']), new Set()));
    assert.match(older, /entry 3302 TABLE DATA public instances/);
    const fn = refusal(() => auditManagerToc(parseToc(`${manager}3305; 1255 16410 FUNCTION public f() postgres\n`), new Set(['config', 'instances']), new Set()));
    assert.match(fn, /entry 3305 FUNCTION public f\(\) postgres/);
  });
});

describe('dump SQL scan', () => {
  /** The findings, the same however pg_restore's output is cut into chunks. */
  const scan = (text: string) => {
    const results = [1, 2, 3, 5, 7, 13, 64, text.length].map((chunk) => {
      const scanner = new ScriptScanner();
      for (let i = 0; i < text.length; i += chunk) scanner.write(text.slice(i, i + chunk));
      scanner.end();
      return scanner.findings;
    });
    for (const result of results) assert.deepEqual(result, results[0]);
    return results[0]!;
  };

  it('finds nothing in an honest script, whatever its rows of data say', () => {
    const honest = [
      '\\restrict abc',
      "SELECT pg_catalog.set_config('search_path', '', false);",
      '--',
      '-- Name: notes; Type: TABLE; Schema: public; Owner: u',
      '--',
      'CREATE TABLE public.notes (body text);',
      '--',
      '-- Data for Name: notes; Type: TABLE DATA; Schema: public; Owner: u',
      '--',
      'COPY public.notes (body) FROM stdin;',
      "RESET ROLE; COPY (SELECT 1) TO PROGRAM 'rm -rf /'",
      'set role postgres',
      '\\.',
      "SELECT pg_catalog.setval('public.s', 1, false);",
    ].join('\n');
    assert.deepEqual(scan(honest), []);
  });

  it('names each forbidden statement and the entry it is in, also across lines', () => {
    const evil = [
      '-- Name: v; Type: VIEW; Schema: public; Owner: u',
      'RESET',
      '  ROLE; COPY (SELECT 1) TO PROGRAM',
      "'touch /tmp/x'; CREATE VIEW public.v AS SELECT 1;",
      '-- Name: f(); Type: FUNCTION; Schema: public; Owner: u',
      "CREATE FUNCTION public.f() RETURNS int LANGUAGE c AS '/tmp/evil.so', 'f';",
      '-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: u',
      'SET SESSION AUTHORIZATION postgres;',
      'ALTER DATABASE x SET search_path = evil;',
      'COPY public.t (a) FROM stdin;',
      '1',
      '\\.',
      'RESET ROLE;',
    ].join('\n');
    assert.deepEqual(scan(evil), [
      'SET/RESET ROLE in VIEW public.v',
      'COPY … PROGRAM in VIEW public.v',
      'a function in C or internal (untrusted) in FUNCTION public.f()',
      'SET SESSION AUTHORIZATION in TABLE DATA public.t',
      'ALTER DATABASE in TABLE DATA public.t',
      'SET/RESET ROLE in TABLE DATA public.t',
    ]);
  });
});
