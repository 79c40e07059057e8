import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

const folders = (names) => names.flatMap((folder) => [`**/${folder}`, `**/${folder}/**`]);

// The service ships without tools/ and test/ (.dockerignore), so nothing it runs may import them.
const service = ['config.ts', '{activities,api,billing,cli,consumer,contract,db,domain,fleet,intake,lib,messaging,relay,tracing,worker,workflows}/**/*.ts'];
const notTooling = { group: folders(['tools', 'test']), message: 'The service may not depend on tools/ or test/: they are not in the image.' };

/** Files matching `files` may not import from the folders in `forbidden` (nor from the tooling). */
const layer = (files, forbidden, message) => ({
  files: [files],
  rules: { 'no-restricted-imports': ['error', { patterns: [{ group: folders(forbidden), message }, notTooling] }] },
});

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.stack/', 'test/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.mjs', '*.mts'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['*.mjs', '*.mts'],
    ...tseslint.configs.disableTypeChecked,
  },
  { files: service, rules: { 'no-restricted-imports': ['error', { patterns: [notTooling] }] } },
  // Dependencies point one way: intake (api, consumer) → start → workflows; activities → billing → db.
  layer('consumer/**/*.ts', ['api'], 'The Kafka intake may not lean on the HTTP layer; shared shapes live in contract/.'),
  layer('api/**/*.ts', ['activities'], 'The API may not reach into activities; shared business operations live in billing/ or intake/.'),
  layer('{activities,billing,db,domain,contract}/**/*.ts', ['api', 'consumer', 'intake'], 'Business code may not depend on the producers.'),
  {
    // Workflow code runs in a deterministic sandbox: no Node built-ins, and only types from activities.
    files: ['workflows/**/*.ts', 'contract/saga.ts', 'contract/saga-kit.ts', 'contract/search-attributes.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code may not import Node built-ins.' })),
          patterns: [
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'Workflows may import only types from activities/ (use `import type`).',
            },
            notTooling,
          ],
        },
      ],
    },
  },
);
