import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BOARD_NAMES, getBoard, loadConfig, parseBytes, postgresConf, postgresSettings, validateBoard } from '../../src/config';
import { UsageError } from '../../src/errors';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ap-config-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const load = (flags: Record<string, string> = {}, env: Record<string, string> = {}) => loadConfig({ flags, env, cwd: dir });

describe('loadConfig', () => {
  it('uses the defaults of the dev board under ./var', () => {
    const config = load();
    assert.equal(config.board.name, 'dev');
    assert.equal(config.root, join(dir, 'var'));
    assert.equal(config.http.httpPort, 80);
    assert.equal(config.http.httpsPort, 443);
    assert.equal(config.http.managerHttpPort, 8080);
    assert.equal(config.http.managerHttpsPort, 8443);
    assert.equal(config.http.host, '127.0.0.1');
    assert.equal(config.db.mode, 'managed');
    assert.equal(config.db.socketDir, join(dir, 'var/var/run/postgresql'));
    assert.equal(config.reserveBytes, 500 * 1024 * 1024);
    assert.equal(config.log.level, 'info');
    assert.equal(config.configFile, null);
  });

  it('defaults a box to root /, all addresses and an attached database', () => {
    const config = load({ board: 'ipx11' });
    assert.equal(config.root, '/');
    assert.equal(config.http.host, '::');
    assert.equal(config.db.mode, 'attached');
    assert.equal(config.db.socketDir, '/var/run/postgresql');
  });

  it('ranks flags over the config file over the environment', async () => {
    const file = join(dir, 'ap.json');
    await writeFile(file, JSON.stringify({ http: { httpPort: 8081, httpsPort: 8444 }, log: { level: 'debug' } }));
    const env = { AP_HTTP_PORT: '8082', AP_HTTPS_PORT: '8445', AP_LOG_LEVEL: 'warn', AP_RESERVE_SIZE: '2M' };
    const config = load({ config: file, 'http-port': '8090' }, env);
    assert.equal(config.http.httpPort, 8090); // flag
    assert.equal(config.http.httpsPort, 8444); // file beats environment
    assert.equal(config.log.level, 'debug'); // file
    assert.equal(config.reserveBytes, 2 * 1024 * 1024); // environment beats default
    assert.equal(config.configFile, file);
  });

  it("gives the Manager listeners of its own: flags, file and environment, 0 (any free port) when the apps' port is 0", async () => {
    const box = load({ board: 'x86_64' });
    assert.deepEqual([box.http.httpPort, box.http.httpsPort, box.http.managerHttpPort, box.http.managerHttpsPort], [80, 443, 8080, 8443]);
    const tests = load({ 'http-port': '0', 'https-port': '0' });
    assert.deepEqual([tests.http.managerHttpPort, tests.http.managerHttpsPort], [0, 0]);
    assert.equal(load({ 'http-port': '8080', 'manager-http-port': '8081' }).http.managerHttpPort, 8081);
    assert.equal(load({}, { AP_MANAGER_HTTPS_PORT: '9443' }).http.managerHttpsPort, 9443);
    const file = join(dir, 'manager-ports.json');
    await writeFile(file, JSON.stringify({ http: { managerHttpPort: 9080, managerHttpsPort: 9444 } }));
    const fromFile = load({ config: file });
    assert.deepEqual([fromFile.http.managerHttpPort, fromFile.http.managerHttpsPort], [9080, 9444]);
  });

  it('reads <root>/etc/ap.json when present', async () => {
    const root = join(dir, 'withfile');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(root, 'etc'), { recursive: true }));
    await writeFile(join(root, 'etc/ap.json'), JSON.stringify({ http: { httpPort: 9000 } }));
    assert.equal(load({ root }).http.httpPort, 9000);
  });

  it('is frozen all the way down', () => {
    const config = load();
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.http) && Object.isFrozen(config.board.partitions));
    assert.throws(() => {
      (config.http as { httpPort: number }).httpPort = 1;
    }, TypeError);
  });

  const rejects: [string, Record<string, string>, Record<string, string>, RegExp][] = [
    ['an unknown flag', { colour: 'red' }, {}, /unknown option --colour/],
    ['an unknown board', { board: 'ipx99' }, {}, /invalid value "ipx99" for --board/],
    ['an unknown board from the environment', {}, { AP_BOARD: 'pc' }, /invalid value "pc" for environment variable AP_BOARD/],
    ['a port out of range', { 'http-port': '70000' }, {}, /--http-port: expected a port/],
    ['a port that is not a number', {}, { AP_HTTPS_PORT: 'https' }, /AP_HTTPS_PORT/],
    ['a bad log level', { 'log-level': 'loud' }, {}, /one of error, warn, info, debug/],
    ['a bad size', { 'reserve-size': '5T' }, {}, /--reserve-size/],
    ['a bad database mode', { db: 'remote' }, {}, /managed, attached/],
    ['equal ports', { 'http-port': '8080', 'https-port': '8080' }, {}, /must differ/],
    ["the apps' HTTP port for the Manager (its default 8080)", { 'http-port': '8080' }, {}, /the HTTP and Manager's HTTP ports must differ \(both are 8080\)/],
    ["the apps' HTTPS port for the Manager's HTTPS", { 'manager-https-port': '443' }, {}, /the HTTPS and Manager's HTTPS ports must differ/],
    ["the Manager's two ports equal", { 'manager-http-port': '9000', 'manager-https-port': '9000' }, {}, /Manager's HTTP and Manager's HTTPS ports must differ/],
    ['a Manager port out of range', { 'manager-http-port': '65536' }, {}, /--manager-http-port: expected a port/],
    ['a missing explicit config file', { config: '/nonexistent/ap.json' }, {}, /cannot read config file/],
  ];
  for (const [what, flags, env, message] of rejects) {
    it(`rejects ${what} with a UsageError`, () => {
      assert.throws(() => load(flags, env), (err: unknown) => err instanceof UsageError && message.test(err.message));
    });
  }

  it('rejects a config file that is not JSON, or has unknown or mistyped settings', async () => {
    const cases: [string, RegExp][] = [
      ['{ "http": ', /not valid JSON/],
      ['[1, 2]', /must hold a JSON object/],
      ['{ "http": { "port": 80 } }', /unknown setting "http.port"/],
      ['{ "root": "/" }', /unknown setting "root"/],
      ['{ "log": { "level": ["debug"] } }', /must be a string, a number or a boolean/],
      ['{ "http": { "httpPort": 123456 } }', /"http.httpPort" in .*expected a port/],
      ['{ "http": 80 }', /bad\.json: "http" must be an object of settings \(http\.host, /],
      ['{ "ws": { "loginMax": null } }', /bad\.json: "ws\.loginMax" must be a string, a number or a boolean/],
    ];
    for (const [text, message] of cases) {
      const file = join(dir, 'bad.json');
      await writeFile(file, text);
      assert.throws(() => load({ config: file }), (err: unknown) => err instanceof UsageError && message.test(err.message), text);
    }
  });
});

describe('boards', () => {
  it('all validate, and the boxes follow DESIGN.md', () => {
    for (const name of BOARD_NAMES) assert.equal(getBoard(name).name, name);
    assert.equal(getBoard('ipx10').ramMB, 256);
    assert.equal(getBoard('ipx13').normalCmdline, 'root=/dev/nvme0n1p3');
    assert.equal(getBoard('ipx11').normalCmdline, 'root=/dev/sda3');
    assert.equal(getBoard('x86_64').bootControl, 'grub');
    assert.deepEqual(getBoard('x86_64').partitions.map((p) => [p.fs, p.sizeMB]), [['ext2', 350], ['ext4', null], ['ext4', 500], ['swap', 512]]);
    assert.deepEqual(getBoard('ipx10').partitions.map((p) => [p.device, p.fs, p.sizeMB]), [
      ['/dev/sda1', 'vfat', 200],
      ['/dev/sda2', 'ext4', null],
      ['/dev/sda3', 'ext4', 500],
      ['/dev/sda4', 'swap', 512],
    ]);
  });

  it('rejects a board.json with a bad field, naming it', () => {
    const good = structuredClone(getBoard('ipx10')) as unknown as Record<string, unknown>;
    assert.throws(() => validateBoard({ ...good, bootControl: 'uefi' }), /"bootControl"/);
    assert.throws(() => validateBoard({ ...good, nodeFlags: ['max-old-space-size=64'] }), /"nodeFlags"/);
    assert.throws(() => validateBoard({ ...good, partitions: [{ number: 1, device: 'sda1', fs: 'vfat', sizeMB: 1 }] }), /partitions/);
  });

  it('gives every board limits for a service that declares none, and refuses a board without them or with one out of range', () => {
    assert.deepEqual(
      BOARD_NAMES.map((name) => [name, getBoard(name).serviceLimits]),
      [
        ['ipx10', { memoryMB: 48, instanceMB: 4, cpuWeight: 100, pids: 64 }],
        ['ipx11', { memoryMB: 64, instanceMB: 6, cpuWeight: 100, pids: 96 }],
        ['ipx13', { memoryMB: 96, instanceMB: 8, cpuWeight: 100, pids: 128 }],
        ['x86_64', { memoryMB: 256, instanceMB: 16, cpuWeight: 100, pids: 256 }],
        ['dev', { memoryMB: 512, instanceMB: 32, cpuWeight: 100, pids: 512 }],
      ],
    );
    const good = structuredClone(getBoard('ipx10')) as unknown as Record<string, unknown>;
    const limits = good.serviceLimits as Record<string, unknown>;
    assert.throws(() => validateBoard({ ...good, serviceLimits: undefined }), /board\/ipx10\/board\.json: field "serviceLimits" must be an object of memoryMB, instanceMB, cpuWeight, pids/);
    assert.throws(() => validateBoard({ ...good, serviceLimits: { ...limits, memoryMB: 4 } }), /field "serviceLimits\.memoryMB" must be an integer from 8 to 4096/);
    assert.throws(() => validateBoard({ ...good, serviceLimits: { ...limits, pids: undefined } }), /field "serviceLimits\.pids" must be an integer from 8 to 4096/);
    assert.throws(() => validateBoard({ ...good, serviceLimits: { ...limits, swapMB: 1 } }), /field "serviceLimits\.swapMB" must be one of memoryMB/);
  });

  it('refuses PostgreSQL settings it does not know, without a unit, or too big for the box, naming the board file and the field', () => {
    const good = structuredClone(getBoard('ipx10')) as unknown as Record<string, unknown>;
    const pg = good.postgres as Record<string, unknown>;
    const refused = (postgres: unknown, field: RegExp, extra: Record<string, unknown> = {}) =>
      assert.throws(() => validateBoard({ ...good, ...extra, postgres }), (err: Error) => {
        assert.match(err.message, /^board\/ipx10\/board\.json: field /);
        assert.match(err.message, field);
        return true;
      });
    refused({ ...pg, fsync: 'off' }, /"postgres\.fsync" is not a known field/);
    refused({ ...pg, shared_buffers: '16' }, /"postgres\.shared_buffers" .*unit, kB, MB or GB/);
    refused({ ...pg, shared_buffers: '16M' }, /"postgres\.shared_buffers"/);
    refused({ ...pg, work_mem: "1MB'; DROP" }, /"postgres\.work_mem"/);
    refused({ ...pg, max_connections: '30' }, /"postgres\.max_connections" .*integer from 10 to 1000/);
    refused({ ...pg, max_connections: 12 }, /"postgres\.max_connections" must be at least 15 \(superuser_reserved_connections 3 \+ dbPool 2/);
    refused({ ...pg, shared_buffers: '128MB' }, /"postgres\.shared_buffers" must be at most a quarter of ramMB \(64MB\)/);
    const { shared_buffers: _, ...without } = pg;
    refused(without, /"postgres\.shared_buffers"/);
    refused(undefined, /"postgres"/);
    assert.throws(() => validateBoard({ ...good, dbPool: 0 }), /board\/ipx10\/board\.json: field "dbPool" must be an integer from 1 to 20/);
    assert.equal(validateBoard(good).postgres.shared_buffers, '8MB', 'the checks refuse, they do not change the board');
  });

  it('sizes PostgreSQL by the box: ipx10 small, dev at PostgreSQL\'s own defaults', () => {
    const ipx10 = getBoard('ipx10');
    assert.deepEqual([ipx10.postgres.shared_buffers, ipx10.postgres.max_connections, ipx10.dbPool], ['8MB', 30, 2]);
    assert.deepEqual([getBoard('dev').postgres.shared_buffers, getBoard('dev').postgres.max_connections], ['128MB', 100]);
    const conf = postgresConf(ipx10);
    assert.match(conf, /^shared_buffers = 8MB$/m);
    assert.match(conf, /^max_connections = 30$/m);
    assert.match(conf, /^wal_buffers = 512kB$/m);
    assert.equal(postgresSettings(ipx10).max_parallel_workers_per_gather, '0');
    assert.equal(postgresSettings(ipx10).max_logical_replication_workers, '0', 'no launcher process for subscriptions the box never has');
  });
});

describe('parseBytes', () => {
  it('reads plain bytes and K/M/G suffixes', () => {
    assert.equal(parseBytes('0'), 0);
    assert.equal(parseBytes('4096'), 4096);
    assert.equal(parseBytes('64k'), 65536);
    assert.equal(parseBytes('1G'), 1024 ** 3);
    assert.throws(() => parseBytes('1.5M'), UsageError);
  });
});

describe('instances in the config file', () => {
  const withInstances = async (instances: unknown) => {
    const file = join(dir, 'instances.json');
    await writeFile(file, JSON.stringify({ instances }));
    return () => load({ config: file });
  };

  it('reads them, with /<domain>/<name> as the default path', async () => {
    const config = (await withInstances([
      { service: 'echo', name: 'echo1', domain: 'example.com', password: 'pw' },
      { service: 'echo', name: 'b', domain: 'example.com', path: '/custom/b', password: 'pw', maxBodySize: '1K' },
    ]))();
    assert.deepEqual(config.instances, [
      { service: 'echo', name: 'echo1', domain: 'example.com', path: '/example.com/echo1', password: 'pw', maxBodyBytes: null, traceFlags: 0x8001 },
      { service: 'echo', name: 'b', domain: 'example.com', path: '/custom/b', password: 'pw', maxBodyBytes: 1024, traceFlags: 0x8001 },
    ]);
  });

  const bad: [string, unknown, RegExp][] = [
    ['not an array', { a: 1 }, /"instances" must be an array/],
    ['an unknown trace flag', [{ service: 'echo', name: 'a', domain: 'x.com', password: 'p', traceFlags: ['App', 'Magic'] }], /unknown trace flag "Magic"/],
    ['an unknown field', [{ service: 'echo', name: 'a', domain: 'x.com', password: 'p', colour: 'red' }], /unknown field "colour"/],
    ['a bad domain', [{ service: 'echo', name: 'a', domain: 'x..com', password: 'p' }], /instances\[0\]\.domain: "x\.\.com" is not a domain name/],
    ['no password', [{ service: 'echo', name: 'a', domain: 'x.com' }], /instances\[0\]\.password is required/],
    ['an empty password', [{ service: 'echo', name: 'a', domain: 'x.com', password: '' }], /instances\[0\]\.password: must be 1 to 256 characters/],
    ['a password that is a number', [{ service: 'echo', name: 'a', domain: 'x.com', password: 1234 }], /instances\[0\]\.password must be a string/],
    ['a size that is a boolean', [{ service: 'echo', name: 'a', domain: 'x.com', password: 'p', maxBodySize: true }], /instances\[0\]\.maxBodySize must be a size such as 10M/],
    ['trace flags as one string', [{ service: 'echo', name: 'a', domain: 'x.com', password: 'p', traceFlags: 'App' }], /instances\[0\]\.traceFlags must be a number or a list of flag names/],
    ['an entry that is not an object', ['echo'], /instances\[0\] must be an object/],
    ['the Manager path', [{ service: 'echo', name: 'a', domain: 'x.com', path: '/manager/a', password: 'p' }], /instances\[0\]\.path: \/manager\/a belongs to the Manager/],
    ['a trailing slash', [{ service: 'echo', name: 'a', domain: 'x.com', path: '/a/', password: 'p' }], /instances\[0\]\.path: .*no trailing "\/"/],
    ['a path used twice', [
      { service: 'echo', name: 'a', domain: 'x.com', path: '/p', password: 'p' },
      { service: 'echo', name: 'b', domain: 'x.com', path: '/p', password: 'p' },
    ], /path \/p is used twice/],
    ['an instance declared twice', [
      { service: 'echo', name: 'a', domain: 'x.com', password: 'p' },
      { service: 'other', name: 'a', domain: 'x.com', path: '/q', password: 'p' },
    ], /a@x.com is declared twice/],
  ];
  for (const [what, instances, message] of bad) {
    it(`rejects ${what}`, async () => {
      const parse = await withInstances(instances);
      assert.throws(parse, (err: unknown) => err instanceof UsageError && message.test(err.message));
    });
  }

  it('reads trace flags as names or as the bitmask', async () => {
    const config = (await withInstances([
      { service: 'echo', name: 'a', domain: 'x.com', password: 'p', traceFlags: ['App', 'Database', 'Webserver'] },
      { service: 'echo', name: 'b', domain: 'x.com', password: 'p', traceFlags: 0x8000 },
    ]))();
    assert.deepEqual(config.instances.map((i) => i.traceFlags), [0x200000003, 0x8000]);
  });

  it('runs services as accounts of their own on every board, and checks the switch', () => {
    assert.equal(load().services.ownUser, true);
    assert.equal(load({ board: 'ipx11' }).services.ownUser, true);
    assert.equal(load({ board: 'ipx11', 'app-user': 'false' }).services.ownUser, false);
    assert.throws(() => load({ 'app-user': 'yes' }), /true or false/);
    assert.throws(() => load({ 'restart-limit': '0' }), /at least 1/);
  });

  it('refuses --app-user false as root unless the unsafe debugging flag says so', () => {
    const asRoot = (flags: Record<string, string>) => loadConfig({ flags, env: {}, cwd: dir, uid: 0 });
    for (const board of ['dev', 'x86_64']) {
      assert.throws(() => asRoot({ board, 'app-user': 'false' }), /would run every app service as root.*--unsafe-services-as-root true/);
    }
    assert.equal(asRoot({ 'app-user': 'false', 'unsafe-services-as-root': 'true' }).services.ownUser, false);
    assert.equal(asRoot({}).services.ownUser, true);
    assert.equal(loadConfig({ flags: { 'app-user': 'false' }, env: {}, cwd: dir, uid: 1000 }).services.ownUser, false, 'not root: nothing to protect');
  });
});
