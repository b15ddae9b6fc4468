import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataDirMismatchError, IDENTITY_FILE, claimIdentity, readIdentity, writeIdentity } from '../../src/storage/index.js';
import { FaultyFs, removeTempDirs, tempDir } from './helpers.js';

describe('storage: member identity', () => {
  after(removeTempDirs);
  const identity = { clusterId: 'c-7f3a', memberId: 2 };

  it('is absent in a fresh directory, then reads back what was written', async () => {
    const dir = await tempDir();
    assert.equal(await readIdentity(dir), undefined);
    await writeIdentity(dir, identity);
    assert.deepEqual(await readIdentity(dir), identity);
    assert.deepEqual(await readdir(dir), [IDENTITY_FILE], 'no temp file is left');
    assert.deepEqual(JSON.parse(await readFile(join(dir, IDENTITY_FILE), 'utf8')), identity);
  });

  it('claims a fresh directory and refuses one of another cluster or member', async () => {
    const dir = await tempDir();
    await claimIdentity(dir, identity);
    await claimIdentity(dir, identity);
    await assert.rejects(claimIdentity(dir, { ...identity, clusterId: 'other' }), (error: unknown) => {
      assert.ok(error instanceof DataDirMismatchError);
      assert.match(error.message, /belongs to member 2 of cluster c-7f3a/);
      return true;
    });
    await assert.rejects(claimIdentity(dir, { ...identity, memberId: 3 }), DataDirMismatchError);
  });

  it('refuses a malformed identity file', async () => {
    const dir = await tempDir();
    for (const text of ['{', '{"clusterId":"x"}', '{"clusterId":"","memberId":1}', '{"clusterId":"x","memberId":0}', 'null']) {
      await writeFile(join(dir, IDENTITY_FILE), text);
      await assert.rejects(readIdentity(dir), DataDirMismatchError, text);
    }
  });

  it('keeps the old identity and no temp file when a write fails', async () => {
    const dir = await tempDir();
    await writeIdentity(dir, identity);
    const fs = new FaultyFs();
    fs.fail({ op: 'rename', code: 'EIO' });
    await assert.rejects(writeIdentity(dir, { clusterId: 'new', memberId: 9 }, fs), /I\/O error/);
    assert.deepEqual(await readIdentity(dir), identity);
    assert.deepEqual(await readdir(dir), [IDENTITY_FILE]);
  });
});
