/**
 * Items settle in any order; stdout gets their outputs in input order, each as soon as every item
 * before it is out. This keeps only which indexes are ready, never the outputs themselves.
 */
export class InOrder {
  private next = 0;
  private readonly ready = new Set<number>();

  constructor(private readonly total: number) {}

  /** marks an item settled; repeats are harmless */
  settle(index: number): void {
    if (index >= this.next && index < this.total) this.ready.add(index);
  }

  /** the indexes that can be written now, in order; each is returned once */
  take(): number[] {
    const out: number[] = [];
    while (this.ready.delete(this.next)) out.push(this.next++);
    return out;
  }

  get done(): boolean {
    return this.next >= this.total;
  }

  /** how many have been taken */
  get written(): number {
    return this.next;
  }
}
