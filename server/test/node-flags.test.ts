import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MEMBER_NODE_FLAGS } from '../src/cli/node-flags.js';

describe('member node flags', () => {
  it('the conclave-server bin runs node with MEMBER_NODE_FLAGS (its shebang spells them out)', () => {
    const bin = readFileSync(fileURLToPath(new URL('../../bin/conclave-server.js', import.meta.url)), 'utf8');
    const shebang = bin.split('\n')[0]!;
    const match = /^#!\/usr\/bin\/env -S node( .*)?$/.exec(shebang);
    assert.ok(match, `unexpected shebang: ${shebang}`);
    assert.deepEqual((match[1] ?? '').trim().split(/\s+/).filter(Boolean), [...MEMBER_NODE_FLAGS]);
  });

  it('the server image runs node with MEMBER_NODE_FLAGS', () => {
    const dockerfile = readFileSync(fileURLToPath(new URL('../../../operator/docker/server.Dockerfile', import.meta.url)), 'utf8');
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
    assert.ok(entrypoint, 'the Dockerfile has an exec-form ENTRYPOINT');
    const argv = JSON.parse(entrypoint[1]!) as string[];
    assert.deepEqual(argv.slice(1, -1), [...MEMBER_NODE_FLAGS]);
  });
});
