// Type-aware lint for the whole repository. Domain code (services/*/src/domain/**, connectors/*/src/domain/**) is
// pure: it may not import I/O libraries or adapters — the build enforces what the architecture promises.
import js from '@eslint/js';
import importPlugin from 'eslint-plugin-import';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const IO_MODULES = [
  'kafkajs',
  '@kafkajs/*',
  'pg',
  'ioredis',
  'koa',
  '@koa/*',
  'prom-client',
  'avsc',
  'fs',
  'node:fs',
  'fs/*',
  'node:fs/*',
  'net',
  'node:net',
  'http',
  'node:http',
  'https',
  'node:https',
  'child_process',
  'node:child_process',
  'dgram',
  'node:dgram',
  'dns',
  'node:dns',
  'crypto',
  'node:crypto',
  'timers',
  'node:timers',
  'timers/promises',
  'node:timers/promises',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.paystream/**', 'coverage/**', '**/*.generated.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ['*.mjs', '*.js', 'bin/*.js', 'test/support/*.js', 'test/support/*.mjs'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
      globals: { ...globals.node },
    },
    plugins: { import: importPlugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'separate-type-imports' },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'import/no-cycle': ['error', { maxDepth: Infinity }],
    },
    settings: {
      'import/resolver': { node: { extensions: ['.ts', '.js'] } },
      'import/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
  },
  {
    files: ['services/*/src/domain/**/*.ts', 'connectors/*/src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: IO_MODULES, message: 'domain code is pure: no I/O, clock or randomness; take them as arguments' },
            { group: ['**/adapters/**', '**/app/**'], message: 'domain code may not depend on adapters or app wiring' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'domain code never reads process.env or the process; pass config in' },
        { name: 'fetch', message: 'domain code does no I/O' },
        { name: 'setTimeout', message: 'domain code has no clock' },
        { name: 'setInterval', message: 'domain code has no clock' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'time comes in as an argument (ctx.now)' },
        { object: 'Math', property: 'random', message: 'randomness and ids come in as arguments' },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['eslint.config.mjs', 'test/support/*.mjs'],
    languageOptions: { sourceType: 'module' },
  },
);
