import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * Two validators: bodies are checked strictly (no type coercion, unknown members rejected where the
 * schema says so), so `{"password": 123}` is a 400 rather than the string "123"; path and query values
 * arrive as text and are coerced to the declared types.
 */
export const validators = fp(
  async (app: FastifyInstance) => {
    const base: Options = { allErrors: false, useDefaults: true, removeAdditional: false, strict: false };
    const strict = withFormats(new Ajv({ ...base, coerceTypes: false }));
    const coercing = withFormats(new Ajv({ ...base, coerceTypes: 'array' }));
    app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema));
  },
  { name: 'tenantry-validators' },
);

function withFormats(ajv: Ajv): Ajv {
  // ajv-formats' CJS default export is the plugin function itself.
  (addFormats as unknown as (a: Ajv) => Ajv)(ajv);
  return ajv;
}
