import { distanceMeters, type Point } from '../../shared/geo.js';

/** Cells of 0.01° (about 1.1 × 0.9 km in Korea): a 1 km radius looks at 9–16 of them. */
const CELL_DEG = 0.01;
const METRES_PER_DEG_LAT = 111_320;
/** Cell keys are numbers (row × COLUMNS + column), so moving a position allocates no key string. */
const COLUMNS = 40_000;
const cellRow = (lat: number) => Math.floor(lat / CELL_DEG) + 9_000;
const cellColumn = (lng: number) => Math.floor(lng / CELL_DEG) + 18_000;
const cellKey = (lat: number, lng: number) => cellRow(lat) * COLUMNS + cellColumn(lng);

interface Slot<T> {
  id: string;
  value: T;
  cell: number;
}

/**
 * Positions by id in a grid, for "who is within r of here" in memory: the embedded store's nearby layer and a
 * services node's mirror of it. A query looks only at the cells the circle's bounding box touches.
 */
export class PositionGrid<T extends Point> {
  private readonly slots = new Map<string, Slot<T>>();
  private readonly cells = new Map<number, Map<string, Slot<T>>>();

  get size(): number {
    return this.slots.size;
  }

  get(id: string): T | undefined {
    return this.slots.get(id)?.value;
  }

  /** Places an entry, or replaces it (moving it to its new cell). */
  put(id: string, value: T): void {
    const cell = cellKey(value.lat, value.lng);
    const slot = this.slots.get(id);
    if (!slot) {
      const fresh = { id, value, cell };
      this.slots.set(id, fresh);
      this.attach(id, fresh);
      return;
    }
    slot.value = value;
    if (slot.cell === cell) return;
    this.detach(id, slot);
    slot.cell = cell;
    this.attach(id, slot);
  }

  delete(id: string): boolean {
    const slot = this.slots.get(id);
    if (!slot) return false;
    this.slots.delete(id);
    this.detach(id, slot);
    return true;
  }

  clear(): void {
    this.slots.clear();
    this.cells.clear();
  }

  *entries(): IterableIterator<[string, T]> {
    for (const [id, slot] of this.slots) yield [id, slot.value];
  }

  /**
   * Calls `visit` for every entry within `radiusM` of `centre`, with its distance, in no particular order;
   * `visit` may delete the entry it is given.
   */
  within(centre: Point, radiusM: number, visit: (id: string, value: T, distanceM: number) => void): void {
    const dLat = radiusM / METRES_PER_DEG_LAT;
    const dLng = radiusM / (METRES_PER_DEG_LAT * Math.max(0.01, Math.cos((centre.lat * Math.PI) / 180)));
    const rowFrom = cellRow(centre.lat - dLat);
    const rowTo = cellRow(centre.lat + dLat);
    const columnFrom = cellColumn(centre.lng - dLng);
    const columnTo = cellColumn(centre.lng + dLng);
    for (let row = rowFrom; row <= rowTo; row++) {
      for (let column = columnFrom; column <= columnTo; column++) {
        const cell = this.cells.get(row * COLUMNS + column);
        if (!cell) continue;
        // Values, not entries: an entry is an array allocated per step, and this loop runs for every
        // position near every subscriber on every tick.
        for (const slot of cell.values()) {
          const d = distanceMeters(centre, slot.value);
          if (d <= radiusM) visit(slot.id, slot.value, d);
        }
      }
    }
  }

  private attach(id: string, slot: Slot<T>): void {
    let cell = this.cells.get(slot.cell);
    if (!cell) this.cells.set(slot.cell, (cell = new Map<string, Slot<T>>()));
    cell.set(id, slot);
  }

  private detach(id: string, slot: Slot<T>): void {
    const cell = this.cells.get(slot.cell);
    cell?.delete(id);
    if (cell?.size === 0) this.cells.delete(slot.cell);
  }
}
