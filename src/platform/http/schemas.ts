import { Type } from 'typebox';
import { idPattern, TENANT_ID_PATTERN } from '../ids.ts';
import { ProblemSchema } from './problem.ts';

/** Schemas every feature's routes share, built from the id patterns of platform/ids.ts (written nowhere else). */

/** Every route's 4xx answers: a problem document (RFC 9457). */
export const Problems = { '4xx': ProblemSchema };

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const TenantId = Type.String({ pattern: TENANT_ID_PATTERN, description: 'A tenant id' });

export const UserId = Type.String({ pattern: idPattern('user'), description: 'A user id' });
