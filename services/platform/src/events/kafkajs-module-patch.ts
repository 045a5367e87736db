/**
 * Puts `replacement` in place of a kafkajs internal module in the require cache, so the kafkajs module that requires
 * it (`loadedBy`) picks it up when it is loaded. Idempotent. Fails loudly if `loadedBy` was loaded already (the
 * replacement could not take effect). Returns kafkajs' own exports (undefined when already replaced).
 */
export function replaceKafkajsModule(target: string, loadedBy: string, replacement: unknown): unknown {
  const targetPath = require.resolve(target);
  if (require.cache[targetPath]?.exports === replacement) return undefined;
  if (require.cache[require.resolve(loadedBy)])
    throw new Error(`kafkajs was loaded before ${target} was replaced: import kafka-client before kafkajs`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const original: unknown = require(targetPath);
  const entry = require.cache[targetPath];
  if (!entry) throw new Error(`${target} not found in the require cache`);
  entry.exports = replacement;
  return original;
}
