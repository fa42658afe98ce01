// Replies in the team's language. Each capability keeps a small catalogue of what it says, in every locale, and
// asks it for a message by key; the router's own catalogue (unknown command, usage, refusals) is below.

export const LOCALES = ['en', 'ko'] as const;
export type Locale = (typeof LOCALES)[number];

/** A value in every locale (e.g. a command's one-line description). */
export type Localized<T = string> = Record<Locale, T>;

/** Parameters of a message: `{name}` in its template is replaced by `params.name`. */
export type MessageParams = Record<string, string | number>;

/** Messages of one capability, `{param}` placeholders in each; every locale has every key (the type checks it). */
export type Catalogue<K extends string> = Record<Locale, Record<K, string>>;

/** A catalogue read in one locale. */
export type Translate<K extends string = string> = (key: K, params?: MessageParams) => string;

/** `{name}` → params.name; a placeholder without a value stays as written (a bug shows, rather than vanishing). */
export function format(template: string, params: MessageParams = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

/** Reads `catalogue` in `locale`: `t('key', { x: 1 })`. */
export function translator<K extends string>(catalogue: Catalogue<K>, locale: Locale): Translate<K> {
  const messages = catalogue[locale] ?? catalogue.en;
  return (key, params) => format(messages[key] ?? catalogue.en[key] ?? key, params);
}

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value);
}

/** What the router itself says: finding the command, reading its options, help, and refusals. */
export const ROUTER_MESSAGES: Catalogue<
  | 'noCommand'
  | 'unknownCommand'
  | 'didYouMean'
  | 'unknownSub'
  | 'needsSub'
  | 'unknownValue'
  | 'takesNoArguments'
  | 'unexpected'
  | 'unknownOption'
  | 'options'
  | 'noOptions'
  | 'givenTwice'
  | 'takesNoValue'
  | 'needsValue'
  | 'usage'
  | 'example'
  | 'commands'
  | 'eg'
  | 'helpAbout'
  | 'refused'
  | 'notInChannel'
  | 'notForYou'
  | 'failed'
  | 'unknownAction'
> = {
  en: {
    noCommand: 'no command found; commands: {commands}',
    unknownCommand: 'unknown command "{word}"; commands: {commands}',
    didYouMean: ' (did you mean "{suggestion}"?)',
    unknownSub: '"{word}" is not a command of {group}; its commands: {commands}',
    needsSub: '{group} needs a command: {commands}',
    unknownValue: 'unknown {param} "{value}"; known: {values}',
    takesNoArguments: '{command} takes no arguments, got "{token}"',
    unexpected: 'unexpected "{token}" after {command}',
    unknownOption: 'unknown option "--{flag}" for {command}',
    options: ' (options: {options})',
    noOptions: ' ({command} takes no options)',
    givenTwice: '--{flag} is given twice',
    takesNoValue: '--{flag} takes no value',
    needsValue: '--{flag} needs a value',
    usage: 'Usage: ',
    example: 'Example: ',
    commands: 'Commands:',
    eg: 'e.g.',
    helpAbout: 'Show the commands, or one command in detail.',
    refused: "Sorry {who}, I can't do that: {reason}. An admin can allow it in the config ({path}).",
    notInChannel: '`{command}` is not enabled in this channel',
    notForYou: 'only listed people and groups may use `{command}`',
    failed: 'Sorry, chronops could not handle this ({error}). The details are in its log.',
    unknownAction: 'this button is not one chronops knows ({action})',
  },
  ko: {
    noCommand: '명령을 찾지 못했습니다. 명령: {commands}',
    unknownCommand: '알 수 없는 명령 "{word}" 입니다. 명령: {commands}',
    didYouMean: ' ("{suggestion}" 을(를) 입력하려고 하셨나요?)',
    unknownSub: '"{word}" 은(는) {group} 의 명령이 아닙니다. {group} 명령: {commands}',
    needsSub: '{group} 다음에 명령이 필요합니다: {commands}',
    unknownValue: '알 수 없는 {param} "{value}" 입니다. 있는 값: {values}',
    takesNoArguments: '{command} 에는 인자가 없습니다. 받은 값: "{token}"',
    unexpected: '{command} 뒤에 예상하지 못한 "{token}" 이(가) 있습니다',
    unknownOption: '{command} 에 없는 옵션 "--{flag}" 입니다',
    options: ' (옵션: {options})',
    noOptions: ' ({command} 에는 옵션이 없습니다)',
    givenTwice: '--{flag} 이(가) 두 번 주어졌습니다',
    takesNoValue: '--{flag} 에는 값을 주지 않습니다',
    needsValue: '--{flag} 에 값이 필요합니다',
    usage: '사용법: ',
    example: '예: ',
    commands: '명령:',
    eg: '예:',
    helpAbout: '명령 목록을 보여 주거나, 한 명령을 자세히 설명합니다.',
    refused: '죄송합니다 {who}, 할 수 없습니다: {reason}. 관리자가 설정({path})에서 허용할 수 있습니다.',
    notInChannel: '이 채널(방)에서는 `{command}` 을(를) 쓸 수 없습니다',
    notForYou: '`{command}` 은(는) 허용된 사람과 그룹만 쓸 수 있습니다',
    failed: '죄송합니다, chronops 가 이 요청을 처리하지 못했습니다 ({error}). 자세한 내용은 로그에 있습니다.',
    unknownAction: 'chronops 가 모르는 버튼입니다 ({action})',
  },
};
