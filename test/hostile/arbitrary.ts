import fc from 'fast-check';

/**
 * Request bodies for fuzzing, from a route's JSON Schema in the committed OpenAPI document: mostly well-typed (so the
 * request reaches the code behind validation), with hostile strings in every string slot, sometimes the wrong type,
 * a required field missing, or an extra key — `__proto__` and `constructor` among them.
 */

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  format?: string;
  pattern?: string;
}

/** Strings that have broken services before: SQL and JSON metacharacters, look-alikes, controls, sizes. */
export const HOSTILE_STRINGS = [
  "'; DROP TABLE tenants; --",
  "' OR '1'='1",
  '" OR ""="',
  '\\',
  '%00',
  '\u0000',
  '\u202e',
  'аdmin', // Cyrillic а
  'ＡＤＭＩＮ',
  'owner\u200b',
  '__proto__',
  'constructor',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent as literal text
  '${7*7}',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  'a'.repeat(300),
  'x'.repeat(70_000),
  '😀'.repeat(50),
  'Admin@Example.TEST.',
  'admin@exаmple.test',
  '*',
  '',
  ' ',
];

const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
);

function wellTyped(schema: JsonSchema, known: readonly string[]): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives !== undefined) return fc.oneof(...alternatives.map((s) => wellTyped(s, known)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object':
      return objectOf(schema, known);
    case 'array':
      return fc.array(wellTyped(schema.items ?? {}, known), { maxLength: Math.min(schema.maxItems ?? 5, 5) });
    case 'integer':
      return fc.oneof(fc.integer({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1000 }), fc.constantFrom(-1, 0, 2 ** 31, Number.MAX_SAFE_INTEGER));
    case 'number':
      return fc.oneof(fc.double({ noNaN: true }), fc.constantFrom(-1, 0, 1e308));
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'string':
      // Real values of the world (ids, slugs, role keys) and strings of the right pattern reach deeper than random text.
      return fc.oneof(
        { weight: 2, arbitrary: hostileString },
        ...(known.length > 0 ? [{ weight: 2, arbitrary: fc.constantFrom(...known) }] : []),
        ...(schema.pattern === undefined ? [] : [{ weight: 3, arbitrary: fc.stringMatching(new RegExp(schema.pattern)).filter((v) => v.length <= (schema.maxLength ?? 200)) }]),
      );
    default:
      return fc.anything({ maxDepth: 2 });
  }
}

function objectOf(schema: JsonSchema, known: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {};
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [key, property] of Object.entries(properties)) record[key] = field(property, known);
  const required = (schema.required ?? []).filter((k) => k in properties);
  return fc.record(record, { requiredKeys: required }).chain((value) =>
    fc.oneof(
      { weight: 10, arbitrary: fc.constant(value) },
      // A required field missing.
      { weight: 1, arbitrary: required.length === 0 ? fc.constant(value) : fc.constantFrom(...required).map((k) => omit(value, k)) },
      // One more key than the schema knows: prototype keys, mass-assignment names.
      {
        weight: 1,
        arbitrary: fc
          .tuple(
            fc.constantFrom('__proto__', 'constructor', 'prototype', 'tenantId', 'roles', 'status', 'emailVerified', 'isAdmin', 'platformRole', 'id'),
            fc.anything({ maxDepth: 1 }),
          )
          .map(([k, v]) => JSON.parse(`${JSON.stringify(value).slice(0, -1)}${JSON.stringify(value) === '{}' ? '' : ','}${JSON.stringify(k)}:${JSON.stringify(v ?? null)}}`)),
      },
    ),
  );
}

/** A field: usually well-typed, sometimes anything at all. */
function field(schema: JsonSchema, known: readonly string[]): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 12, arbitrary: wellTyped(schema, known) }, { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) });
}

function omit(value: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _, ...rest } = value;
  return rest;
}

/** A body for `schema`: an object of its shape most of the time; now and then a whole other JSON value. */
export function bodyFor(schema: JsonSchema, known: readonly string[]): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 8, arbitrary: wellTyped(schema, known) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) });
}
