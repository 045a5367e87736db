#!/usr/bin/env node
'use strict';
// The `paystream` command. Runs the compiled CLI from dist/ (built by `npm ci` through the prepare script, or by
// `npm run build`).
const path = require('node:path');
const fs = require('node:fs');

const main = path.join(__dirname, '..', 'dist', 'services', 'cli', 'src', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write('paystream is not built yet: run `npm run build` first.\n');
  process.exit(1);
}
// Called rather than run on require: however this file is reached (npm's `paystream` link in node_modules/.bin, a
// global install, `npm link`), the command line runs.
void require(main).main(process.argv);
