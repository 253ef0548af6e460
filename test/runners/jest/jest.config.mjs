// A Jest 30 project whose tests run under corral's leak guard (setup.mjs). Run by
// test/testing-runners.test.ts with `node --experimental-vm-modules jest --rootDir test/runners/jest`
// (corral is ESM-only, and Jest runs ESM behind that flag), against the built dist/.
export default {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/*.spec.mjs'],
  setupFilesAfterEnv: ['<rootDir>/setup.mjs'],
  transform: {},
  // The package's own name, resolved to its build, as an installed corral would be.
  moduleNameMapper: {
    '^corral$': '<rootDir>/../../../dist/index.js',
    '^corral/testing$': '<rootDir>/../../../dist/testing/index.js',
  },
};
