import path from 'node:path';

import { defaultSchemasDir } from '../schemas/schema-catalogue';

/**
 * The local stack's folder, where `infra/stack.sh` keeps runtimes, data, pid files and logs: `configured`
 * (PAYSTREAM_STATE_DIR, resolved against the working directory as the script does) or `.paystream` in the checkout.
 * Everything that looks for the stack's files goes through here, so it finds the folder the stack uses.
 */
export function localStateDir(configured: string | undefined): string {
  return configured ? path.resolve(configured) : path.join(path.resolve(defaultSchemasDir(), '..'), '.paystream');
}
