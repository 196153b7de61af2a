// Digests that in-flight work holds: GC treats them as roots. A lease is taken before a blob is
// looked up or made visible, so a concurrent sweep can never remove what an import relies on.
export class Leases {
  private readonly held = new Map<string, number>();

  create(): Lease {
    const mine = new Set<string>();
    const created = new Set<string>();
    return {
      created,
      add: (d: string) => {
        if (mine.has(d)) return;
        mine.add(d);
        this.held.set(d, (this.held.get(d) ?? 0) + 1);
      },
      release: () => {
        for (const d of mine) {
          const n = (this.held.get(d) ?? 1) - 1;
          if (n <= 0) this.held.delete(d);
          else this.held.set(d, n);
        }
        mine.clear();
      },
    };
  }

  has(d: string): boolean {
    return this.held.has(d);
  }

  /** Holders of a digest. */
  count(d: string): number {
    return this.held.get(d) ?? 0;
  }

  all(): Set<string> {
    return new Set(this.held.keys());
  }
}

export interface Lease {
  /** Blobs this work made (not found already present): what to remove if it fails. */
  readonly created: Set<string>;
  add(digest: string): void;
  release(): void;
}
