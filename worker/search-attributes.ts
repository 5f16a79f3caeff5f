// pgpromote's search attributes must be registered on the namespace before a promotion starts: a
// workflow that upserts an unknown one fails its workflow task over and over. Checked where it can
// still be said plainly: at `deploy` and when a worker starts.
import type { ConnectionLike } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import { cliType, SEARCH_ATTRIBUTES, searchAttributeCommands } from '../workflows/visibility.ts';

/** gRPC codes of a server that does not let this client read its search attributes (Temporal Cloud). */
const CANNOT_TELL = [7 /* PERMISSION_DENIED */, 12 /* UNIMPLEMENTED */];

export class SearchAttributesError extends Error {
  override name = 'SearchAttributesError';
}

export async function requireSearchAttributes(connection: Pick<ConnectionLike, 'operatorService'>, namespace: string): Promise<void> {
  let registered: Record<string, number>;
  try {
    registered = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  } catch (error) {
    if (CANNOT_TELL.includes((error as { code?: number }).code ?? -1)) return; // the first promotion will tell
    throw error;
  }
  const wrong = SEARCH_ATTRIBUTES.filter((key) => registered[key.name] !== encodeSearchAttributeIndexedValueType(key.type));
  if (!wrong.length) return;
  throw new SearchAttributesError(
    `namespace ${namespace} lacks pgpromote's search attributes ${wrong.map((key) => `${key.name} (${cliType(key.type)})`).join(', ')}, ` +
      `which promotions set for \`pgpromote list\` and \`status\`: register them once with\n` +
      searchAttributeCommands(namespace).map((command) => `  ${command}\n`).join('') +
      '(the dev server that `npm run demo` and the tests start registers them itself)',
  );
}
