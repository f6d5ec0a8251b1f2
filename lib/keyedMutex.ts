// Runs async work one at a time per key, inside this process (two launches
// building the same network on one host must not race each other).
export function keyedMutex() {
  const tails = new Map<string, Promise<unknown>>();
  return async function withKey<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = tails.get(key) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    tails.set(key, next);
    try { return await next; } finally { if (tails.get(key) === next) tails.delete(key); }
  };
}
