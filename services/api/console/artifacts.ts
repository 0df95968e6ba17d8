/**
 * Reads a review's artifact for the console, only from the configured artifact roots
 * (`console.artifactRoots`): a plain absolute path or a `file:` URI. Anything else — another
 * scheme, a relative path, a `..` segment, a path (after resolving symlinks) outside every root —
 * is refused with a reason the page shows. Only the first `maxBytes` are read, so a huge artifact
 * costs the API no more memory than a small one.
 */
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ArtifactRead =
  | { ok: true; path: string; text: string; markdown: boolean; sizeBytes: number; truncated: boolean }
  | { ok: false; reason: string };

function refused(reason: string): ArtifactRead {
  return { ok: false, reason };
}

/** The artifact file a URI names, or why the console will not read it. */
export function artifactPathOf(uri: string): string | { reason: string } {
  let decoded: string;
  try {
    decoded = decodeURIComponent(uri);
  } catch {
    return { reason: 'the artifact URI is not well-formed' };
  }
  // Checked on the raw and the decoded text: `%2e%2e` must not sneak a parent directory in.
  if ([uri, decoded].some((text) => text.split(/[\\/]/).includes('..'))) {
    return { reason: 'the artifact path contains a parent-directory segment (..), which the console refuses' };
  }
  if (uri.startsWith('file:')) {
    try {
      return fileURLToPath(uri);
    } catch {
      return { reason: 'the artifact file: URI is not a local file path' };
    }
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) {
    return { reason: `the console reads only local files under its artifact roots, not ${uri.split(':', 1)[0]}: URIs` };
  }
  if (!path.isAbsolute(uri)) return { reason: 'the artifact path is not absolute' };
  return uri;
}

function inside(root: string, file: string): boolean {
  const relative = path.relative(root, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

export async function readArtifact(uri: string, roots: readonly string[], maxBytes: number): Promise<ArtifactRead> {
  const target = artifactPathOf(uri);
  if (typeof target !== 'string') return refused(target.reason);
  const realRoots = (await Promise.all(roots.map((root) => realpath(root).catch(() => undefined)))).filter((r): r is string => !!r);
  let real: string;
  try {
    real = await realpath(target);
  } catch {
    // Say "outside" before "missing", so the page does not reveal which files exist elsewhere.
    if (!roots.some((root) => inside(path.resolve(root), path.resolve(target)))) return refused(outsideRoots(roots));
    return refused('the artifact file does not exist (any more)');
  }
  if (!realRoots.some((root) => inside(root, real))) return refused(outsideRoots(roots));
  const handle = await open(real, 'r');
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return refused('the artifact path is not a regular file');
    const size = stat.size;
    const buffer = Buffer.alloc(Math.min(size, maxBytes));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return {
      ok: true,
      path: real,
      text: buffer.subarray(0, bytesRead).toString('utf8'),
      markdown: /\.(md|markdown)$/i.test(real),
      sizeBytes: size,
      truncated: size > maxBytes,
    };
  } finally {
    await handle.close();
  }
}

function outsideRoots(roots: readonly string[]): string {
  return roots.length === 0
    ? 'no artifact roots are configured (TANDEM_CONSOLE_ARTIFACT_ROOTS), so the console reads no artifact files'
    : 'the artifact is outside the configured artifact roots (TANDEM_CONSOLE_ARTIFACT_ROOTS); the console does not read it';
}
