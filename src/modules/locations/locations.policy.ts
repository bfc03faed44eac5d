import type { Point } from '../../shared/geo.js';
import type { AudienceType, Precision } from './locations.dto.js';

/**
 * Who may share with and watch which layer, and how precisely a position is seen, as pure functions. The
 * service loads the facts (event times, participation, group membership) and checks these.
 */

/** Event participants see each other from this long before the start until the end. */
export const EVENT_MAP_OPENS_BEFORE_MS = 30 * 60_000;

export function eventMapOpen(event: { startsAt: Date; endsAt: Date }, now: Date): boolean {
  const t = now.getTime();
  return t >= event.startsAt.getTime() - EVENT_MAP_OPENS_BEFORE_MS && t < event.endsAt.getTime();
}

/** The nearby layer is seen by strangers: never at exact precision. */
export function precisionAllowed(audience: AudienceType, precision: Precision): boolean {
  return !(audience === 'nearby' && precision === 'exact');
}

const METRES_PER_DEG_LAT = 111_320;
const GRID_M: Record<Precision, number> = { exact: 0, '100m': 100, '1km': 1000 };

/**
 * The position an audience of this precision may see: the centre of the grid cell of that size the point lies
 * in. A fixed grid (not random noise) keeps the shown point stable while the person stays in a cell, so
 * averaging many updates does not reveal the exact position. Longitude cells are sized at the cell row's
 * latitude, so every cell is about square.
 */
export function snapToPrecision(p: Point, precision: Precision): Point {
  const size = GRID_M[precision];
  if (size === 0) return { lat: p.lat, lng: p.lng };
  const latStep = size / METRES_PER_DEG_LAT;
  const row = Math.floor(p.lat / latStep);
  const lat = (row + 0.5) * latStep;
  const lngStep = size / (METRES_PER_DEG_LAT * Math.max(0.01, Math.cos((lat * Math.PI) / 180)));
  const lng = (Math.floor(p.lng / lngStep) + 0.5) * lngStep;
  return { lat: round6(lat), lng: round6(Math.max(-180, Math.min(180, lng))) };
}

const round6 = (n: number) => Math.round(n * 1e6) / 1e6;

export const layerKey = (audience: AudienceType, id: string | null): string =>
  audience === 'nearby' ? 'nearby' : `${audience}:${id}`;
