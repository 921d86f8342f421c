// Validates Kubernetes objects against the API's schemas with kubernetes-models: each object given on stdin (a
// JSON array) becomes an instance of its model class, whose validate() throws on a wrong type, a missing required
// field or a bad format. Prints a JSON array with one entry per object: its kind, name and the errors found.
//
// A separate Node process because kubernetes-models is published as ES modules only, which Jest's CommonJS
// runtime cannot load; test/deploy/kubernetes.test.ts runs this script.
import { readFileSync } from 'node:fs';

const objects = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const object of objects) {
  const name = `${object.kind}/${object.metadata?.name}`;
  // apps/v1 -> kubernetes-models/apps/v1/Deployment; v1 -> kubernetes-models/v1/Service
  const specifier = `kubernetes-models/${object.apiVersion}/${object.kind}`;
  let Model;
  try {
    ({ [object.kind]: Model } = await import(specifier));
  } catch (error) {
    results.push({ name, errors: [`no model ${specifier}: ${error.message}`] });
    continue;
  }
  try {
    new Model(object).validate();
    results.push({ name, errors: [] });
  } catch (error) {
    const details = (error.errors ?? []).map((detail) => `${detail.instancePath} ${detail.message}`);
    results.push({ name, errors: details.length > 0 ? details : [error.message] });
  }
}
process.stdout.write(JSON.stringify(results));
