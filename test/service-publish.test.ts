/**
 * What `skulens serve --redis` publishes for its workers: the model fields only. serve hands
 * its whole options object over, and Redis is readable by every worker (and anyone with Redis
 * access): the bearer token and the database URL (often with a password) must stay out.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../src/node/platform.js';
import { ReferenceGallery } from '../src/core/gallery/gallery.js';
import { maskPassword } from '../src/cli/service.js';
import { publishModels, readPublished } from '../src/service/queue.js';

type RedisLike = Parameters<typeof publishModels>[0];

/** The two calls publishModels/readPublished make, kept in a Map. */
function fakeRedis() {
  const store = new Map<string, string>();
  return { store, set: async (k: string, v: string) => void store.set(k, v), get: async (k: string) => store.get(k) ?? null };
}

describe('publishing models to Redis', () => {
  it('stores the model fields and their digests, never the token or the database URL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skulens-publish-'));
    const gallery = new ReferenceGallery();
    gallery.add('a', [new Float32Array([1, 0, 0])]).add('b', [new Float32Array([0, 1, 0])]);
    const file = join(dir, 'g.skg');
    await gallery.save(file);
    const redis = fakeRedis();
    const serveOptions = {
      gallery: file,
      detector: 'skulens:shelf',
      maxPixels: 1_000_000,
      token: 'very-secret-token',
      database: 'postgres://skulens:hunter2@db.internal/skulens',
      redis: 'redis://:redispass@cache.internal:6379',
      port: 8080,
    };
    const published = await publishModels(redis as unknown as RedisLike, 'q', serveOptions);
    const stored = [...redis.store.values()].join('\n');
    expect(stored).not.toContain('very-secret-token');
    expect(stored).not.toContain('hunter2');
    expect(stored).not.toContain('redispass');
    expect(Object.keys(published).sort()).toEqual(['detector', 'detectorSha256', 'gallery', 'gallerySha256', 'maxPixels']);
    expect(await readPublished(redis as unknown as RedisLike, 'q')).toEqual(published);
  });
});

describe('URLs printed by serve and worker', () => {
  it('mask a password, keep the rest', () => {
    expect(maskPassword('redis://:s3cret@cache.internal:6379/0')).toBe('redis://:***@cache.internal:6379/0');
    expect(maskPassword('postgres://skulens:hunter2@db/skulens')).toBe('postgres://skulens:***@db/skulens');
    expect(maskPassword('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(maskPassword('https://host/gallery.skg')).toBe('https://host/gallery.skg');
    expect(maskPassword('/srv/galleries/shop.skg')).toBe('/srv/galleries/shop.skg');
  });
});
