// The worker thread on which the CLI runs a writing command (see runWorker in src/cli/main.ts).
'use strict';
require('./cli-loader.cjs').loadCli().cli.runWorker();
