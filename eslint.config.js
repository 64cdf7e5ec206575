import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.dbops/**', 'bench/.work/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
        performance: 'readonly',
        setImmediate: 'readonly',
        queueMicrotask: 'readonly',
      },
    },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The core is a library: it must not reach for the terminal layer.
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**', 'src/commands/*/command.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['commander', 'chalk', 'cli-table3', '**/cli/**'],
              message: 'core code must not import the CLI layer',
            },
          ],
        },
      ],
    },
  },
  {
    // The program is bundled (scripts/bundle.mjs): a bundled CommonJS package imported dynamically
    // has only a default export there, so `const { x } = await import('pkg')` breaks. Packages left
    // out of the bundle (or ES modules) may be imported lazily; others through a module of ours.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'ImportExpression > Literal[value=/^(?!\\.|node:|mongodb$|@aws-sdk\\/|age-encryption$|@faker-js\\/)/]',
          message:
            'lazy-load packages through a module of ours (e.g. src/config/yaml-text.ts): bundled CommonJS loses named exports',
        },
      ],
    },
  },
  {
    files: ['src/cli/render/**', 'bin/**', 'bench/**', 'test/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // The CommonJS entry (bin/dbops.cjs): require and __dirname are what it is for.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
