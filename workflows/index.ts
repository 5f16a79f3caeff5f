// Everything the worker's workflow bundle exports.
export { promote } from './promote.ts';
export { prodLock } from './prod-lock.ts';
