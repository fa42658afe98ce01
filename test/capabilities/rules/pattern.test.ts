import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePattern, PatternError } from '../../../src/capabilities/rules/pattern.ts';

// The sample event of AWS's EventBridge documentation and aws/event-ruler's README.
const EC2_EVENT = {
  version: '0',
  id: 'ddddd4-aaaa-7777-4444-345dd43cc333',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '012345679012',
  time: '2017-10-02T16:24:49Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
  detail: {
    'c-count': 5,
    'd-count': 3,
    'x-limit': 301.8,
    'source-ip': '10.0.0.33',
    'instance-id': 'i-000000aaaaaa00000',
    state: 'running',
  },
};

/** With `detail` changed: the other fields as in the documented event. */
function ec2(detail: Record<string, unknown>) {
  return { ...EC2_EVENT, detail: { ...EC2_EVENT.detail, ...detail } };
}

function matches(pattern: unknown, event: unknown): boolean {
  return compilePattern(pattern).matches(event);
}

// An ECS "Task State Change" event as EventBridge delivers it (the seed's STOPPED case).
const ECS_STOPPED = {
  version: '0',
  id: '3317b2af-7005-947d-b652-f55e762e571a',
  'detail-type': 'ECS Task State Change',
  source: 'aws.ecs',
  account: '111122223333',
  time: '2020-01-23T17:57:58Z',
  region: 'us-east-1',
  resources: ['arn:aws:ecs:us-east-1:111122223333:task/pricing/b99d40b3d7db4b5f8e5a2bd0c0b6d29f'],
  detail: {
    clusterArn: 'arn:aws:ecs:us-east-1:111122223333:cluster/pricing',
    containers: [
      { name: 'checker', exitCode: 0, lastStatus: 'STOPPED' },
      { name: 'sidecar', exitCode: 137, lastStatus: 'STOPPED' },
    ],
    lastStatus: 'STOPPED',
    desiredStatus: 'STOPPED',
    launchType: 'FARGATE',
    stopCode: 'EssentialContainerExited',
    stoppedReason: 'Essential container in task exited',
    startedBy: 'chronops',
  },
};

describe('event patterns: AWS documented examples', () => {
  it('simple matching: every named field, a list is any of its values, an event array intersects', () => {
    // Prepare
    const pattern = {
      'detail-type': ['EC2 Instance State-change Notification'],
      resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
      detail: { state: ['initializing', 'running'] },
    };

    // Act / Assess
    assert.equal(matches(pattern, EC2_EVENT), true);
    assert.equal(matches(pattern, ec2({ state: 'initializing' })), true);
    assert.equal(matches(pattern, ec2({ state: 'stopped' })), false);
    assert.equal(matches(pattern, { ...EC2_EVENT, resources: ['arn:other'] }), false);
    assert.equal(matches({ source: ['aws.ec2', 'aws.fargate'] }, EC2_EVENT), true);
    assert.equal(matches({ source: ['aws.ec2', 'aws.fargate'] }, { ...EC2_EVENT, source: 'aws.s3' }), false);
  });

  it('the EC2 terminated example: a field the pattern names must be in the event at the same nesting', () => {
    // Prepare
    const pattern = {
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['terminated'] },
    };

    // Act / Assess
    assert.equal(matches(pattern, ec2({ state: 'terminated' })), true);
    assert.equal(matches(pattern, EC2_EVENT), false);
    assert.equal(matches(pattern, { ...EC2_EVENT, state: 'terminated', detail: {} }), false);
  });

  it('prefix matching, also ignoring case; only on strings', () => {
    assert.equal(matches({ time: [{ prefix: '2017-10-02' }] }, EC2_EVENT), true);
    assert.equal(matches({ time: [{ prefix: '2017-10-03' }] }, EC2_EVENT), false);
    const ignoreCase = { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } };
    assert.equal(matches(ignoreCase, { detail: { service: 'eventbridge' } }), true);
    assert.equal(matches(ignoreCase, { detail: { service: 'EVENTBRIDGE' } }), true);
    assert.equal(matches(ignoreCase, { detail: { service: 'lambda' } }), false);
    assert.equal(matches({ detail: { 'c-count': [{ prefix: '5' }] } }, EC2_EVENT), false);
  });

  it('suffix matching, also ignoring case', () => {
    assert.equal(matches({ FileName: [{ suffix: '.png' }] }, { FileName: 'photo.png' }), true);
    assert.equal(matches({ FileName: [{ suffix: '.png' }] }, { FileName: 'photo.PNG' }), false);
    const ignoreCase = { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } };
    assert.equal(matches(ignoreCase, { detail: { FileName: 'photo.PNG' } }), true);
    assert.equal(matches({ source: [{ suffix: 'ec2' }] }, EC2_EVENT), true);
  });

  it('equals-ignore-case and wildcard', () => {
    assert.equal(matches({ source: [{ 'equals-ignore-case': 'AWS.EC2' }] }, EC2_EVENT), true);
    const wildcard = { source: [{ wildcard: 'Simple*Service' }] };
    assert.equal(matches(wildcard, { source: 'SimpleQueueService' }), true);
    assert.equal(matches(wildcard, { source: 'SimpleService' }), true);
    assert.equal(matches(wildcard, { source: 'SimpleQueueServices' }), false);
    assert.equal(matches({ FilePath: [{ wildcard: 'dir/*.png' }] }, { FilePath: 'dir/a.b.png' }), true);
    assert.equal(matches({ FilePath: [{ wildcard: 'a\\*b' }] }, { FilePath: 'a*b' }), true);
    assert.equal(matches({ FilePath: [{ wildcard: 'a\\*b' }] }, { FilePath: 'axxb' }), false);
    assert.equal(matches({ FilePath: [{ wildcard: 'a.c' }] }, { FilePath: 'abc' }), false);
  });

  it('anything-but: a string, a number, lists of either, a prefix, a suffix, ignoring case, a wildcard', () => {
    assert.equal(matches({ detail: { state: [{ 'anything-but': 'initializing' }] } }, EC2_EVENT), true);
    assert.equal(
      matches({ detail: { state: [{ 'anything-but': 'initializing' }] } }, ec2({ state: 'initializing' })),
      false,
    );
    assert.equal(matches({ detail: { 'x-limit': [{ 'anything-but': 123 }] } }, EC2_EVENT), true);
    assert.equal(
      matches({ detail: { 'x-limit': [{ 'anything-but': 123 }] } }, ec2({ 'x-limit': 123 })),
      false,
    );
    const list = { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } };
    assert.equal(matches(list, EC2_EVENT), true);
    assert.equal(matches(list, ec2({ state: 'overloaded' })), false);
    const numbers = { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } };
    assert.equal(matches(numbers, EC2_EVENT), true);
    assert.equal(matches(numbers, ec2({ 'x-limit': 200 })), false);
    const prefix = { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } };
    assert.equal(matches(prefix, EC2_EVENT), true);
    assert.equal(matches(prefix, ec2({ state: 'initializing' })), false);
    const suffix = { FileName: [{ 'anything-but': { suffix: '.png' } }] };
    assert.equal(matches(suffix, { FileName: 'a.jpg' }), true);
    assert.equal(matches(suffix, { FileName: 'a.png' }), false);
    const ignoreCase = { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] };
    assert.equal(matches(ignoreCase, { state: 'INITIALIZING' }), false);
    assert.equal(matches(ignoreCase, { state: 'running' }), true);
    const wildcard = { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] };
    assert.equal(matches(wildcard, { FilePath: '/usr/lib/x' }), false);
    assert.equal(matches(wildcard, { FilePath: '/usr/bin/x' }), true);
  });

  it('anything-but needs the field to be there', () => {
    assert.equal(matches({ detail: { color: [{ 'anything-but': 'red' }] } }, EC2_EVENT), false);
  });

  it('numeric matching: ranges, upper bounds, equality; only JSON numbers', () => {
    // Prepare
    const pattern = {
      detail: {
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ numeric: ['=', 3.018e2] }],
      },
    };

    // Act / Assess
    assert.equal(matches(pattern, EC2_EVENT), true);
    assert.equal(matches(pattern, ec2({ 'c-count': 6 })), false);
    assert.equal(matches(pattern, ec2({ 'c-count': 0 })), false);
    assert.equal(matches(pattern, ec2({ 'd-count': 10 })), false);
    assert.equal(matches(pattern, ec2({ 'x-limit': 301.81 })), false);
    assert.equal(matches(pattern, ec2({ 'c-count': '5' })), false);
    assert.equal(matches({ n: [300] }, { n: 3.0e2 }), true);
    assert.equal(matches({ n: [300] }, { n: '300' }), false);
    assert.equal(matches({ n: ['300'] }, { n: 300 }), false);
  });

  it('IP address matching, IPv4 and IPv6', () => {
    assert.equal(matches({ detail: { 'source-ip': [{ cidr: '10.0.0.0/24' }] } }, EC2_EVENT), true);
    assert.equal(matches({ detail: { 'source-ip': [{ cidr: '10.0.1.0/24' }] } }, EC2_EVENT), false);
    assert.equal(matches({ ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:db8::1' }), true);
    assert.equal(matches({ ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:db9::1' }), false);
    assert.equal(matches({ ip: [{ cidr: '10.0.0.0/8' }] }, { ip: 'not an address' }), false);
  });

  it('exists matching works on leaves only', () => {
    assert.equal(matches({ detail: { 'c-count': [{ exists: true }] } }, EC2_EVENT), true);
    assert.equal(matches({ detail: { 'c-count': [{ exists: false }] } }, EC2_EVENT), false);
    const absent = { detail: { 'c-count': [{ exists: false }] } };
    assert.equal(matches(absent, { ...EC2_EVENT, detail: { state: 'running' } }), true);
    // c-count is an object here, not a leaf: it does not "exist" for the pattern.
    const nested = { ...EC2_EVENT, detail: { state: 'running', 'c-count': { c1: 100 } } };
    assert.equal(matches(absent, nested), true);
    assert.equal(matches({ detail: { 'c-count': [{ exists: true }] } }, nested), false);
    assert.equal(matches({ detail: { nothing: [{ exists: true }] } }, { detail: { nothing: null } }), true);
  });

  it('null and the empty string are values', () => {
    assert.equal(matches({ responseElements: [null] }, { responseElements: null }), true);
    assert.equal(matches({ responseElements: [null] }, { responseElements: 'x' }), false);
    assert.equal(matches({ LastName: [''] }, { LastName: '' }), true);
    assert.equal(matches({ LastName: [''] }, {}), false);
  });

  it('the complex example of the documentation', () => {
    // Prepare
    const pattern = {
      time: [{ prefix: '2017-10-02' }],
      detail: {
        state: [{ 'anything-but': 'initializing' }],
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ 'anything-but': [100, 200, 300] }],
        'source-ip': [{ cidr: '10.0.0.0/8' }],
      },
    };

    // Act / Assess
    assert.equal(matches(pattern, EC2_EVENT), true);
    assert.equal(matches(pattern, ec2({ 'source-ip': '192.168.0.1' })), false);
    assert.equal(matches(pattern, ec2({ 'x-limit': 300 })), false);
  });

  it('$or: alternatives at the top and inside a nested object, with AND inside an alternative', () => {
    // Prepare
    const normal = {
      source: ['aws.cloudwatch'],
      $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
    };
    const parallel = {
      $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }],
      detail: { $or: [{ source: ['aws.cloudwatch'] }, { 'detail-type': ['CloudWatch Alarm State Change'] }] },
    };
    const andInside = {
      source: ['aws.cloudwatch'],
      $or: [{ metricName: ['CPUUtilization'] }, { metricType: ['MetricType'], namespace: ['AWS/EC2'] }],
    };

    // Act / Assess
    assert.equal(matches(normal, { source: 'aws.cloudwatch', namespace: 'AWS/ES' }), true);
    assert.equal(matches(normal, { source: 'aws.cloudwatch', metricName: 'ReadLatency' }), true);
    assert.equal(matches(normal, { source: 'aws.cloudwatch', metricName: 'DiskIO' }), false);
    assert.equal(matches(normal, { source: 'aws.ec2', metricName: 'ReadLatency' }), false);
    assert.equal(matches(parallel, { namespace: 'AWS/EC2', detail: { source: 'aws.cloudwatch' } }), true);
    assert.equal(matches(parallel, { namespace: 'AWS/EC2', detail: { source: 'aws.ec2' } }), false);
    assert.equal(
      matches(andInside, { source: 'aws.cloudwatch', metricType: 'MetricType', namespace: 'AWS/EC2' }),
      true,
    );
    assert.equal(matches(andInside, { source: 'aws.cloudwatch', metricType: 'MetricType' }), false);
  });

  it('arrays of objects: a sub-pattern matches within one element, never across two', () => {
    // Prepare
    const event = {
      employees: [
        { firstName: 'John', lastName: 'Doe' },
        { firstName: 'Anna', lastName: 'Smith' },
        { firstName: 'Peter', lastName: 'Jones' },
      ],
    };

    // Act / Assess
    assert.equal(matches({ employees: { firstName: ['Anna'] } }, event), true);
    assert.equal(matches({ employees: { firstName: ['Anna'], lastName: ['Smith'] } }, event), true);
    assert.equal(matches({ employees: { firstName: ['Anna'], lastName: ['Jones'] } }, event), false);
    const nested = { employees: [[event.employees[0], event.employees[1]], [event.employees[2]]] };
    assert.equal(matches({ employees: { firstName: ['Peter'] } }, nested), true);
  });

  it("the seed's rule: ECS task STOPPED because an essential container exited", () => {
    // Prepare
    const pattern = {
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: { lastStatus: ['STOPPED'], stoppedReason: [{ prefix: 'Essential container in task exited' }] },
    };
    const failed = { detail: { containers: { exitCode: [{ 'anything-but': 0 }] } } };

    // Act / Assess
    assert.equal(matches(pattern, ECS_STOPPED), true);
    assert.equal(
      matches(pattern, { ...ECS_STOPPED, detail: { ...ECS_STOPPED.detail, lastStatus: 'RUNNING' } }),
      false,
    );
    assert.equal(matches(failed, ECS_STOPPED), true);
    const allZero = {
      ...ECS_STOPPED,
      detail: { ...ECS_STOPPED.detail, containers: [{ name: 'c', exitCode: 0 }] },
    };
    assert.equal(matches(failed, allZero), false);
  });

  it('never reads inherited properties of the event', () => {
    assert.equal(matches({ constructor: [{ exists: true }] }, {}), false);
    assert.equal(matches({ toString: [{ exists: false }] }, {}), true);
    assert.equal(matches({ __proto__x: ['a'] }, JSON.parse('{"__proto__x":"a"}')), true);
    assert.equal(matches({ a: { b: ['x'] } }, 'a string event'), false);
    assert.equal(matches({ a: ['x'] }, null), false);
  });
});

describe('event patterns: refused with the path of the bad part', () => {
  const cases: Array<[string, unknown, string]> = [
    ['not an object', ['aws.ecs'], 'pattern'],
    ['empty', {}, 'pattern'],
    ['a bare value', { source: 'aws.ecs' }, 'pattern.source'],
    ['an empty list', { source: [] }, 'pattern.source'],
    ['an unknown operator', { source: [{ contains: 'x' }] }, 'pattern.source[0].contains'],
    ['two operators in one matcher', { source: [{ prefix: 'a', suffix: 'b' }] }, 'pattern.source[0]'],
    ['exists not boolean', { a: [{ exists: 'yes' }] }, 'pattern.a[0].exists'],
    ['numeric out of order', { a: [{ numeric: ['<', 5, '>', 1] }] }, 'pattern.a[0].numeric'],
    ['an empty numeric range', { a: [{ numeric: ['>', 10, '<', 5] }] }, 'pattern.a[0].numeric'],
    ['a numeric bound not a number', { a: [{ numeric: ['>', '5'] }] }, 'pattern.a[0].numeric[1]'],
    ['a number too large', { a: [{ numeric: ['>', 6e9] }] }, 'pattern.a[0].numeric[1]'],
    ['a bad CIDR', { a: [{ cidr: '10.0.0.0/33' }] }, 'pattern.a[0].cidr'],
    ['mixed anything-but list', { a: [{ 'anything-but': ['x', 1] }] }, 'pattern.a[0].anything-but'],
    ['consecutive wildcards', { a: [{ wildcard: 'a**b' }] }, 'pattern.a[0].wildcard'],
    ['a lone $or branch', { $or: [{ a: ['x'] }] }, 'pattern.$or'],
    ['a nested bad leaf', { detail: { state: [{ prefix: 3 }] } }, 'pattern.detail.state[0].prefix'],
  ];
  for (const [what, pattern, path] of cases) {
    it(what, () => {
      assert.throws(
        () => compilePattern(pattern),
        (error: unknown) => error instanceof PatternError && error.path === path,
      );
    });
  }
});
