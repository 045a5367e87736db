import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { PAYSTREAM_CLI } from '../../support/paystream-cli';

const run = promisify(execFile);

/**
 * The `paystream` command as npm installs it: a link named `paystream` (node_modules/.bin, a global install, `npm
 * link`) to bin/paystream.js. It ran nothing and exited 0 when reached that way.
 */
describe('the paystream bin', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'paystream-bin-'));
  const link = path.join(dir, 'paystream');
  beforeAll(() => symlinkSync(PAYSTREAM_CLI, link));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['bin/paystream.js', PAYSTREAM_CLI],
    ['a link named paystream', link],
  ])('run as %s, answers --help and refuses an unknown command with exit 2', async (_how, file) => {
    const help = await run('node', [file, '--help']);
    expect(help.stdout).toContain('Usage: paystream [options] [command]');
    expect(help.stdout).toContain('demo');
    const unknown = await run('node', [file, 'no-such-command']).catch((err: { code: number; stderr: string }) => err);
    expect(unknown).toMatchObject({ code: 2 });
    expect((unknown as { stderr: string }).stderr).toContain("unknown command 'no-such-command'");
  });
});
