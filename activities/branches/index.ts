// The branch provider for a target: the one place that maps a BranchTarget to its implementation.
import { DatabaseConfigError } from '../db.ts';
import { createLocalBranchProvider } from './local.ts';
import { NeonBranchProvider, type NeonProviderOptions } from './neon.ts';
import type { BranchProvider, BranchTarget } from './provider.ts';

export function createBranchProvider(target: BranchTarget, prodUrl: string, neon?: NeonProviderOptions): BranchProvider {
  switch (target.provider) {
    case 'local':
      return createLocalBranchProvider(prodUrl, { copy: target.copy });
    case 'neon': {
      if (!neon?.apiKey) throw new DatabaseConfigError('this promotion branches on Neon, but there is no NEON_API_KEY: set it where the worker (or the CLI) runs');
      const { provider: _provider, ...neonTarget } = target;
      return new NeonBranchProvider(neonTarget, neon);
    }
  }
}
