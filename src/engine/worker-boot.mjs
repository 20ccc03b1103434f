// Engine worker bootstrap: Node 20 cannot load a .ts worker entry even with `--import tsx` in
// execArgv (the entry is resolved before the hooks apply), so register tsx here, then load it.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
