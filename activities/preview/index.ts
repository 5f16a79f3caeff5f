// The preview provider for a target: the one place that maps a PreviewTarget to its implementation.
import { createCommandPreviewProvider } from './command.ts';
import type { PreviewProvider, PreviewTarget } from './provider.ts';

export function createPreviewProvider(target: PreviewTarget): PreviewProvider {
  switch (target.provider) {
    case 'command':
      return createCommandPreviewProvider(target);
  }
}
