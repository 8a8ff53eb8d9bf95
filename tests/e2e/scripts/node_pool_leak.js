// A node client that logs in COUNT times, closing each connection when the
// server hangs up, then once more keeping the socket in a pool it never
// cleans up (allowHalfOpen: node leaves it in CLOSE_WAIT). Prints the leaked
// socket's fd and local address, then idles until SIGTERM (exit 0).
// Usage: node node_pool_leak.js PORT COUNT
'use strict';
const net = require('net');

const port = Number(process.argv[2]);
const count = Number(process.argv[3]);
const pool = [];

function login(keep) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: keep });
    s.on('error', reject);
    s.on('connect', () => s.write('LOGIN app secret\n'));
    s.on('data', () => {});
    s.on('end', () => {
      if (keep)
        pool.push(s);   // BUG on purpose: kept, never destroyed
      else
        s.destroy();
      resolve(s);
    });
  });
}

process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1000);
(async () => {
  for (let i = 0; i < count; i++)
    await login(false);
  const s = await login(true);
  console.log(JSON.stringify({ fd: s._handle.fd, local: `127.0.0.1:${s.localPort}` }));
})();
