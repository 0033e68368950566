/** The peer wire protocol: frames, checksums and payloads (sans-IO). */
export * from './crc32c.js';
export * from './frame.js';
export * from './payload.js';
