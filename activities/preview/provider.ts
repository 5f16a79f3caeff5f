// A preview is the app started against the trial branch, so that a person can use it before approving.
// Providers are interchangeable: one file per implementation, all behind this interface. The workflow
// imports the names from here: this file imports nothing.

export interface Preview {
  /** The provider's handle on it: enough for `stop` and `alive`, from any later attempt. */
  id: string;
  /** Where a person opens it. */
  url: string;
}

export interface PreviewProvider {
  /** Starts the app for a promotion on the branch at `databaseUrl`, and returns once it answers. */
  start(promotionId: string, databaseUrl: string): Promise<Preview>;
  /** Stops it; stopping one that is gone is not an error. */
  stop(id: string): Promise<void>;
  /** Whether it still runs and answers. */
  alive(id: string): Promise<boolean>;
}

/** The app exited, never became ready, or the deploy system refused it: retrying gives the same answer. */
export class PreviewFailedError extends Error {
  override name = 'PreviewFailedError';
}

/** How a promotion's preview is run, chosen at deploy. */
export type PreviewTarget = {
  provider: 'command';
  /** The app's start command, run by `sh -c` with DATABASE_URL and PORT set, e.g. `npm start`. */
  command: string;
  /** Its working directory (the worker's when absent). */
  cwd?: string;
  /** The path that answers 2xx once the app is ready (`/` when absent). */
  health?: string;
  /** How long it may take to become healthy, e.g. `2 minutes` (the default). */
  timeout?: string;
} | {
  provider: 'webhook';
  /** The deploy system's endpoint: POST starts a preview, DELETE <url>/<id> stops it. */
  url: string;
  /** How long a preview reported through a status URL may take to be ready (`10 minutes` when absent). */
  timeout?: string;
};
