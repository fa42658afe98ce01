// Who may do what from chat: allow-lists per platform and per permission key (each command registered on the router
// names its key: capacity's `create`, `delete` — the Cancel button too — and `now`). A rule lists the channels
// (Slack channel ids, JANDI room names, Teams conversation ids) where the command may be used and the users (and,
// on Slack, user groups) who may use it. A command without a rule on a platform is open to everyone who can reach
// the bot there; the web console is guarded by its own access (loopback, or the API token), like the HTTP API.

import type { ChatEvent, ChatPlatform } from './port.ts';

/** One command's rule on one platform. An absent or empty list does not restrict. */
export interface ChatRule {
  /** Where the command may be used: Slack channel ids (C…, G…), JANDI room names, Teams conversation ids. */
  channels?: string[];
  /** Who may use it: Slack user ids (U…, W…), JANDI writer e-mails (or names), Teams AAD object ids (or ids). */
  users?: string[];
  /** Slack user group ids (S…) whose members may use it. */
  userGroups?: string[];
}

/** The rules of each platform, by permission key (`rules.slack.create`). */
export type PermissionRules = Partial<Record<ChatPlatform, Record<string, ChatRule>>>;

export type Decision =
  | { allowed: true }
  | {
      allowed: false;
      /** `channel`: not enabled where it was asked; `user`: not for this person. */
      code: 'channel' | 'user';
      /** Where in the config an admin would allow it (`slack.permissions.create`). */
      path: string;
    };

export interface PermissionPolicy {
  check(key: string, event: ChatEvent): Promise<Decision>;
  /** Every permission key a rule is written for, with its config path (checked against the registered commands). */
  keys(): Array<{ key: string; path: string }>;
}

/** Who is in a user group (Slack: `usergroups.users.list`). */
export interface UserGroups {
  members(groupId: string): Promise<string[]>;
}

/**
 * The config's rules. Slack user groups are read through `groups` and cached for `cacheMs`; when they cannot be
 * read, the group does not grant (fail closed).
 */
export class ConfigPermissions implements PermissionPolicy {
  private readonly rules: PermissionRules;
  private readonly groups: UserGroups | undefined;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, { at: number; members: Promise<Set<string>> }>();

  constructor(options: {
    rules: PermissionRules;
    groups?: UserGroups;
    cacheMs?: number;
    now?: () => number;
  }) {
    this.rules = options.rules;
    this.groups = options.groups;
    this.cacheMs = options.cacheMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  keys(): Array<{ key: string; path: string }> {
    return Object.entries(this.rules).flatMap(([platform, rules]) =>
      Object.keys(rules ?? {}).map((key) => ({ key, path: `${platform}.permissions.${key}` })),
    );
  }

  async check(key: string, event: ChatEvent): Promise<Decision> {
    if (event.platform === 'console') return { allowed: true };
    const rule = this.rules[event.platform]?.[key];
    if (!rule) return { allowed: true };
    const path = `${event.platform}.permissions.${key}`;
    const channels = rule.channels ?? [];
    if (channels.length > 0 && !channels.includes(event.channel)) {
      return { allowed: false, code: 'channel', path };
    }
    const users = rule.users ?? [];
    const groups = event.platform === 'slack' ? (rule.userGroups ?? []) : [];
    if (users.length === 0 && groups.length === 0) return { allowed: true };
    if (users.includes(event.user.id)) return { allowed: true };
    for (const group of groups) {
      if ((await this.membersOf(group)).has(event.user.id)) return { allowed: true };
    }
    return { allowed: false, code: 'user', path };
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
