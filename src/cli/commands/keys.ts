import { systemClock } from '../../platform/clock.ts';
import type { Database } from '../../platform/db/database.ts';
import { openConfiguredDatabase } from '../../platform/db/open.ts';
import { migrationState } from '../../platform/db/migrator.ts';
import { KeyStore, listSigningKeys, type SigningKeyInfo } from '../../tokens/key-store.ts';
import { loadSecretKey } from '../../tokens/secret-key.ts';
import type { CliIo, Command } from '../command.ts';

const USAGE = 'keys rotate | keys list';

/**
 * Access-token signing keys. `rotate` starts signing with a new key at once; the previous one stays
 * published until the tokens it signed have expired, so nobody is logged out. Running servers notice
 * within a minute (their key cache), or at once when they meet a token signed with the new key.
 */
export const keys: Command = {
  name: 'keys',
  usage: USAGE,
  summary: 'Rotate the access-token signing key, or list signing keys',
  async run(args, config, io) {
    const [sub, ...rest] = args;
    if ((sub !== 'rotate' && sub !== 'list') || rest.length > 0) {
      io.err(`Usage: tenantry ${USAGE}`);
      return 1;
    }
    // Only rotate seals a private key; listing reads no key material.
    const secretKey = sub === 'rotate' ? loadSecretKey(config) : undefined;
    const database = await openConfiguredDatabase(config);
    try {
      if (!(await isMigrated(database, io))) return 1;
      if (secretKey !== undefined) {
        io.out(await new KeyStore({ db: database.db, secretKey, clock: systemClock }).rotate());
        return 0;
      }
      return list(await listSigningKeys(database.db), io);
    } finally {
      await database.close();
    }
  },
};

/** The key table exists only once migrations have run; say so instead of failing on a missing table. */
async function isMigrated(database: Database, io: CliIo): Promise<boolean> {
  const pending = (await database.withOwner(migrationState)).filter((m) => m.executedAt === undefined).length;
  if (pending === 0) return true;
  io.err(`tenantry keys: the database is not fully migrated (${pending} pending); run \`tenantry migrate\` first.`);
  return false;
}

function list(rows: SigningKeyInfo[], io: CliIo): number {
  if (rows.length === 0) {
    io.out('No signing keys yet: the first is created when the server first signs a token or serves its JWKS.');
    return 0;
  }
  const width = Math.max(3, ...rows.map((r) => r.kid.length));
  io.out(`${'KID'.padEnd(width)}  ${'ALG'.padEnd(6)}  ${'CREATED'.padEnd(24)}  STATUS`);
  let activeSeen = false;
  for (const r of rows) {
    let status: string;
    if (r.retiredAt !== null) status = `retired ${r.retiredAt.toISOString()}`;
    else {
      // Only the newest unretired key signs; an older one is a leftover of two processes racing.
      status = activeSeen ? 'active (not signing)' : 'active (signing)';
      activeSeen = true;
    }
    io.out(`${r.kid.padEnd(width)}  ${r.alg.padEnd(6)}  ${r.createdAt.toISOString().padEnd(24)}  ${status}`);
  }
  return 0;
}
