import { type TArray, type TSchema, Type } from 'typebox';
import { idPattern, TENANT_ID_PATTERN } from '../ids.ts';
import { ProblemSchema } from './problem.ts';

/** Schemas every feature's routes share, built from the id patterns of platform/ids.ts (written nowhere else). */

/** Every route's 4xx answers: a problem document (RFC 9457). */
export const Problems = { '4xx': ProblemSchema };

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const TenantId = Type.String({ pattern: TENANT_ID_PATTERN, description: 'A tenant id' });

export const UserId = Type.String({ pattern: idPattern('user'), description: 'A user id' });

/** A list route's paging parameters: `limit` (1 to `max`, `byDefault` when absent) and the cursor a page gave. */
export function pageQuery(limits: { max: number; byDefault: number }) {
  return {
    limit: Type.Integer({ minimum: 1, maximum: limits.max, default: limits.byDefault }),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: '`nextCursor` of the previous page' })),
  };
}

/** A page of a list: its items under `key`, and the cursor of the next page (null on the last). */
export function pageOf<K extends string, T extends TSchema>(key: K, item: T) {
  return {
    ...({ [key]: Type.Array(item) } as { [P in K]: TArray<T> }),
    nextCursor: Nullable(Type.String({ description: 'Pass back as `cursor` for the next page; null on the last page' })),
  };
}
