// Runs async work one at a time per key, in call order, inside this process (two launches
// building the same network on one host must not race; one nft apply at a time per namespace).
// A failed call does not block the next. Each keyedMutex() has its own keys.
export function keyedMutex() {
  const tails = new Map<string, Promise<unknown>>();
  return async function withKey<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = tails.get(key) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    tails.set(key, next);
    try { return await next; } finally { if (tails.get(key) === next) tails.delete(key); }
  };
}
