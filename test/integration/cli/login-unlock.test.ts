import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';

import { Redis } from 'ioredis';

import { LoginThrottle } from '../../../services/gateway/src/adapters/redis-state';
import { gatewayRedisPrefix } from '../../../services/gateway/src/app/gateway';
import { loadConfig } from '../../../services/platform/src/config';

const run = promisify(execFile);
const CLI = path.join(__dirname, '../../../bin/paystream.js');

/** `paystream login unlock`: an operator lifts the failed-login locks on one e-mail, and only on it. */
describe('paystream login unlock', () => {
  const topicPrefix = `t-unlock-${randomBytes(4).toString('hex')}.`;
  const env = { ...process.env, PAYSTREAM_TOPIC_PREFIX: topicPrefix };
  const config = loadConfig(env);
  const redis = new Redis(config.redis.url);
  // As the deployment's gateways keep them: the same prefix, one failure allowed per address.
  const throttle = new LoginThrottle(redis, gatewayRedisPrefix(config), {
    maxPerAddress: 1,
    maxPerEmail: 100,
    windowSeconds: 600,
  });

  afterAll(async () => {
    const keys = await redis.keys(`${gatewayRedisPrefix(config)}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('lifts the e-mail’s count and every address’s, and leaves other e-mails locked', async () => {
    const email = 'locked.out@example.com';
    const other = 'someone.else@example.com';
    for (const address of ['203.0.113.1', '203.0.113.2']) {
      expect(await throttle.attempt(email, address)).toBe(0);
      expect(await throttle.attempt(email, address)).toBeGreaterThan(0);
    }
    expect(await throttle.attempt(other, '203.0.113.1')).toBe(0);
    expect(await throttle.attempt(other, '203.0.113.1')).toBeGreaterThan(0);

    const { stdout } = await run('node', [CLI, 'login', 'unlock', '--email', ' Locked.Out@Example.com '], { env });
    expect(stdout).toContain('locked.out@example.com: 3 failed-login count(s) removed');
    expect(await throttle.attempt(email, '203.0.113.1')).toBe(0);
    expect(await throttle.attempt(email, '203.0.113.2')).toBe(0);
    expect(await throttle.attempt(other, '203.0.113.1')).toBeGreaterThan(0);
    // Nothing left to lift: nothing removed, still a success.
    await throttle.succeeded(email, '203.0.113.1');
    await throttle.succeeded(email, '203.0.113.2');
    const again = await run('node', [CLI, 'login', 'unlock', '--email', email], { env });
    expect(again.stdout).toContain('0 failed-login count(s) removed');
  });

  it('refuses what is not an e-mail, naming the option, and exits 1', async () => {
    const failed = await run('node', [CLI, 'login', 'unlock', '--email', 'nobody'], { env }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/--email/);
  });
});
