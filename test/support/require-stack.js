'use strict';
// Integration tests run against the real stack; without it they must fail loudly, not skip.
const net = require('node:net');

function reachable(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

module.exports = async function requireStack() {
  const brokers = (process.env.KAFKA_BROKERS || 'localhost:9092').split(',')[0];
  const [kh, kp] = brokers.split(':');
  const registry = new URL(process.env.SCHEMA_REGISTRY_URL || 'http://localhost:8081/apis/ccompat/v7');
  const checks = [
    ['Kafka', kh, Number(kp)],
    ['schema registry', registry.hostname, Number(registry.port || 80)],
  ];
  const missing = [];
  for (const [name, host, port] of checks)
    if (!(await reachable(host, port))) missing.push(`${name} (${host}:${port})`);
  if (missing.length > 0) {
    throw new Error(
      `integration tests need the local stack; not reachable: ${missing.join(', ')}. Run: npm run stack:up`,
    );
  }
};
