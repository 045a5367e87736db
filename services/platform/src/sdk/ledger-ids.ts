/**
 * The ids the ledger gives what it derives from a command: part of its contract, so a caller can wait for a charge's
 * credit or its reversal, and a reader can tell a reversal's entries from a credit's, without asking the ledger.
 *
 * - An accepted command's entries are `<command id>:<leg>`, its legs numbered from 0 in posting order.
 * - An accepted Charge or Transfer sends its Credit to the payee's account as `<command id>:credit`.
 * - A Credit the payee's account refuses sends the money back as `<credit id>:reversal`, whose own entries are then
 *   `<credit id>:reversal:<leg>`. A reversal is never reversed.
 *
 * Pure functions of their arguments: the same command always derives the same ids, which is what makes a follow-up
 * repeated after a crash a duplicate the ledger recognises.
 */

export const entryId = (commandId: string, leg: number): string => `${commandId}:${leg}`;

export const creditCommandId = (commandId: string): string => `${commandId}:credit`;

export const reversalCommandId = (creditCommandId: string): string => `${creditCommandId}:reversal`;

const REVERSAL_ENTRY = /:reversal:\d+$/;

/** Whether an entry was posted by a reversal (money sent back to its payer), from its id alone. */
export const isReversalEntry = (id: string): boolean => REVERSAL_ENTRY.test(id);
