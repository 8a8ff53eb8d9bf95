// leaky_client.js -- the classic CLOSE_WAIT leak in node, on purpose.
//
// Usage: node examples/leaky_client.js PORT COUNT
//   Logs in to db_server COUNT times. Every login is refused; the socket
//   was made with allowHalfOpen, and the error path never calls end() or
//   destroy(): each one sits half-open in CLOSE_WAIT. Under the shim the
//   report names Database.connect in this file (it exits within the
//   default grace_ms of the FINs: grace_ms=0 reports them):
//       SOCKLEAK_OPTIONS=grace_ms=0 LD_PRELOAD=build/libsockleak.so \
//           node examples/leaky_client.js PORT 5
//   The fix: sock.destroy() on the error path.
'use strict';
const net = require('net');

class Database {
  constructor(port) {
    this.port = port;
  }

  connect() {
    return net.connect({ port: this.port, host: '127.0.0.1', allowHalfOpen: true });
  }

  login(user) {
    return new Promise((resolve) => {
      const sock = this.connect();
      let answer = '';
      sock.on('data', (d) => { answer += d; });
      sock.on('end', () => resolve(answer.startsWith('OK') ? sock : null)); // BUG: not closed
      sock.write('LOGIN ' + user + ' secret\n');
    });
  }
}

async function main() {
  const [port, count] = [Number(process.argv[2]), Number(process.argv[3])];
  const db = new Database(port);
  let failed = 0;
  for (let i = 0; i < count; i++) if ((await db.login('app')) === null) failed++;
  console.log('leaky_client.js: ' + failed + ' of ' + count + ' logins failed');
  process.exit(0);
}
main();
