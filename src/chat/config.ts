// Chat settings of the doors besides Slack (whose own section is `slack:`): who may run which command from JANDI
// rooms and Teams channels, per permission key (docs/chat.md). The sources themselves — tokens, secrets, which
// room answers where — are the gateway's (`sources:`).
//
//   jandi:
//     permissions:
//       power.force: { channels: [ops], users: [kim@example.com] }    # room names, writer e-mails (or names)
//   teams:
//     permissions:
//       jobs.run: { channels: ['19:abc@thread.tacv2'], users: ['<AAD object id>'] }

import { z } from 'zod';
import type { ChatRule } from './permissions.ts';

/** A command's permission key: `create`, `jobs.run`, `power.force`. */
export const PERMISSION_KEY = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/;

const names = () =>
  z
    .array(z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty'), {
      error: 'must be a list',
    })
    .optional();

/** Permission rules keyed by permission key, with `rule` the shape of one rule on the platform. */
export function permissionsSchema<R extends z.ZodType<ChatRule>>(rule: R) {
  return z
    .record(z.string().regex(PERMISSION_KEY, 'must be a permission key such as create or jobs.run'), rule, {
      error: 'must be a mapping of permission keys to rules',
    })
    .prefault({});
}

/** `jandi:` and `teams:` sections: their permissions (channels and users are names/ids as those platforms send). */
export function roomChatSchema() {
  return z
    .strictObject({ permissions: permissionsSchema(z.strictObject({ channels: names(), users: names() })) })
    .prefault({});
}

export interface RoomChatConfig {
  permissions: Record<string, ChatRule>;
}
