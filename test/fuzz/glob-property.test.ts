/**
 * The short run of the glob matcher's properties (glob-properties.ts) in `npm test`: a fixed seed,
 * thousands of short patterns against the RegExp translation, and hundreds of ~1000-byte hostile
 * patterns against 255-byte names with a time bound. `npm run fuzz` runs the same properties with
 * random seeds; a failure prints fast-check's shrunk counterexample (a pattern and a name).
 */
import fc from 'fast-check';
import { test } from 'node:test';
import { globAgreementProperty, globCostProperty } from './glob-properties.js';

/** Fixed, so `npm test` is reproducible (the long run uses random seeds). */
const SEED = 0x9106;

test('glob: the automaton answers as the RegExp translation on short patterns and names', () => {
  fc.assert(globAgreementProperty(), { seed: SEED, numRuns: 5000, includeErrorInReport: true });
});

test('glob: a 255-byte name against a ~1000-byte hostile pattern takes a few ms at most', () => {
  fc.assert(globCostProperty(5), { seed: SEED, numRuns: 300, includeErrorInReport: true });
});
