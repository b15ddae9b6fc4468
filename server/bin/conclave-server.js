#!/usr/bin/env -S node --initial-old-space-size=256
// The `conclave-server` bin: a committed launcher for the compiled server, so that npm can link it
// at install time, before the first build (`npm run build` produces dist/). The shebang carries the
// member's node flags (src/cli/node-flags.ts, MEMBER_NODE_FLAGS: keep the two the same).
import '../dist/src/cli/main.js';
