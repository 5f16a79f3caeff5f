// Which leftover branches `pgpromote branches --delete-stale` may delete: only trial and backup branches
// whose promotion is known to have ended, asked of Temporal in the namespace the branch records. A
// salvage copy of prod, a branch without readable metadata and a running promotion's branch are kept,
// each with the reason.
import { Client, type ConnectionLike } from '@temporalio/client';
import { describeMeta } from './meta.ts';
import { REVERTED_SUFFIX, type BranchMeta, type ListedBranch } from './provider.ts';

/** What Temporal says about the run that made a branch. */
export type RunStatus = { state: 'running' } | { state: 'ended'; status: string } | { state: 'unknown'; why: string };

export interface Verdict {
  branch: ListedBranch;
  stale: boolean;
  reason: string;
}

export async function judgeBranches(branches: ListedBranch[], runStatus: (meta: BranchMeta) => Promise<RunStatus>): Promise<Verdict[]> {
  const verdicts: Verdict[] = [];
  for (const branch of branches) {
    const keep = (reason: string) => verdicts.push({ branch, stale: false, reason });
    const { meta } = branch;
    const salvage = 'salvage copy of prod, never deleted automatically; drop it by hand once you have what you need';
    if (!meta) {
      // Neon cannot annotate the branch its restore keeps: there, only the name says what it is.
      if (branch.name.endsWith(REVERTED_SUFFIX)) keep(salvage);
      else keep('no pgpromote metadata, so its promotion is unknown (made by hand, or by an older pgpromote); drop it by hand if you know it is not needed');
      continue;
    }
    if (meta.kind === 'reverted') {
      keep(`${salvage} (${describeMeta(meta)})`);
      continue;
    }
    const run = await runStatus(meta);
    if (run.state === 'running') keep(`${describeMeta(meta)}, which is still running`);
    else if (run.state === 'unknown') keep(`${describeMeta(meta)}: ${run.why}, so it is not known to have ended; drop it by hand if you know it has`);
    else verdicts.push({ branch, stale: true, reason: `${describeMeta(meta)}, which has ended (${run.status})` });
  }
  return verdicts;
}

/** Asks the Temporal server behind `connection` about a branch's run, in the branch's own namespace. */
export function temporalRunStatus(connection: ConnectionLike): (meta: BranchMeta) => Promise<RunStatus> {
  const clients = new Map<string, Client>();
  return async ({ namespace, promotionId, runId }) => {
    let client = clients.get(namespace);
    if (!client) clients.set(namespace, (client = new Client({ connection, namespace })));
    try {
      const { status } = await client.workflow.getHandle(promotionId, runId).describe();
      if (status.name === 'RUNNING') return { state: 'running' };
      // pgpromote never continues as new; if a run did, its successor may still use the branch.
      if (status.name === 'CONTINUED_AS_NEW') return { state: 'unknown', why: 'its run continued as a new run' };
      return { state: 'ended', status: status.name };
    } catch (error) {
      // Not found: another Temporal server, a namespace that does not exist here, or a history past its retention.
      return { state: 'unknown', why: `Temporal at this address does not know the run (${(error as Error).message})` };
    }
  };
}
