/**
 * Labelled image sets for the CLI and galleries: either a folder with one sub-folder
 * per class (the sub-folder name is the label; images are found at any depth below it)
 * or a CSV manifest with a `path,label` header (paths relative to the manifest).
 */
import { readdir, stat } from 'node:fs/promises';
import type { Dirent, Stats } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { SkulensError, messageOf } from '../core/errors.js';
import { printable } from '../core/gallery/label.js';
import { isHttpUrl, urlNotFetched } from './no-fetch.js';
import { readRegularFile } from './read-file.js';

/** Largest CSV manifest read (a million rows of long paths is ~200 MB). */
const MAX_MANIFEST_BYTES = 256 << 20;

export interface DatasetItem {
  path: string;
  label?: string;
}

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp']);

export function isImagePath(path: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(path).toLowerCase());
}

/**
 * A labelled set read from a class-folder tree or a CSV manifest. From a tree, also the class
 * folders without images, and those whose images sit in sub-folders of their own (all
 * labelled with the class folder's name, which surprises when the tree is category/product).
 */
export interface LabelledSet {
  items: Required<DatasetItem>[];
  emptyClasses: string[];
  /** Class folders with images in sub-folders, and how many such sub-folders each has. */
  nestedClasses: { label: string; subfolders: number }[];
}

/** A labelled set from a class-folder tree or a CSV manifest. */
export async function readLabelledSet(source: string): Promise<LabelledSet> {
  const info = await statOrThrow(source);
  if (info.isDirectory()) return readClassFolders(source);
  if (extname(source).toLowerCase() === '.csv') return { items: await readManifest(source), emptyClasses: [], nestedClasses: [] };
  throw new SkulensError('E_INPUT', `"${source}" is neither a folder of class sub-folders nor a .csv manifest with a path,label header.`, {
    input: source,
  });
}

/**
 * Images named on a command line: files as given, folders expanded (labels from their
 * class sub-folders when they have them), CSV manifests read.
 */
export async function expandImageArgs(args: readonly string[]): Promise<DatasetItem[]> {
  const out: DatasetItem[] = [];
  for (const arg of args) {
    const info = await statOrThrow(arg);
    if (info.isDirectory()) {
      const files = await listImages(arg);
      for (const path of files) {
        const rel = path.slice(resolve(arg).length + 1).split(/[\\/]/);
        out.push(rel.length > 1 ? { path, label: rel[0]! } : { path });
      }
    } else if (extname(arg).toLowerCase() === '.csv') {
      out.push(...(await readManifest(arg)));
    } else {
      out.push({ path: arg });
    }
  }
  return out;
}

async function statOrThrow(path: string) {
  if (isHttpUrl(path)) throw urlNotFetched(path, 'file');
  try {
    return await stat(path);
  } catch (err) {
    throw new SkulensError(
      'E_IO',
      `Cannot read "${path}": ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : messageOf(err)}.`,
      {
        cause: err,
        input: path,
      },
    );
  }
}

async function readClassFolders(root: string): Promise<LabelledSet> {
  // Symbolic links count as what they point to (a class folder shared from elsewhere is common).
  const entries: Dirent[] = [];
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (!e.name.startsWith('.') && (await kindOf(join(root, e.name), e)) === 'dir') entries.push(e);
  }
  if (entries.length === 0)
    throw new SkulensError('E_EMPTY', `"${root}" has no class sub-folders (expected one folder per label with images inside).`, {
      input: root,
    });
  const items: Required<DatasetItem>[] = [];
  const emptyClasses: string[] = [];
  const nestedClasses: LabelledSet['nestedClasses'] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const folder = resolve(root, entry.name);
    const files = await listImages(folder);
    if (files.length === 0) emptyClasses.push(entry.name);
    for (const path of files) items.push({ path, label: entry.name });
    const subfolders = new Set(files.map((path) => dirname(path)).filter((dir) => dir !== folder));
    if (subfolders.size > 0) nestedClasses.push({ label: entry.name, subfolders: subfolders.size });
  }
  return { items, emptyClasses, nestedClasses };
}

/**
 * Every image file below a folder, sorted, at any depth. Symbolic links are followed (to
 * files and folders); a folder reached twice — a link loop, or two links to one folder —
 * is listed once. A dangling link or a FIFO with an image name is listed, so that reading it reports it.
 */
export async function listImages(folder: string): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = async (dir: string, info: Stats): Promise<void> => {
    const id = `${info.dev}:${info.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const path = resolve(dir, e.name);
      const kind = await kindOf(path, e);
      if (kind === 'dir') await walk(path, await stat(path));
      // Anything else with an image name is listed too: reading it says why it is not an image (FIFO, device, dangling link).
      else if (isImagePath(e.name)) out.push(path);
    }
  };
  await walk(resolve(folder), await stat(folder));
  return out.sort();
}

/** What a directory entry is, seen through a symbolic link. */
async function kindOf(path: string, entry: Dirent): Promise<'file' | 'dir' | 'other' | 'broken'> {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (!entry.isSymbolicLink()) return 'other';
  try {
    const target = await stat(path);
    return target.isDirectory() ? 'dir' : target.isFile() ? 'file' : 'other';
  } catch {
    return 'broken';
  }
}

/** Read a `path,label` CSV (RFC 4180 quoting), resolving paths against its folder. */
export async function readManifest(file: string): Promise<Required<DatasetItem>[]> {
  const text = new TextDecoder().decode(await readRegularFile(file, MAX_MANIFEST_BYTES, 'manifest')).replace(/^\uFEFF/, '');
  const rows = parseCsv(text);
  const headerRow = rows.shift();
  const header = headerRow?.map((h) => h.trim().toLowerCase());
  const pathCol = header?.indexOf('path') ?? -1;
  const labelCol = header?.indexOf('label') ?? -1;
  if (pathCol < 0 || labelCol < 0) {
    throw new SkulensError(
      'E_INPUT',
      `Manifest "${basename(file)}" needs a header row with "path" and "label" columns; found "${printable(headerRow?.join(',') ?? '')}".`,
      { input: file },
    );
  }
  const base = dirname(resolve(file));
  const items: Required<DatasetItem>[] = [];
  rows.forEach((row, i) => {
    if (row.length === 1 && row[0] === '') return; // blank line
    const path = row[pathCol];
    // Spreadsheets pad cells: "  Orange " is the label "Orange" (folder names are taken as they are).
    const label = row[labelCol]?.trim();
    if (!path || label === undefined || label === '') {
      throw new SkulensError('E_INPUT', `Manifest "${basename(file)}" line ${i + 2}: needs both a path and a label.`, { input: file });
    }
    if (isHttpUrl(path)) {
      throw new SkulensError(
        'E_INPUT',
        `Manifest "${basename(file)}" line ${i + 2}: "${printable(path)}" is a URL, and skulens reads files here, not URLs: download the images and list their paths.`,
        { input: file },
      );
    }
    items.push({ path: resolve(base, path), label });
  });
  if (items.length === 0) throw new SkulensError('E_EMPTY', `Manifest "${basename(file)}" lists no images.`, { input: file });
  return items;
}

export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
