// Build step (`npm run build`): writes vmservice.json beside descriptor.js so the CLI starts without
// parsing the .proto files. `node dist/src/cli/wire/generateDescriptor.js`.
import { writeFileSync, renameSync } from 'node:fs';
import { descriptorFile, parseContract } from './descriptor.js';

const tmp = `${descriptorFile}.tmp`;
writeFileSync(tmp, JSON.stringify(parseContract()));
renameSync(tmp, descriptorFile);
