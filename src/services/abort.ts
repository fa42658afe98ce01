// One 'abort' listener per signal for everything it may stop. A burst of a thousand calls under one signal (a
// timer fire's) would otherwise add and remove a thousand listeners — each removal a walk of the signal's list,
// so the burst's cost grew with its square (the limiters' waiters, the requests).

const aborters = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `fn` when `signal` aborts; the returned function forgets it. */
export function whenAborted(signal: AbortSignal, fn: () => void): () => void {
  let set = aborters.get(signal);
  if (!set) {
    const fns = new Set<() => void>();
    set = fns;
    aborters.set(signal, fns);
    signal.addEventListener(
      'abort',
      () => {
        for (const f of [...fns]) f();
        fns.clear();
      },
      { once: true },
    );
  }
  set.add(fn);
  const fns = set;
  return () => fns.delete(fn);
}
