import { sql } from 'kysely';
import { describeConfig } from '../../platform/config.ts';
import { openConfiguredDatabase } from '../../platform/db/open.ts';
import { migrationState } from '../../platform/db/migrator.ts';
import { findIsolationProblems } from '../../platform/db/safety.ts';
import type { Command } from '../command.ts';

/** Prints what an operator needs to know before asking for help; exits 1 if anything is wrong. */
export const doctor: Command = {
  name: 'doctor',
  summary: 'Print configuration, database engine and version, migration state and isolation checks',
  async run(_args, config, io) {
    io.out('Configuration:');
    for (const [key, value] of Object.entries(describeConfig(config))) {
      io.out(`  ${key.padEnd(14)} ${value === undefined ? '(unset)' : String(value)}`);
    }
    const database = await openConfiguredDatabase(config);
    let healthy = true;
    try {
      const version = await database.withOwner(async (owner) => {
        const { rows } = await sql<{ version: string }>`SELECT version() AS version`.execute(owner);
        return rows[0]?.version ?? 'unknown';
      });
      io.out(`Database: ${database.engine}`);
      io.out(`  ${version}`);
      const migrations = await database.withOwner(migrationState);
      const pending = migrations.filter((m) => m.executedAt === undefined);
      io.out(`Migrations: ${migrations.length - pending.length} applied, ${pending.length} pending`);
      for (const m of migrations) {
        io.out(`  ${m.executedAt === undefined ? 'pending ' : 'applied '} ${m.name}${m.executedAt ? `  ${m.executedAt.toISOString()}` : ''}`);
      }
      if (pending.length > 0) {
        io.out('  Run `tenantry migrate` (or start the server, which migrates) to apply them.');
      } else {
        const problems = await findIsolationProblems(database.db);
        io.out(problems.length === 0 ? 'Isolation: ok (queries run as a restricted role under row-level security)' : 'Isolation: NOT SAFE');
        for (const p of problems) io.out(`  - ${p}`);
        healthy = problems.length === 0;
      }
    } finally {
      await database.close();
    }
    return healthy ? 0 : 1;
  },
};
