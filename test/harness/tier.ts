// The unit tier (tools/test-tiers.mjs) runs without PostgreSQL and without the
// bundle; the harness refuses both then, so a file in the wrong tier fails loudly.
export function notInUnitTier(what: string): void {
  if (process.env.AP_TEST_TIER === 'unit') throw new Error(`this test needs ${what}, so it is not a unit test: see tools/test-tiers.mjs`);
}
