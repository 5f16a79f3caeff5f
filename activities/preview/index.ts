// The preview provider for a target: the one place that maps a PreviewTarget to its implementation.
import { createCommandPreviewProvider } from './command.ts';
import { createWebhookPreviewProvider, type WebhookContext } from './webhook.ts';
import type { PreviewProvider, PreviewTarget } from './provider.ts';

export function createPreviewProvider(target: PreviewTarget, context: WebhookContext): PreviewProvider {
  switch (target.provider) {
    case 'command':
      return createCommandPreviewProvider(target);
    case 'webhook':
      return createWebhookPreviewProvider(target, context);
  }
}
