// The YAML parser behind an ES module of our own: the Lambda host imports this one dynamically, only for a YAML
// config. (A dynamic import of the CommonJS package itself gives a bundle its default export alone.)
export { parseDocument } from 'yaml';
