/** The peer transport: TCP connections between ringkv nodes. */
export { PeerTransport, type PeerAddress, type PeerConfig, type PeerTransportOptions, type PeerTransportStats, type PeerStats } from './peer-transport.js';
