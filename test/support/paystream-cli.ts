import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `bin/paystream.js`, for tests that run the command as an operator would. */
export const PAYSTREAM_CLI = path.join(__dirname, '../../bin/paystream.js');

export interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/paystream.js <args>` with `env`, resolving to its exit code and output whether it failed or not. */
export function paystreamCli(env: NodeJS.ProcessEnv): (...args: string[]) => Promise<CliOutcome> {
  return (...args) =>
    run('node', [PAYSTREAM_CLI, ...args], { env }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (err: CliOutcome) => err,
    );
}
