import assert from 'node:assert/strict';
import { isWithin, parentOf, sequenceSuffix, validatePath } from '../../src/tree/path.js';

describe('paths', () => {
  it('accepts valid paths', () => {
    for (const p of ['/', '/a', '/a/b', '/a.b/c-d_e', '/ünïcode', '/a/.x', '/a/..x']) assert.equal(validatePath(p), p);
    assert.equal(validatePath('/a/', 4096, true), '/a/');
  });

  it('refuses invalid paths with InvalidPath', () => {
    for (const p of ['', 'a', '/a/', '//a', '/a//b', '/a/.', '/a/..', '/./a', '/a\u0000b', '/a\nb', '/a\u007f', 'x'.repeat(10), 42, null]) {
      assert.throws(() => validatePath(p as string), { code: 'INVALID_PATH' }, JSON.stringify(p));
    }
    assert.throws(() => validatePath('/' + 'a'.repeat(4096)), { code: 'INVALID_PATH' });
    assert.throws(() => validatePath('/a//', 4096, true), { code: 'INVALID_PATH' });
  });

  it('derives parents, ancestry and sequence suffixes as ZooKeeper does', () => {
    assert.equal(parentOf('/a'), '/');
    assert.equal(parentOf('/a/b/c'), '/a/b');
    assert.ok(isWithin('/a/b', '/a') && isWithin('/a', '/a') && isWithin('/x', '/'));
    assert.ok(!isWithin('/ab', '/a'));
    assert.equal(sequenceSuffix(7), '0000000007');
    assert.equal(sequenceSuffix(-5), '-000000005');
  });
});
