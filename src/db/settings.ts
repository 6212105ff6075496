// The manager database's config table: name/value settings, the table the
// seed's recovery commands edit by hand.
import type { Sql } from 'postgres';

export interface Settings {
  get(name: string): Promise<string | null>;
  set(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
}

/** Settings over the `config` table of `sql`. */
export function settings(sql: Sql): Settings {
  return {
    async get(name) {
      const [row] = await sql<{ value: string }[]>`SELECT value FROM config WHERE name = ${name}`;
      return row?.value ?? null;
    },
    async set(name, value) {
      await sql`
        INSERT INTO config (name, value) VALUES (${name}, ${value})
        ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`;
    },
    async delete(name) {
      await sql`DELETE FROM config WHERE name = ${name}`;
    },
  };
}
