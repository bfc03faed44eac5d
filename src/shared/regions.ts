/**
 * Korean regions as the group-running seed used them (preferred region, event region filter). Events derive
 * theirs from coordinates; people pick one as a preference.
 */
export const REGIONS = [
  'seoul',
  'gyeonggi',
  'incheon',
  'gangwon',
  'chungcheong',
  'gyeongbuk',
  'gyeongnam',
  'jeolla',
  'jeju',
] as const;

export type Region = (typeof REGIONS)[number];
