import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  checkTemplates,
  compileTemplate,
  renderDeep,
  TemplateError,
} from '../../../src/capabilities/rules/template.ts';

const SNS = {
  Type: 'Notification',
  MessageId: '6c5b5e0b-2f2e-5d0c-a1f0-9bd1f3a6f0a1',
  TopicArn: 'arn:aws:sns:us-east-1:278350005181:price-list-api',
  Message: { offerCode: 'AmazonEC2', version: '20261201', regions: ['us-east-1', 'ap-northeast-2'] },
};

const STOPPED = {
  'detail-type': 'ECS Task State Change',
  detail: { containers: [{ name: 'checker', exitCode: 3 }], stopCode: 'EssentialContainerExited' },
};

describe('templates', () => {
  it('fills holes from the event: strings, numbers, array elements, objects as JSON', () => {
    // Prepare
    const t = compileTemplate('{{ Message.offerCode }} v{{Message.version}} in {{ Message.regions.1 }}');

    // Act
    const out = t.render(SNS);

    // Assess
    assert.deepEqual(out, { text: 'AmazonEC2 v20261201 in ap-northeast-2', missing: [] });
    assert.equal(compileTemplate('exit {{ detail.containers.0.exitCode }}').render(STOPPED).text, 'exit 3');
    assert.equal(compileTemplate('{{ detail-type }}').render(STOPPED).text, 'ECS Task State Change');
    assert.equal(compileTemplate('{{ Message.regions }}').render(SNS).text, '["us-east-1","ap-northeast-2"]');
    assert.deepEqual(t.paths, ['Message.offerCode', 'Message.version', 'Message.regions.1']);
  });

  it('a missing field renders as nothing and is reported', () => {
    const out = compileTemplate('[{{ Message.nope }}] [{{ detail.x.y }}]').render(SNS);
    assert.deepEqual(out, { text: '[] []', missing: ['Message.nope', 'detail.x.y'] });
  });

  it('a value that looks like a template is inserted as text, never expanded again', () => {
    // Prepare
    const event = { Message: { note: '{{ Message.secret }}', secret: 'hunter2' } };

    // Act
    const out = compileTemplate('note: {{ Message.note }}').render(event);

    // Assess
    assert.equal(out.text, 'note: {{ Message.secret }}');
  });

  it('never follows inherited properties: constructor, __proto__, toString are missing', () => {
    // Prepare
    const t = compileTemplate(
      '{{ constructor }}|{{ Message.__proto__ }}|{{ Message.toString }}|{{ Message.constructor.name }}',
    );

    // Act
    const out = t.render(SNS);

    // Assess
    assert.equal(out.text, '|||');
    assert.equal(out.missing.length, 4);
  });

  it('hostile values stay data: no code runs, control characters are removed', () => {
    // Prepare
    let ran = false;
    (globalThis as Record<string, unknown>).__pwned = () => {
      ran = true;
    };
    const hostile = {
      Message: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a JavaScript template literal is the hostile value
        js: '${globalThis.__pwned()}',
        fn: '"); globalThis.__pwned(); ("',
        tick: '`whoami`',
        ctl: 'a\u0000b\u001b[31mc\u007f\nd\te',
        mention: '<!channel> @here',
      },
    };

    // Act
    const out = compileTemplate(
      '{{ Message.js }} {{ Message.fn }} {{ Message.tick }} {{ Message.ctl }} {{ Message.mention }}',
    ).render(hostile);

    // Assess
    assert.equal(ran, false);
    assert.equal(
      out.text,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the hostile value, kept as text
      '${globalThis.__pwned()} "); globalThis.__pwned(); (" `whoami` ab[31mc\nd\te <!channel> @here',
    );
    delete (globalThis as Record<string, unknown>).__pwned;
  });

  it('in a URL every value is percent-encoded: it cannot add a path, a query or a host', () => {
    // Prepare
    const t = compileTemplate('https://svc.internal/api/{{ Message.id }}?v={{ Message.v }}');

    // Act
    const out = t.render({ Message: { id: '../admin?x=1#', v: 'a&b=c d' } }, 'url');

    // Assess
    assert.equal(out.text, 'https://svc.internal/api/..%2Fadmin%3Fx%3D1%23?v=a%26b%3Dc%20d');
  });

  it('| shell makes one single-quoted word that a shell does not interpret', () => {
    // Prepare
    const value = `x'; touch /tmp/chronops-pwned-$$; echo '$(id) \`id\` "quoted"`;
    const t = compileTemplate('printf %s {{ Message.v | shell }}');

    // Act
    const command = t.render({ Message: { v: value } }).text;
    const printed = execFileSync('sh', ['-c', command], { encoding: 'utf8' });

    // Assess
    assert.equal(printed, value);
  });

  it('| json gives a JSON literal, quotes escaped', () => {
    const out = compileTemplate('{"v": {{ Message.v | json }}}').render({ Message: { v: 'a"b\\c\n' } });
    assert.deepEqual(JSON.parse(out.text), { v: 'a"b\\c\n' });
  });

  it('renderDeep fills every string of a structure; keys stay; a quote cannot break out', () => {
    // Prepare
    const body = {
      offer: '{{ Message.offerCode }}',
      tags: ['x', '{{ Message.version }}'],
      n: 3,
      '{{ k }}': 'v',
    };
    const missing: string[] = [];

    // Act
    const out = renderDeep(body, { Message: { offerCode: '", "admin": true, "x": "', version: 7 } }, missing);

    // Assess
    assert.deepEqual(JSON.parse(JSON.stringify(out)), {
      offer: '", "admin": true, "x": "',
      tags: ['x', '7'],
      n: 3,
      '{{ k }}': 'v',
    });
    assert.deepEqual(missing, []);
  });

  it('refuses malformed templates with a message', () => {
    assert.throws(() => compileTemplate('{{ Message.x '), TemplateError);
    assert.throws(() => compileTemplate('{{ }}'), /names no field/);
    assert.throws(() => compileTemplate('{{ Message.x | upper }}'), /unknown filter "upper"/);
    assert.throws(() => compileTemplate('{{ Message["x"] }}'), /not a field path/);
    assert.throws(() => compileTemplate('{{ a | json | url }}'), /one filter at most/);
    assert.deepEqual(checkTemplates({ a: ['ok', '{{ bad'] }, 'x'), {
      path: 'x.a[1]',
      message: '"{{" is not closed by "}}" in "{{ bad"',
    });
    assert.equal(checkTemplates({ a: ['{{ ok }}'] }, 'x'), undefined);
  });
});
