import { openingOutcome, openWalletCommand } from '../domain/wallet-opening';
import type { GatewayDeps } from '../http/context';

/** How often the gateway looks for wallets whose account was never seen opened. */
export const WALLET_OPENING_SWEEP_MS = 30_000;

/**
 * Sends again the OpenAccount of every wallet recorded more than `graceSeconds` ago whose acceptance was never
 * recorded — the process died before or while sending it, Kafka had not acknowledged it in time (a 202), or its result
 * came after the request's deadline (a 202) — and records what the ledger answers. Returns how many wallets it settled
 * (opened or dropped).
 *
 * Guarantees: every wallet the gateway recorded ends with an open ledger account, or is dropped because the ledger
 * refused it (as a creation refused at once is). The command is the creation's own (`openWalletCommand`, one id per
 * wallet), so the ledger opens the account at most once and answers a repeat with its first result. A wallet whose
 * command Kafka does not acknowledge, or whose result is late again, stays for the next sweep; one failure does not
 * hold the others.
 */
export async function openLeftWallets(
  deps: Pick<GatewayDeps, 'directory' | 'ledger' | 'logger' | 'now'>,
  options: { graceSeconds: number; replyTimeoutMs: number; limit?: number },
): Promise<number> {
  const wallets = await deps.directory.unopenedWallets(options.graceSeconds, options.limit ?? 100);
  if (wallets.length === 0) return 0;
  const deadline = Date.now() + options.replyTimeoutMs;
  // Sent together: the ledger client puts them in one produce request.
  const settled = await Promise.allSettled(
    wallets.map(async (wallet) => {
      const result = await deps.ledger.request(openWalletCommand(wallet, deps.now()), deadline);
      if (!result) return 'late';
      const outcome = openingOutcome(result);
      if (outcome.opened) {
        await deps.directory.markWalletOpened(wallet.walletId);
        return 'opened';
      }
      await deps.directory.dropWallet(wallet.walletId);
      deps.logger.warn('the ledger refused a wallet left unopened; dropped it', {
        wallet: wallet.walletId,
        owner: wallet.ownerId,
        code: outcome.code,
      });
      return 'dropped';
    }),
  );
  const count = (what: string) => settled.filter((s) => s.status === 'fulfilled' && s.value === what).length;
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).message] : []));
  deps.logger.warn('sent the opening of wallets left unopened again', {
    wallets: wallets.length,
    opened: count('opened'),
    dropped: count('dropped'),
    late: count('late'),
    failed: failures.length,
    ...(failures.length > 0 ? { firstFailure: failures[0] } : {}),
  });
  return count('opened') + count('dropped');
}
