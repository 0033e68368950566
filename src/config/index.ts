/** The configuration module: the one schema and its loader. */
export * from './schema.js';
export * from './load.js';
