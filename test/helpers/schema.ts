// docs/event.schema.json, compiled for tests.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const schema = JSON.parse(fs.readFileSync(path.join(here, '..', '..', 'docs', 'event.schema.json'), 'utf8')) as object;
// The schema names time's format for readers; toISOString() makes it, so it is not re-checked here.
export const validateEvent = new Ajv2020({ strict: true, validateFormats: false, allErrors: true }).compile(schema);
