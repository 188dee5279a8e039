/**
 * The domain facade: one object per store, shared by the CLI and the API service.
 * Subsystems open lazily so a command pays only for what it touches (run latency matters).
 */
import fs from 'node:fs';
import { ContentStore } from '../content/store.js';
import { ImageStore } from '../image/image-store.js';
import { emitEvent } from './events.js';
import { type Database, openDatabase } from '../metadata/db.js';
import { LayerStore } from '../snapshot/layer-store.js';
import { type StorePaths, storePaths } from './paths.js';

export interface EngineOptions {
  root: string;
  runroot: string;
  /** OCI runtime binary (runc by default). */
  runtime?: string;
}

export class Engine {
  readonly paths: StorePaths;
  readonly options: EngineOptions;
  private _db: Database | undefined;
  private _blobs: ContentStore | undefined;
  private _layers: LayerStore | undefined;
  private _images: ImageStore | undefined;

  constructor(opts: EngineOptions) {
    this.options = opts;
    this.paths = storePaths(opts.root, opts.runroot);
  }

  get db(): Database {
    if (!this._db) {
      fs.mkdirSync(this.paths.root, { recursive: true, mode: 0o700 });
      this._db = openDatabase(this.paths.db);
    }
    return this._db;
  }

  get blobs(): ContentStore {
    this._blobs ??= new ContentStore(this.paths.content);
    return this._blobs;
  }

  get layers(): LayerStore {
    this._layers ??= new LayerStore(this.paths.root, this.db);
    return this._layers;
  }

  get images(): ImageStore {
    this._images ??= new ImageStore(this.db, this.blobs, (action, id, attrs) => emitEvent(this.paths.runroot, 'image', action, id, attrs));
    return this._images;
  }

  close(): void {
    this._db?.close();
    this._db = undefined;
  }
}
