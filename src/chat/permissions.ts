// Who may do what from chat: allow-lists of channels, users and user groups per command that changes capacity
// (create, delete — the Cancel button too — and now), from the config. `list` and `help` are open to everyone
// who can reach the bot.

import type { ChatEvent } from './port.ts';

export const GUARDED_COMMANDS = ['create', 'delete', 'now'] as const;
export type GuardedCommand = (typeof GUARDED_COMMANDS)[number];

/** One command's rule. An absent or empty list does not restrict. */
export interface ChatRule {
  /** Channel ids (C…, G…) where the command may be used. */
  channels?: string[];
  /** User ids (U…, W…) who may use it. */
  users?: string[];
  /** User group ids (S…) whose members may use it. */
  userGroups?: string[];
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

export interface PermissionPolicy {
  check(command: GuardedCommand, event: ChatEvent): Promise<Decision>;
}

/** Who is in a user group (Slack: `usergroups.users.list`). */
export interface UserGroups {
  members(groupId: string): Promise<string[]>;
}

/**
 * The config's rules, applied to events of `platforms` (Slack by default). Events of other doors are allowed:
 * the web console is guarded by its own access (loopback, or the API token), the same as the HTTP API.
 * Group members are cached for `cacheMs`; when they cannot be read, the group does not grant (fail closed).
 */
export class ConfigPermissions implements PermissionPolicy {
  private readonly rules: Partial<Record<GuardedCommand, ChatRule>>;
  private readonly groups: UserGroups | undefined;
  private readonly platforms: ReadonlySet<string>;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, { at: number; members: Promise<Set<string>> }>();

  constructor(options: {
    rules: Partial<Record<GuardedCommand, ChatRule>>;
    groups?: UserGroups;
    platforms?: string[];
    cacheMs?: number;
    now?: () => number;
  }) {
    this.rules = options.rules;
    this.groups = options.groups;
    this.platforms = new Set(options.platforms ?? ['slack']);
    this.cacheMs = options.cacheMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  async check(command: GuardedCommand, event: ChatEvent): Promise<Decision> {
    if (!this.platforms.has(event.platform)) return { allowed: true };
    const rule = this.rules[command];
    if (!rule) return { allowed: true };
    const channels = rule.channels ?? [];
    if (channels.length > 0 && !channels.includes(event.channel)) {
      return { allowed: false, reason: `\`${command}\` is not enabled in this channel` };
    }
    const users = rule.users ?? [];
    const groups = rule.userGroups ?? [];
    if (users.length === 0 && groups.length === 0) return { allowed: true };
    if (users.includes(event.user.id)) return { allowed: true };
    for (const group of groups) {
      if ((await this.membersOf(group)).has(event.user.id)) return { allowed: true };
    }
    return { allowed: false, reason: `only listed people and groups may use \`${command}\`` };
  }

  private membersOf(group: string): Promise<Set<string>> {
    const cached = this.cache.get(group);
    if (cached && this.now() - cached.at < this.cacheMs) return cached.members;
    const members = this.groups
      ? this.groups.members(group).then(
          (ids) => new Set(ids),
          () => {
            this.cache.delete(group);
            return new Set<string>();
          },
        )
      : Promise.resolve(new Set<string>());
    this.cache.set(group, { at: this.now(), members });
    return members;
  }
}
