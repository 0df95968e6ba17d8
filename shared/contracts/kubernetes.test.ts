import { describe, expect, it } from 'vitest';
import { formatQuantity, imageReferenceProblem, quantityValue } from './kubernetes.ts';

describe('image references', () => {
  it('accepts what a registry accepts', () => {
    for (const image of ['busybox', 'library/busybox:1.36', 'registry.example.com:5000/a/b/c:v1', '127.0.0.1:5000/x', 'x@sha256:' + '0'.repeat(64), 'my.reg/a__b/c-d.e:1_2-3.4']) {
      expect(imageReferenceProblem(image), image).toBeUndefined();
    }
  });

  it('refuses upper-case paths, empty tags, spaces, schemes, short digests and over-long names', () => {
    for (const image of ['Busybox', 'busybox:', 'busy box', 'https://reg/x', 'x@sha256:abc', 'x:' + 't'.repeat(129), 'a-/b', '']) {
      expect(imageReferenceProblem(image), image).toMatch(/image reference/);
    }
    expect(imageReferenceProblem(`reg.io/${'a'.repeat(250)}`)).toBe('the repository name must be at most 255 characters');
  });
});

describe('quantities', () => {
  it('reads them in base units and prints them back', () => {
    expect(quantityValue('500m')).toBe(0.5);
    expect(quantityValue('1')).toBe(quantityValue('1000m'));
    expect(quantityValue('8Gi')).toBe(8 * 2 ** 30);
    expect(quantityValue('8G')).toBe(8e9);
    expect(quantityValue(3)).toBe(3);
    expect(() => quantityValue('8Gb')).toThrow(/not a Kubernetes quantity/);
    expect(formatQuantity(8 * 2 ** 30, 'memory')).toBe('8Gi');
    expect(formatQuantity(512 * 2 ** 20, 'memory')).toBe('512Mi');
    expect(formatQuantity(0.5, 'cpu')).toBe('0.5');
  });
});
