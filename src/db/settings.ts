// The manager database's config table: name/value settings, the table the
// seed's recovery commands edit by hand.
import type { Sql, TransactionSql } from 'postgres';

export interface Settings {
  get(name: string): Promise<string | null>;
  set(name: string, value: string): Promise<void>;
  /** Sets every one of `values` or, failing, none. */
  setMany(values: Readonly<Record<string, string>>): Promise<void>;
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
      await upsert(sql, name, value);
    },
    async setMany(values) {
      await sql.begin(async (tx) => {
        for (const [name, value] of Object.entries(values)) await upsert(tx, name, value);
      });
    },
    async delete(name) {
      await sql`DELETE FROM config WHERE name = ${name}`;
    },
  };
}

async function upsert(sql: Sql | TransactionSql, name: string, value: string): Promise<void> {
  await sql`
    INSERT INTO config (name, value) VALUES (${name}, ${value})
    ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`;
}
