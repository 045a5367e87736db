// Validates an OpenAPI document read from stdin against the official OpenAPI 3.0/3.1 JSON schemas, with the
// @seriousme/openapi-schema-validator package (ESM only, hence a script the CommonJS tests run as a child process).
// Prints `valid`, or the errors as JSON, and exits 0 or 1.
import { Validator } from '@seriousme/openapi-schema-validator';

let text = '';
for await (const chunk of process.stdin) text += chunk;
const result = await new Validator().validate(JSON.parse(text));
if (result.valid) {
  console.log('valid');
} else {
  console.log(JSON.stringify(result.errors, null, 1));
  process.exitCode = 1;
}
