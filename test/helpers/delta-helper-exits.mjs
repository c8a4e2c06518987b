// The same for delta-helper-exits.ts (a helper that ends its thread half-way).
import { register } from 'tsx/esm/api';

register();
await import('./delta-helper-exits.ts');
