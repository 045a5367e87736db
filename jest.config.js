// jest runs TypeScript through ts-jest. Two projects: `unit` (pure code, no I/O) and `integration` (the real local
// stack: Kafka, the schema registry, Postgres, Redis). `npm test` runs both; `test/support/results-reporter.js`
// writes .paystream/test-results.json, from which .ci/run prints its closing `<N> passed, <M> failed` line.
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] };

module.exports = {
  testTimeout: 120000,
  // In CI a run that has finished always ends (jest then reports that it forced the exit): a test that failed half-way
  // can leave a client retrying, which would otherwise keep the process, and CI, waiting until its time limit.
  forceExit: process.env.CI === 'true',
  reporters: ['default', '<rootDir>/test/support/results-reporter.js'],
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/require-stack.js',
      slowTestThreshold: 30,
    },
  ],
};
