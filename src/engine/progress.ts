/**
 * Progress of long image operations (pull, push), as a stream of events shaped like the JSON lines
 * of Docker's Engine API (`{"status":"Downloading","progressDetail":{"current":1,"total":2},"id":"a1b2"}`),
 * so the API can encode them as they are and the CLI can render them (src/cli/progress.ts).
 * The engine never draws: it only calls the sink it was given.
 */

export interface ProgressDetail {
  current?: number;
  total?: number;
}

export interface ProgressEvent {
  /** Short layer id (12 hex digits), or the tag for "Pulling from ..."; absent for whole-operation lines. */
  id?: string;
  /** Docker's wording: Waiting, Downloading, Verifying Checksum, Download complete, Extracting, Pull complete, Already exists, Preparing, Pushing, Pushed, Layer already exists, Mounted from x, ... */
  status: string;
  progressDetail?: ProgressDetail;
  /** Docker's `aux` object (the push result: Tag, Digest, Size). */
  aux?: Record<string, unknown>;
}

export type ProgressSink = (e: ProgressEvent) => void;

/** A sink that drops everything. */
export const noProgress: ProgressSink = () => undefined;

/**
 * Wraps a sink so that byte-count events of one id are passed on at most every `intervalMs`
 * (a 1 GiB download would otherwise emit tens of thousands of events). Status changes always pass.
 */
export function throttled(sink: ProgressSink, intervalMs = 100): ProgressSink {
  const last = new Map<string, { status: string; at: number }>();
  return (e) => {
    if (e.id === undefined || !e.progressDetail?.total) {
      sink(e);
      return;
    }
    const prev = last.get(e.id);
    const now = Date.now();
    const done = e.progressDetail.current !== undefined && e.progressDetail.current >= e.progressDetail.total;
    if (prev && prev.status === e.status && now - prev.at < intervalMs && !done) return;
    last.set(e.id, { status: e.status, at: now });
    sink(e);
  };
}
