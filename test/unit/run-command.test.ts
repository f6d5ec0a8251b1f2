// The command runner the host agents use: a command that exits without reading its input
// (it failed, or does not exist) must reject with CommandError, never crash the worker
// with an unhandled EPIPE (it once took a CC worker down when `nft` was not installed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, CommandError } from '../../activities/network/ip';

const big = 'x'.repeat(8 * 1024 * 1024);   // more than a pipe buffer: the write must hit EPIPE

test('a command that exits before reading its input rejects, without an unhandled EPIPE', async () => {
  const crashes: unknown[] = [];
  const onCrash = (e: unknown) => crashes.push(e);
  process.on('uncaughtException', onCrash);
  try {
    for (let i = 0; i < 5; i++) {
      await assert.rejects(run('sh', ['-c', 'exit 3'], { input: big }), (e: unknown) => e instanceof CommandError && e.code === 3);
    }
    await assert.rejects(run('/nonexistent/nft', ['-f', '-'], { input: big }), (e: unknown) => e instanceof CommandError && e.code === 'ENOENT');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(crashes, []);
  } finally {
    process.off('uncaughtException', onCrash);
  }
});

test('input reaches a command that reads it', async () => {
  assert.equal(await run('wc', ['-c'], { input: 'hello' }), '5\n');
});
