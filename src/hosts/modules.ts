// The modules a chronops server runs. Each shared mechanism and each capability brings its own migration steps;
// each capability beside capacity windows is ONE line in `capabilities` (capacity windows is created by the host
// directly, because the doors — HTTP API, chat, page — use its service).
import { capacityMigrations } from '../capabilities/capacity/migrations.ts';
import { jobsModule } from '../capabilities/jobs/capability.ts';
import { powerModule } from '../capabilities/power/capability.ts';
import { rulesModule } from '../capabilities/rules/capability.ts';
import { chatMigrations } from '../chat/migrations.ts';
import { gatewayMigrations } from '../gateway/migrations.ts';
import { notifyMigrations } from '../notify/migrations.ts';
import type { MigrationModule } from '../store/migrations.ts';
import { timersMigrations } from '../timers/migrations.ts';
import type { CapabilityModule } from './capability.ts';

export const capabilities: readonly CapabilityModule[] = [rulesModule, jobsModule, powerModule];

/** In the order their tables are created. */
export const migrationModules: readonly MigrationModule[] = [
  timersMigrations,
  capacityMigrations,
  chatMigrations,
  // The gateway's step 1 renames the inbox chat's step 1 created: gateway comes after chat.
  gatewayMigrations,
  notifyMigrations,
  ...capabilities.flatMap((c) => (c.migrations ? [c.migrations] : [])),
];
