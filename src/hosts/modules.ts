// The modules a chronops server runs, in the order their tables are created. Each shared mechanism and each
// capability brings its own migration steps; the host lists them here.
import { capacityMigrations } from '../capabilities/capacity/migrations.ts';
import { chatMigrations } from '../chat/migrations.ts';
import type { MigrationModule } from '../store/migrations.ts';

export const migrationModules: readonly MigrationModule[] = [capacityMigrations, chatMigrations];
