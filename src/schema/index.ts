// Inputs declared once: a TypeBox schema is at the same time the check run on
// a value that comes from outside (an API body, app.json, the config file, a
// signed manifest, a backup's header), its TypeScript type, and the JSON
// Schema the OpenAPI document shows (OpenAPI 3.1 takes JSON Schema as is).
// A leaf: it imports nothing of ours but errors, so every owner of an input
// can use it without reaching up into the API.
import * as Tb from '@sinclair/typebox';
import { FormatRegistry, type Static, type TSchema } from '@sinclair/typebox';
import { Errors } from '@sinclair/typebox/errors';
import { Check } from '@sinclair/typebox/value';
import { InvalidField } from '../errors';

export type { Static, TSchema };

/**
 * The schema builders in use. Named one by one, not TypeBox's whole `Type`:
 * the bundle then holds these and the checker (about 75 KB) rather than every
 * builder and value tool (about 250 KB), on a box with 256 MB.
 */
export const T = {
  Array: Tb.Array,
  Boolean: Tb.Boolean,
  Integer: Tb.Integer,
  Intersect: Tb.Intersect,
  Literal: Tb.Literal,
  Null: Tb.Null,
  Number: Tb.Number,
  Object: Tb.Object,
  Optional: Tb.Optional,
  Record: Tb.Record,
  String: Tb.String,
  Union: Tb.Union,
  Unknown: Tb.Unknown,
} as const;

/** A boolean query flag as sent: true/false, 1/0, or empty (present = true). */
export const Flag = Tb.String({ pattern: '^(true|false|1|0|)$', description: 'true or false' });

/**
 * Teaches the checker the string formats our answers declare (TypeBox fails
 * a format it does not know). Only answers carry formats, and only the
 * response check (tests) runs on them, so it is done there, not on import.
 */
export function knowFormats(): void {
  if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) && !Number.isNaN(Date.parse(v)));
}

/** The first thing wrong with `value`: the field as a dotted path ('' for the value itself) and why, in the API's wording; null when it fits. */
export function problem(schema: TSchema, value: unknown): { readonly field: string; readonly reason: string } | null {
  if (Check(schema, value)) return null;
  const first = Errors(schema, value).First();
  if (!first) return { field: '', reason: 'invalid' };
  return { field: first.path === '' ? '' : first.path.slice(1).split('/').map(unescape).join('.'), reason: reason(first.message, first.schema) };
}

/** Whether `value` fits `schema` (for inputs whose bad parts are left out rather than refused). */
export function fits<S extends TSchema>(schema: S, value: unknown): value is Static<S> {
  return Check(schema, value);
}

/** Checks `value` against `schema`; the first problem is an INVALID_FIELD naming the field (`where` when it is the whole value). */
export function check(schema: TSchema, value: unknown, where: string): void {
  const found = problem(schema, value);
  if (found) throw new InvalidField(found.field || where, found.reason);
}

/** A problem's reason as said of a named field in a sentence: "\"version\" must be a string", "… is required". */
export function asSentence(reason: string): string {
  if (reason === 'required') return 'is required';
  if (reason === 'unknown field') return 'is not a known field';
  if (reason.startsWith('expected ')) return `must be ${reason.slice('expected '.length)}`;
  return reason;
}

/** "expected one of a, b or c" for a union of literals (a scope, a mode), which the client can put right; else null. */
function choices(schema: TSchema): string | null {
  const options = (schema.anyOf as TSchema[] | undefined)?.map((option) => option.const);
  if (!options || options.length < 2 || !options.every((o) => typeof o === 'string')) return null;
  return `expected one of ${options.slice(0, -1).join(', ')} or ${options.at(-1)}`;
}

function unescape(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** TypeBox's wording, in the API's voice ("unknown field", "required", "expected a string"); a schema's own `errorMessage` wins but for an unknown field. */
function reason(message: string, schema: TSchema): string {
  // The object's own message would hide which field is unknown.
  if (message === 'Unexpected property') return 'unknown field';
  if (typeof schema.errorMessage === 'string') return schema.errorMessage;
  if (message === 'Expected required property') return 'required';
  const expected = /^Expected (string|boolean|number|integer|object|array|null)$/.exec(message);
  if (expected) return `expected ${/^[aeiou]/.test(expected[1]!) ? 'an' : 'a'} ${expected[1]}`;
  if (message === 'Expected union value') return choices(schema) ?? 'not one of the accepted forms';
  return message.charAt(0).toLowerCase() + message.slice(1);
}
