#!/usr/bin/env node
// The `conclave-server` bin: a committed launcher for the compiled server, so that npm can link it
// at install time, before the first build (`npm run build` produces dist/).
import '../dist/src/cli/main.js';
