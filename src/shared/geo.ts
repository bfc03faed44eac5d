import type { Region } from './regions.js';

export interface Point {
  lat: number;
  lng: number;
}

const EARTH_RADIUS_M = 6_371_008.8;
const rad = (deg: number) => (deg * Math.PI) / 180;

/** Great-circle distance in metres (haversine); within 0.5 % of the ellipsoid, plenty for check-ins and courses. */
export function distanceMeters(a: Point, b: Point): number {
  const dLat = rad(b.lat - a.lat);
  const dLng = rad(b.lng - a.lng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** A GeoJSON LineString: positions are [longitude, latitude]. */
export interface LineString {
  type: 'LineString';
  coordinates: [number, number][];
}

export function lineLengthMeters(line: LineString): number {
  let total = 0;
  for (let i = 1; i < line.coordinates.length; i++) {
    const [lng1, lat1] = line.coordinates[i - 1]!;
    const [lng2, lat2] = line.coordinates[i]!;
    total += distanceMeters({ lat: lat1, lng: lng1 }, { lat: lat2, lng: lng2 });
  }
  return Math.round(total);
}

/**
 * Reference towns of each region. The region of a point is that of its nearest reference town: a few dozen
 * points keep it exact for anywhere people meet (cities, parks, trails) without shipping border polygons; near a
 * border a caller who knows better passes the region explicitly.
 */
const TOWNS: [Region, number, number][] = [
  ['seoul', 37.5665, 126.978],
  ['seoul', 37.6542, 127.0568],
  ['seoul', 37.4837, 127.0324],
  ['seoul', 37.5509, 126.8495],
  ['incheon', 37.4563, 126.7052],
  ['incheon', 37.7469, 126.4879],
  ['incheon', 37.3894, 126.6454],
  ['gyeonggi', 37.2636, 127.0286],
  ['gyeonggi', 37.42, 127.1267],
  ['gyeonggi', 37.6584, 126.832],
  ['gyeonggi', 37.2411, 127.1776],
  ['gyeonggi', 37.7381, 127.0338],
  ['gyeonggi', 36.9921, 127.1129],
  ['gyeonggi', 37.76, 126.78],
  ['gyeonggi', 37.8315, 127.5105],
  ['gyeonggi', 37.4917, 127.4875],
  ['gyeonggi', 37.272, 127.435],
  ['gyeonggi', 37.8949, 127.2003],
  ['gyeonggi', 37.1995, 126.8312],
  ['gyeonggi', 37.3219, 126.8309],
  ['gyeonggi', 37.3943, 126.9568],
  ['gyeonggi', 37.6358, 127.2165],
  ['gangwon', 37.8813, 127.7298],
  ['gangwon', 37.3422, 127.9202],
  ['gangwon', 37.7519, 128.8761],
  ['gangwon', 38.207, 128.5918],
  ['gangwon', 37.5247, 129.1143],
  ['gangwon', 37.1641, 128.9856],
  ['gangwon', 38.1467, 127.3134],
  ['gangwon', 37.6971, 128.3926],
  ['chungcheong', 36.3504, 127.3845],
  ['chungcheong', 36.48, 127.289],
  ['chungcheong', 36.6424, 127.489],
  ['chungcheong', 36.8151, 127.1139],
  ['chungcheong', 36.991, 127.9259],
  ['chungcheong', 36.4465, 127.119],
  ['chungcheong', 36.333, 126.6127],
  ['chungcheong', 36.7848, 126.4503],
  ['chungcheong', 37.1326, 128.191],
  ['chungcheong', 36.9845, 128.3655],
  ['chungcheong', 36.187, 127.0987],
  ['chungcheong', 36.1085, 127.4886],
  ['gyeongbuk', 35.8714, 128.6014],
  ['gyeongbuk', 36.019, 129.3435],
  ['gyeongbuk', 35.8562, 129.2247],
  ['gyeongbuk', 36.5684, 128.7294],
  ['gyeongbuk', 36.1195, 128.3446],
  ['gyeongbuk', 36.8057, 128.624],
  ['gyeongbuk', 36.993, 129.4004],
  ['gyeongbuk', 36.4109, 128.159],
  ['gyeongbuk', 36.1398, 128.1136],
  ['gyeongbuk', 37.4845, 130.9057],
  ['gyeongbuk', 36.5867, 128.1867],
  ['gyeongnam', 35.1796, 129.0756],
  ['gyeongnam', 35.5384, 129.3114],
  ['gyeongnam', 35.2281, 128.6811],
  ['gyeongnam', 35.18, 128.1076],
  ['gyeongnam', 35.2285, 128.8894],
  ['gyeongnam', 34.8544, 128.4331],
  ['gyeongnam', 34.8806, 128.6211],
  ['gyeongnam', 35.335, 129.0373],
  ['gyeongnam', 35.5038, 128.7467],
  ['gyeongnam', 35.6867, 127.9095],
  ['gyeongnam', 34.8376, 127.8924],
  ['gyeongnam', 35.0672, 127.7512],
  ['jeolla', 35.1595, 126.8526],
  ['jeolla', 35.8242, 127.148],
  ['jeolla', 34.8118, 126.3922],
  ['jeolla', 34.7604, 127.6622],
  ['jeolla', 34.9506, 127.4872],
  ['jeolla', 35.9676, 126.7366],
  ['jeolla', 35.9483, 126.9577],
  ['jeolla', 35.4164, 127.3904],
  ['jeolla', 34.5735, 126.599],
  ['jeolla', 34.311, 126.7551],
  ['jeolla', 35.57, 126.856],
  ['jeolla', 35.4358, 126.702],
  ['jeolla', 36.007, 127.6608],
  ['jeju', 33.4996, 126.5312],
  ['jeju', 33.2541, 126.56],
  ['jeju', 33.3875, 126.2353],
  ['jeju', 33.4586, 126.9425],
];

/** The Korean region a point lies in, or null outside Korea. */
export function regionOf(p: Point): Region | null {
  if (p.lat < 33 || p.lat > 38.7 || p.lng < 124.5 || p.lng > 131) return null;
  let best: Region | null = null;
  let bestD = Infinity;
  for (const [region, lat, lng] of TOWNS) {
    // Squared equirectangular distance is enough to rank neighbours this close together.
    const dLat = p.lat - lat;
    const dLng = (p.lng - lng) * Math.cos(rad(lat));
    const d = dLat * dLat + dLng * dLng;
    if (d < bestD) {
      bestD = d;
      best = region;
    }
  }
  return best;
}
