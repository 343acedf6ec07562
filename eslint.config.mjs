// Lint rules for lib/, test/, bench/ and scripts/ (run by `npm run lint` and test/lint.test.ts).
// Syntax-only rules (no type information), so the whole tree lints in seconds on two cores. Fallthrough
// between switch cases is tsc's check (`noFallthroughCasesInSwitch`): tsc knows which calls never return.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'prebuilds/', '.tap/', 'test/fixtures/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'prefer-const': ['error', { destructuring: 'all' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  { files: ['**/*.ts'], rules: { 'no-fallthrough': 'off' } },
  {
    // Untyped JSON (ffprobe output, manifest lines) and errno errors from fs: still `any` here, to be typed.
    files: [
      'lib/data/ffmpeg.ts',
      'lib/data/ffmpeg-env.ts',
      'lib/data/folder-layout.ts',
      'lib/data/labels.ts',
      'lib/data/manifest.ts',
      'lib/data/media-info.ts',
      'test/data/fbank.test.ts',
      'test/data/frames.test.ts',
      'test/models/helpers.ts',
    ],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
